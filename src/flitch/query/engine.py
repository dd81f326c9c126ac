"""One query model, answered live from Stripe or from the connection's cache.

With refresh off (the default) a query reads Stripe at that moment: only the datasets it names,
narrowed by the conditions Stripe can apply (:mod:`flitch.query.pushdown`), loaded into an
in-memory DuckDB, answered, and dropped. With refresh on it is answered from the cache the last
refresh left (:class:`flitch.store.DuckDBStore`). Both paths run the same SQL on the same table
layout through the same result conversion, so the same question gets the same answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flitch import catalog
from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.records import ConnectionInfo, DatasetStatus
from flitch.connections.service import ConnectionService
from flitch.errors import InputError, PermissionMissing
from flitch.keys import RestrictedKey
from flitch.metrics.derived import DERIVED, with_derived
from flitch.query.live import LiveFetcher, LiveStream, ReadState, ceiling_seconds
from flitch.query.pushdown import pushdown
from flitch.query.reads import DatasetRead, merge, reads_for
from flitch.store import (
    DuckDBReader,
    ExportFormat,
    ExportResult,
    MemoryDatasets,
    QueryResult,
    referenced_tables,
)
from flitch.store.derived import needed
from flitch.store.sqlguard import check_read_only

LIVE = "live"
CACHE = "cache"


@dataclass(frozen=True)
class Provenance:
    """Where an answer came from: what a user needs to trust (or question) a number."""

    source: str
    #: Unix time the data is as of: now for live answers, the last refresh for cached ones
    as_of: float | None
    reads: tuple[DatasetRead, ...] = ()
    #: Stripe requests made for this answer (live only; shared fetches count once)
    requests: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "as_of": _iso(self.as_of),
            "reads": [r.describe() for r in self.reads],
            "requests": self.requests,
            "notes": list(self.notes),
        }


#: The tables of ``DERIVED``.
DERIVED_TABLES = frozenset(d.table for d in DERIVED)


@dataclass(frozen=True)
class Answer:
    result: QueryResult
    provenance: Provenance

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), **self.provenance.to_dict()}


@dataclass
class Loaded:
    """Datasets ready to answer SQL: an in-memory live load, or the cache."""

    source: DuckDBReader | MemoryDatasets
    provenance: Provenance
    _close: list[Any] = field(default_factory=list)

    def query(self, sql: str, params: Any = None, *, max_rows: int | None = None) -> QueryResult:
        return self.source.query(sql, params, max_rows=max_rows)

    def has_table(self, name: str) -> bool:
        return self.source.has_table(name)

    def export(
        self,
        source: catalog.ObjectSpec | str,
        fmt: ExportFormat,
        dest: Path,
        *,
        limit: int | None = None,
    ) -> ExportResult:
        """Write a dataset, or a SELECT's rows, to a file (``flitch.store.exports``)."""
        return self.source.export(source, fmt, dest, limit=limit)

    def close(self) -> None:
        for item in self._close:
            item.close()
        self._close.clear()


class Streamed:
    """A load whose datasets become queryable one by one: as each live read completes, or all
    at once from the cache. Iterate ``arrivals`` to drive it (closing it early cancels the
    reads under way); ``loaded`` answers SQL over what has arrived, and its provenance counts
    the requests once every read is in. The caller closes ``loaded``."""

    def __init__(
        self,
        loaded: Loaded,
        reads: Sequence[DatasetRead],
        live: LiveStream | None = None,
        arrivals: AsyncGenerator[DatasetRead] | None = None,
        rates: tuple[float, float] | None = None,
    ) -> None:
        self.loaded = loaded
        self.reads = tuple(reads)
        self._live = live
        self._arrivals = arrivals
        #: (endpoint, key) requests per second the connection's client is paced to
        self.rates = rates

    @property
    def states(self) -> list[ReadState]:
        """How far each live read has come (none from the cache)."""
        return self._live.states if self._live is not None else []

    @property
    def requests(self) -> int:
        return self._live.requests if self._live is not None else 0

    def ceiling(self, pages: Mapping[str, int]) -> float | None:
        """The shortest time the key's limits allow for ``pages`` (by dataset)."""
        if self.rates is None:
            return None
        endpoint, key = self.rates
        return ceiling_seconds(pages, endpoint_rate=endpoint, global_rate=key)

    async def arrivals(self) -> AsyncIterator[DatasetRead]:
        """The reads, as each one's objects become queryable."""
        if self._arrivals is None:
            for read in self.reads:
                yield read
            return
        try:
            async for read in self._arrivals:
                yield read
        finally:
            await self._arrivals.aclose()
        self.loaded.provenance = replace(self.loaded.provenance, requests=self.requests)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class QueryEngine:
    """Answers SQL and dataset loads for any connection, live or cached."""

    def __init__(self, settings: Settings, connections: ConnectionService) -> None:
        self.settings = settings
        self.connections = connections
        self.live = LiveFetcher(settings, connections.db.db)
        self._readers: dict[str, DuckDBReader] = {}

    # -- what a connection can answer ------------------------------------------------------------
    def _check_datasets(self, conn: ConnectionInfo, names: Iterable[str]) -> list[str]:
        picked = {d.object: d for d in conn.datasets}
        wanted: list[str] = []
        for name in sorted(set(names)):
            if name not in catalog.BY_NAME:
                continue  # not a dataset: DuckDB will name it if it is unknown
            info = picked.get(name)
            if info is None:
                raise InputError(
                    f"The connection {conn.name!r} does not include {name}.",
                    f"Pick {catalog.get(name).label} for it (flitch connect / the Data page), "
                    f"or query one of: {', '.join(sorted(picked)) or 'no datasets'}.",
                )
            if info.status is DatasetStatus.MISSING_PERMISSION:
                spec = catalog.get(name)
                raise PermissionMissing(name, spec.permission, spec.permission_label)
            wanted.append(name)
        return wanted

    def _cache(self, conn: ConnectionInfo) -> DuckDBReader | None:
        """The cache reader of a connection with refresh on, if a refresh has filled it."""
        if conn.refresh_every is None:
            return None
        self.sweep()
        reader = self._readers.get(conn.id)
        if reader is None:
            store = self.connections.store(conn.id)
            if store.generation() is None:
                return None
            reader = store.reader(follow=True)
            self._readers[conn.id] = reader
        return reader

    # -- answering --------------------------------------------------------------------------------
    async def load(
        self, connection: str, reads: Sequence[DatasetRead], *, force_live: bool = False
    ) -> Loaded:
        """Make ``reads`` queryable: from the cache if refresh is on, else fetched live.

        Reads of one dataset are merged first, so each Stripe list is read at most once.
        """
        conn, merged, cached, notes = self._plan(connection, reads, force_live)
        if cached is not None:
            return cached
        started = clocks.now()
        live = await self.live.load(conn.id, lambda: self.connections.key_for(conn.id), merged)
        provenance = Provenance(LIVE, started, tuple(merged), live.requests, tuple(notes))
        return Loaded(live.datasets, provenance, [live.datasets])

    async def stream(
        self, connection: str, reads: Sequence[DatasetRead], *, force_live: bool = False
    ) -> Streamed:
        """As :meth:`load`, but each dataset is queryable the moment its read completes
        (``Streamed.arrivals``), so what needs only the quick reads can be answered first."""
        conn, merged, cached, notes = self._plan(connection, reads, force_live)
        if cached is not None:
            return Streamed(cached, merged)
        started = clocks.now()

        def key_of() -> RestrictedKey:
            return self.connections.key_for(conn.id)

        live = self.live.stream(conn.id, key_of, merged)
        provenance = Provenance(LIVE, started, tuple(merged), 0, tuple(notes))
        loaded = Loaded(live.datasets, provenance, [live.datasets])
        arrivals = self.live.arrivals(conn.id, key_of, live)
        return Streamed(loaded, merged, live, arrivals, self.live.rates(conn.id))

    def _plan(
        self, connection: str, reads: Sequence[DatasetRead], force_live: bool
    ) -> tuple[ConnectionInfo, list[DatasetRead], Loaded | None, list[str]]:
        """The connection, its merged reads, the cache when it answers them all, and notes."""
        conn = self.connections.get(connection)
        merged = merge(reads)
        self._check_datasets(conn, (r.dataset for r in merged))
        cache = None if force_live else self._cache(conn)
        notes: list[str] = []
        if cache is not None:
            held = {d.name: d for d in cache.datasets()}
            missing = [r.dataset for r in merged if r.dataset not in held]
            if not missing:
                times = [held[r.dataset].refreshed_at for r in merged]
                as_of = min((t.timestamp() for t in times if t is not None), default=None)
                return conn, merged, Loaded(cache, Provenance(CACHE, as_of, tuple(merged))), []
            notes.append(
                f"Not in the cache yet ({', '.join(missing)}): answered live. "
                "Run a refresh to fill it."
            )
        return conn, merged, None, notes

    async def sql(
        self,
        connection: str,
        sql: str,
        *,
        params: Any = None,
        max_rows: int | None = None,
        force_live: bool = False,
    ) -> Answer:
        """Answer one read-only SELECT over the connection's datasets."""
        loaded = await self._load_for(connection, sql, force_live=force_live)
        try:
            # derived tables the datasets loaded do not hold are computed for this statement
            statement = with_derived(sql, loaded.has_table)
            result = loaded.query(statement, params, max_rows=max_rows)
        finally:
            loaded.close()
        return Answer(result, loaded.provenance)

    async def export_sql(
        self,
        connection: str,
        sql: str,
        fmt: ExportFormat,
        dest: Path,
        *,
        limit: int | None = None,
        force_live: bool = False,
    ) -> tuple[ExportResult, Provenance]:
        """Write every row of one read-only SELECT to ``dest`` (at most ``limit``, if given),
        read as :meth:`sql` reads it, without holding the rows in Python."""
        loaded = await self._load_for(connection, sql, force_live=force_live)
        try:
            statement = with_derived(sql, loaded.has_table)
            result = loaded.export(statement, fmt, dest, limit=limit)
        finally:
            loaded.close()
        return result, loaded.provenance

    async def _load_for(self, connection: str, sql: str, *, force_live: bool) -> Loaded:
        """Load what ``sql`` reads: the datasets it names, the parents of the child tables it
        names and what its derived tables are built from (those two whole)."""
        check_read_only(sql)
        # a derived table (derived_mrr_spans…) needs the tables it is built from, whole
        named = referenced_tables(sql)
        tables = named | {
            name for d in needed(sql, DERIVED) for name in d.inputs if name not in DERIVED_TABLES
        }
        # a child table (subscription_items…) comes with its dataset, which is then read whole
        parents = {p.name for t in tables if (p := catalog.PARENT_OF.get(t)) is not None}
        whole = parents | (tables - named)
        names = [n for n in tables if n in catalog.BY_NAME] + sorted(parents)
        narrowed: Mapping[str, DatasetRead] = {
            k: v for k, v in pushdown(sql).items() if k not in whole
        }
        return await self.load(connection, reads_for(names, narrowed), force_live=force_live)

    def sweep(self) -> None:
        """Let go of cache versions that are no longer published: a reader whose cache was
        deleted (``flitch disconnect`` in another process, say) is closed and forgotten; one
        whose cache a refresh replaced drops the old version. A long-lived engine (the web
        app's) calls this every second, and every cached load calls it first."""
        for connection_id, reader in list(self._readers.items()):
            if reader.release_stale():
                self.forget(connection_id)

    def forget(self, connection_id: str) -> None:
        """Close the cache reader held for a connection (before its cache is deleted)."""
        reader = self._readers.pop(connection_id, None)
        if reader is not None:
            reader.close()

    async def aclose(self) -> None:
        await self.live.aclose()
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
