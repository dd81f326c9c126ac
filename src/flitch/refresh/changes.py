"""The incremental change feed: what changed in Stripe since a cursor, read from ``/v1/events``.

How a change becomes a row (see the README's "Refresh" section for the whole strategy):

- Events are listed with ``types[]`` (at most :data:`MAX_TYPES_PER_REQUEST` values a request,
  Stripe's limit: the types of the picked objects are packed into as few groups as fit) and
  ``created[gte]`` = the cursor. Each group is one list read, in parallel ``created`` slices.
- Events go into a scratch DuckDB table as they arrive (spilling to disk past its memory limit),
  so a month of events costs disk, not memory. Then, per object, only the events of its newest
  second count: the newest event wins.
- A deletion event (``customer.deleted``, ``invoice.deleted``…) deletes the row. An event whose
  ``api_version`` is not the pinned one, an object whose newest second holds two different
  snapshots, and an object whose dataset is read with ``expand[]`` (event payloads are never
  expanded) are re-read by id (``GET /v1/<objects>/<id>``) instead of trusting the payload; an
  object gone since (404, or a deleted customer) loses its row. Otherwise the payload is the row.
- Objects a list would not show (customers and subscriptions on a test clock) are never kept.

Some objects change without being the subject of an event (``unannounced`` says which, and
how each is caught): the feed also keeps the events that tell of those changes, including a few
about objects Flitch keeps no dataset of (``customer.discount.*``), and names what they changed
(:meth:`ChangeFeed.named`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from flitch import catalog
from flitch.catalog import ObjectSpec
from flitch.errors import StripeRequestFailed
from flitch.refresh.unannounced import (
    FOLLOWED,
    Referenced,
    Sharing,
    source_object_type,
    source_types,
)
from flitch.stripe_source.client import API_VERSION, SourceClient
from flitch.stripe_source.reader import read_object

T = TypeVar("T")

#: Stripe accepts at most this many values of ``types[]`` in one events request.
MAX_TYPES_PER_REQUEST = 20
#: Seconds of lag: events newer than ``now - lag`` may not all be visible yet (Stripe's events
#: are eventually consistent), so the cursor stops there and they are read again next time.
DEFAULT_LAG = 60
#: Objects re-read by id at once (each is one GET; the pacer spaces them).
FETCH_CHUNK = 256
#: ``/v1/events`` read like one more list; it is no dataset, so it has no columns.
EVENTS_SPEC = ObjectSpec(
    name="events",
    label="Events",
    object_type="event",
    list_path=catalog.EVENTS_PATH,
    permission=catalog.EVENTS_PERMISSION,
    permission_label=catalog.EVENTS_PERMISSION_LABEL,
    columns=(),
)
#: Datasets whose list hides objects attached to a test clock (Stripe's default).
_HIDES_TEST_CLOCK = frozenset({"customers", "subscriptions"})


class Action(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"
    REFETCH = "refetch"


@dataclass(frozen=True)
class Change:
    """What to do to one row: write ``payload``, delete it, or re-read the object by id."""

    object_id: str
    action: Action
    payload: dict[str, Any] | None = None
    #: for a re-read: why the payload was not trusted
    reason: str = ""


def type_groups(
    sets: Iterable[Iterable[str]], limit: int = MAX_TYPES_PER_REQUEST
) -> list[tuple[str, ...]]:
    """Sets of event types (one per object) packed into groups of at most ``limit`` (first fit,
    biggest set first; a set's types stay together when they fit in one group)."""
    groups: list[list[str]] = []
    unique = {tuple(dict.fromkeys(types)) for types in sets}
    for types_ in sorted(unique, key=lambda t: (-len(t), t)):
        types = list(types_)
        if not types:
            continue
        home = next((g for g in groups if len(g) + len(types) <= limit), None)
        if home is not None:
            home.extend(types)
            continue
        while types:
            groups.append(types[:limit])
            types = types[limit:]
    return [tuple(g) for g in groups]


def listed(spec: ObjectSpec, obj: Mapping[str, Any]) -> bool:
    """Whether a full read of ``spec`` would return ``obj`` (a list hides some objects)."""
    if obj.get("deleted") is True:
        return False
    return not (spec.name in _HIDES_TEST_CLOCK and obj.get("test_clock"))


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run coroutines at once; on the first error cancel the others and raise that error."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("created", pa.int64()),
        ("type", pa.string()),
        ("object_id", pa.string()),
        ("object_type", pa.string()),
        ("api_version", pa.string()),
        ("payload", pa.string()),
    ]
)


class ChangeFeed:
    """Events since a cursor, kept in a scratch DuckDB table; the newest per object on demand."""

    def __init__(self, spill_dir: Path | None = None, memory_limit: str = "256MB") -> None:
        config: dict[str, Any] = {"memory_limit": memory_limit}
        config["temp_directory"] = str(spill_dir) if spill_dir is not None else ""
        self._con = duckdb.connect(":memory:", config=config)
        self._con.execute(
            "CREATE TABLE ev (event_id VARCHAR, created BIGINT, type VARCHAR, object_id VARCHAR,"
            " object_type VARCHAR, api_version VARCHAR, payload VARCHAR)"
        )
        self.events = 0
        self.old_version = 0
        self.newest_created: int | None = None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ChangeFeed:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- collecting ------------------------------------------------------------------------------
    async def collect(
        self,
        client: SourceClient,
        types: Iterable[Iterable[str]],
        since: int,
        *,
        on_page: Callable[[int], None] | None = None,
    ) -> int:
        """Read every event of these types (one set per object) created at or after ``since``;
        returns how many were kept. A key without Read Events raises
        :class:`~flitch.errors.PermissionMissing`."""
        groups = type_groups(types)

        async def read(types: tuple[str, ...]) -> None:
            params = {"types": list(types)}
            async for page in read_object(client, EVENTS_SPEC, params=params, created_gte=since):
                self.add(page)
                if on_page is not None:
                    on_page(len(page))

        await gather_all(read(g) for g in groups)
        return self.events

    def add(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Keep a page of events (those about an object of the catalog, or followed for what it
        changes: ``unannounced.FOLLOWED``)."""
        columns: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
        for event in events:
            data = event.get("data")
            obj = data.get("object") if isinstance(data, Mapping) else None
            type_ = str(event.get("type"))
            spec = catalog.BY_EVENT_TYPE.get(type_)
            object_type = spec.object_type if spec is not None else FOLLOWED.get(type_)
            if not isinstance(obj, Mapping) or object_type is None:
                continue
            if obj.get("object") != object_type or not isinstance(obj.get("id"), str):
                continue
            created = int(event["created"])
            version = event.get("api_version")
            columns["event_id"].append(event.get("id"))
            columns["created"].append(created)
            columns["type"].append(event["type"])
            columns["object_id"].append(obj["id"])
            columns["object_type"].append(object_type)
            columns["api_version"].append(version)
            columns["payload"].append(orjson.dumps(obj).decode())
            self.events += 1
            self.old_version += version != API_VERSION
            if self.newest_created is None or created > self.newest_created:
                self.newest_created = created
        if not columns["event_id"]:
            return
        batch = pa.Table.from_pydict(columns, schema=_SCHEMA)
        self._con.register("_page", batch)
        try:
            self._con.execute("INSERT INTO ev SELECT * FROM _page")
        finally:
            self._con.unregister("_page")

    # -- reading back ----------------------------------------------------------------------------
    def count(self, spec: ObjectSpec) -> int:
        """Distinct objects of ``spec`` that changed."""
        row = self._con.execute(
            "SELECT count(DISTINCT object_id) FROM ev WHERE object_type = ?", [spec.object_type]
        ).fetchone()
        return int(row[0]) if row else 0

    def refetch_estimate(self, spec: ObjectSpec, since: int) -> int:
        """About how many objects of ``spec`` created before ``since`` will be re-read by id
        (those created since are listed instead)."""
        row = self._con.execute(
            "SELECT count(DISTINCT object_id) FROM ev WHERE object_type = ?"
            " AND CAST(json_extract(payload, '$.created') AS BIGINT) < ?"
            " AND (? OR api_version IS DISTINCT FROM ?)",
            [spec.object_type, since, bool(spec.expand), API_VERSION],
        ).fetchone()
        return int(row[0]) if row else 0

    def object_ids(self, spec: ObjectSpec, since: int | None = None) -> set[str]:
        """Ids of the objects of ``spec`` with an event at or after ``since``."""
        rows = self._con.execute(
            "SELECT DISTINCT object_id FROM ev WHERE object_type = ? AND created >= ?",
            [spec.object_type, since if since is not None else -1],
        ).fetchall()
        return {str(r[0]) for r in rows}

    def named(self, rule: Referenced | Sharing) -> set[str]:
        """Values of ``rule.field`` (ids) in the events of ``rule.source`` (of its types)."""
        rows = self._con.execute(
            "SELECT DISTINCT json_extract_string(payload, ?) FROM ev"
            " WHERE object_type = ? AND list_contains(?, type)",
            [f"$.{rule.field}", source_object_type(rule.source), list(source_types(rule))],
        ).fetchall()
        return {str(r[0]) for r in rows if r[0]}

    def changes(self, spec: ObjectSpec, batch: int = 500) -> Iterator[list[Change]]:
        """The change to make for each object of ``spec``, in batches (streamed from DuckDB)."""
        cur = self._con.cursor()
        try:
            cur.execute(
                "WITH top AS (SELECT object_id, max(created) AS t FROM ev WHERE object_type = ?"
                " GROUP BY object_id)"
                " SELECT e.object_id, e.type, e.api_version, e.payload FROM ev e"
                " JOIN top ON e.object_id = top.object_id AND e.created = top.t"
                " WHERE e.object_type = ? ORDER BY e.object_id",
                [spec.object_type, spec.object_type],
            )
            pending: list[tuple[Any, ...]] = []
            out: list[Change] = []
            while True:
                rows = cur.fetchmany(batch)
                for row in rows:
                    if pending and pending[0][0] != row[0]:
                        out.append(decide(spec, pending))
                        pending = []
                    pending.append(row)
                if not rows:
                    break
                if len(out) >= batch:
                    yield out
                    out = []
            if pending:
                out.append(decide(spec, pending))
            if out:
                yield out
        finally:
            cur.close()


def decide(spec: ObjectSpec, top: list[tuple[Any, ...]]) -> Change:
    """The change for one object, given its events of the newest second
    (rows of ``object_id, type, api_version, payload``)."""
    object_id = str(top[0][0])
    types = {str(r[1]) for r in top}
    if spec.deleted_event is not None and spec.deleted_event in types:
        return Change(object_id, Action.DELETE)
    if any(r[2] != API_VERSION for r in top):
        return Change(object_id, Action.REFETCH, reason="older API version")
    if len({r[3] for r in top}) > 1:
        return Change(object_id, Action.REFETCH, reason="changed twice in one second")
    if spec.expand:
        return Change(object_id, Action.REFETCH, reason="expanded fields")
    payload: dict[str, Any] = orjson.loads(top[0][3])
    if not listed(spec, payload):
        return Change(object_id, Action.DELETE)
    return Change(object_id, Action.UPSERT, payload)


def _gone(exc: StripeRequestFailed) -> bool:
    """True when Stripe answered 404: the object no longer exists."""
    cause = exc.__cause__
    return getattr(cause, "http_status", None) == 404


def retrieve_params(spec: ObjectSpec) -> dict[str, Any]:
    """The ``expand[]`` of a list read, for one object (``data.discounts`` → ``discounts``)."""
    expand = [e.removeprefix("data.") for e in spec.expand]
    return {"expand": expand} if expand else {}


async def fetch_by_id(
    client: SourceClient, spec: ObjectSpec, ids: Iterable[str]
) -> AsyncIterator[list[tuple[str, dict[str, Any] | None]]]:
    """Re-read objects by id, a chunk at a time: ``(id, object)``, or ``(id, None)`` for an
    object that no longer exists or that a list would not show."""
    params = retrieve_params(spec)

    async def one(object_id: str) -> tuple[str, dict[str, Any] | None]:
        try:
            obj = await client.get(f"{spec.list_path}/{object_id}", params)
        except StripeRequestFailed as exc:
            if _gone(exc):
                return object_id, None
            raise
        return object_id, obj if listed(spec, obj) else None

    chunk: list[str] = []
    for object_id in ids:
        chunk.append(object_id)
        if len(chunk) >= FETCH_CHUNK:
            yield await gather_all(one(i) for i in chunk)
            chunk = []
    if chunk:
        yield await gather_all(one(i) for i in chunk)
