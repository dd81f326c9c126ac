"""The work of one refresh inside its store transaction: read from Stripe, write the datasets.

:class:`RefreshWork` runs the phases in order, all against the version being built:

1. carry over the datasets not refreshed this time, and the previous rows of the incremental ones;
2. read the events since the oldest events cursor (a key without Read Events, or a read that
   fails, sends those datasets to a full read instead; so does a dataset with more objects to
   re-read by id than a full read would take requests);
3. read the full datasets and the new balance transactions, all at once;
4. apply each incremental dataset's changes: list the objects created since its cursor (their
   state now), then the newest event of each older object (its payload, or a re-read by id);
5. re-read the objects that changed without an event of their own (``unannounced``: what
   other objects' events name or share, payment intents still open, coupons past
   ``redeem_by``);
6. set each dataset's cursor, to be published with its rows.

A dataset that fails alone (missing permission, a list that does not page) gets its previous
version back (``keep_dataset``) and is reported; errors of the key itself end the whole refresh.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from flitch import catalog
from flitch.catalog import ObjectSpec
from flitch.config import Settings
from flitch.errors import PermissionMissing, StripeRequestFailed
from flitch.refresh import unannounced
from flitch.refresh.changes import Action, ChangeFeed, fetch_by_id, gather_all
from flitch.refresh.plan import Planned, created_cursor, events_cursor
from flitch.refresh.progress import DatasetProgress, Phase, ProgressCallback, RefreshProgress
from flitch.refresh.progress import Strategy as S
from flitch.refresh.writes import StoreWrites
from flitch.store.base import RefreshTransaction
from flitch.stripe_source.client import KeyLike, SourceClient, open_client
from flitch.stripe_source.pacing import Backoff, PacerStats
from flitch.stripe_source.reader import read_object

#: Pages waiting for the store's thread while it is busy (a checkpoint takes up to half a
#: second: 50 pages at the key's limit). A page waits as the JSON text Stripe sent, ~200 KB.
PENDING_PAGES = 64
#: Pending balance transactions due in the day before the last look are looked at again.
DUE_MARGIN = 86400
#: Objects whose rows name coupons in their discounts (see ``unannounced.coupon_refs``).
_COUPON_HOLDERS = frozenset({"subscriptions", "customers"})


class StartOver(Exception):
    """A dataset failed after it was changed in a transaction built on a copy: run the
    refresh again on an empty transaction, which can carry the dataset's old version over."""


class RefreshWork:
    """One refresh's reads and writes (see the module docstring for the phases)."""

    def __init__(
        self,
        *,
        tx: RefreshTransaction,
        settings: Settings,
        key: KeyLike,
        targets: list[ObjectSpec],
        kept: list[ObjectSpec],
        planned: dict[str, Planned],
        rows: dict[str, int],
        progress: RefreshProgress,
        clock: Callable[[], float],
        lag: int,
        on_progress: ProgressCallback | None,
        spill_dir: Path,
        events_readable: Callable[[bool], None],
        backoff: Backoff | None = None,
    ) -> None:
        self.tx = tx
        self.settings = settings
        self.key = key
        self.targets = targets
        self.kept = kept
        self.planned = planned
        self.rows = rows
        self.progress = progress
        self.clock = clock
        self.lag = lag
        self.on_progress = on_progress
        self.spill_dir = spill_dir
        self.events_readable = events_readable
        self.backoff = backoff
        self.store = StoreWrites(max_pending=PENDING_PAGES)
        #: datasets written to in this run (a copy-based transaction cannot take that back)
        self.touched: set[str] = set()
        self.client: SourceClient | None = None
        self.feed: ChangeFeed | None = None
        #: objects re-read by id in this run, per dataset (never twice)
        self.fetched: dict[str, set[str]] = {s.name: set() for s in targets}
        #: coupons named by discounts of subscriptions and customers written in this run
        self.coupons_named: set[str] = set()
        self.cursors: dict[str, dict[str, Any]] = {}

    # -- helpers -----------------------------------------------------------------------------------
    def p(self, spec: ObjectSpec) -> DatasetProgress:
        return self.progress.datasets[spec.name]

    def strategy(self, spec: ObjectSpec) -> S:
        return self.p(spec).strategy

    def alive(self, spec: ObjectSpec) -> bool:
        return self.p(spec).phase not in (Phase.BLOCKED, Phase.FAILED)

    def of(self, strategy: S) -> list[ObjectSpec]:
        return [s for s in self.targets if self.strategy(s) is strategy and self.alive(s)]

    def stripe_time(self, local: float) -> float:
        """A time of this machine's clock as no later than Stripe's at that moment (the clock
        may run ahead of Stripe's: see ``stripe_source.clock``)."""
        return self.client.stripe_clock.to_stripe(local) if self.client is not None else local

    def since(self, started: float) -> int:
        """The cursor for a read that began at ``started`` (this machine's clock): that moment
        in Stripe's time, less the lag for records that become visible late."""
        return int(self.stripe_time(started)) - self.lag

    def tick(self) -> None:
        if self.client is not None:
            stats = self.client.stats
            self.progress.requests = stats.requests
            self.progress.retries = stats.retries
            self.progress.rate_limited = stats.rate_limited
        if self.on_progress is not None:
            self.on_progress(self.progress)

    async def fail(self, spec: ObjectSpec, exc: PermissionMissing | StripeRequestFailed) -> None:
        """This dataset alone failed: its previous version is carried over instead.

        A transaction that started as a copy of the current version cannot take back what was
        already written to the dataset: then the whole refresh starts over on an empty one
        (:class:`StartOver`), where each dataset is carried over or written anew."""
        p = self.p(spec)
        if not self.alive(spec):
            return
        if not self.tx.full and spec.name in self.touched:
            raise StartOver(spec.name)
        p.error, p.fix = exc.message, exc.fix
        p.finish(Phase.BLOCKED if isinstance(exc, PermissionMissing) else Phase.FAILED)
        await self.store.drain()
        if not await self.store.call(self.tx.keep_dataset, spec):
            # nothing to go back to: publish no partial table
            await self.store.call(self.tx.drop_dataset, spec)
        self.tick()

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self.tx.query(sql, params).rows

    async def query_ids(self, sql: str, params: list[Any]) -> list[str]:
        return [str(r[0]) for r in await self.store.call(self._query, sql, params)]

    async def query_int(self, sql: str, params: list[Any]) -> int | None:
        rows = await self.store.call(self._query, sql, params)
        value = rows[0][0] if rows else None
        return int(value) if value is not None else None

    async def write(self, spec: ObjectSpec, objects: Sequence[dict[str, Any]]) -> None:
        if not objects:
            return
        self.touched.add(spec.name)
        await self.store.call(self.tx.upsert, spec, objects)
        self.p(spec).upserted += len(objects)
        if spec.name in _COUPON_HOLDERS:
            for obj in objects:
                self.coupons_named |= unannounced.coupon_refs(obj)

    async def remove(self, spec: ObjectSpec, ids: list[str]) -> None:
        if ids:
            self.touched.add(spec.name)
            self.p(spec).deleted += await self.store.call(self.tx.delete, spec, ids)

    # -- the phases --------------------------------------------------------------------------------
    async def execute(self) -> PacerStats:
        try:
            return await self._execute()
        finally:
            self.store.close()

    async def _execute(self) -> PacerStats:
        for spec in self.kept:
            await self.store.call(self.tx.keep_dataset, spec)
        for spec in self.targets:
            if self.strategy(spec) in (S.EVENTS, S.CREATED):
                await self.store.call(self.tx.keep_dataset, spec)
        async with open_client(
            self.key, self.settings, backoff=self.backoff, wall_clock=self.clock
        ) as client:
            self.client = client
            try:
                if self.of(S.EVENTS):
                    await self.read_events()
                self.progress.stage = "reading"
                jobs = [self.read_full(self.of(S.FULL))]
                jobs += [self.read_created(spec) for spec in self.of(S.CREATED)]
                await gather_all(jobs)
                self.progress.stage = "applying changes"
                for spec in self.of(S.EVENTS):
                    await self.guard(spec, self.apply(spec))
                await self.follow_dependents()
                for spec in self.targets:
                    if self.alive(spec):
                        await self.finish(spec)
                await self.store.drain()
            finally:
                if self.feed is not None:
                    self.feed.close()
                shutil.rmtree(self.spill_dir, ignore_errors=True)
                self.tick()
            return client.stats

    async def guard(self, spec: ObjectSpec, work: Any) -> None:
        """Run one dataset's work; a failure of that dataset alone is reported, not raised."""
        try:
            await work
        except (PermissionMissing, StripeRequestFailed) as exc:
            await self.fail(spec, exc)

    async def finish(self, spec: ObjectSpec) -> None:
        p = self.p(spec)
        cursor = self.cursors.get(spec.name)
        if cursor is not None:
            await self.store.call(self.tx.set_state, spec, cursor=cursor)
        p.finish(Phase.DONE)

    # 2. events
    async def read_events(self) -> None:
        assert self.client is not None
        specs = self.of(S.EVENTS)
        since = min(self.planned[s.name].since or 0 for s in specs)
        # Also the events of objects that change the picked ones without an event of theirs
        # (a price embedded in a subscription; an invoice finalized changes its customer).
        types = unannounced.event_types(s.name for s in specs)
        self.progress.stage = "reading events"
        for spec in specs:
            self.p(spec).start()
        started = self.clock()
        self.feed = ChangeFeed(self.spill_dir)

        def counted(n: int) -> None:
            self.progress.events += n
            self.tick()

        try:
            await self.feed.collect(self.client, types, since, on_page=counted)
        except (PermissionMissing, StripeRequestFailed) as exc:
            removed = isinstance(exc, PermissionMissing)
            if removed:
                self.events_readable(False)
            reason = (
                "Read Events was removed from the key" if removed else f"events unreadable: {exc}"
            )
            for spec in specs:
                self.switch_to_full(spec, reason)
            return
        cursor = events_cursor(self.since(started))
        for spec in specs:
            since = self.planned[spec.name].since or 0
            to_fetch = self.feed.refetch_estimate(spec, since)
            to_fetch += len(await self.still_open(spec, since))
            cost = full_cost(spec, self.rows.get(spec.name))
            if to_fetch > cost:
                self.switch_to_full(
                    spec, f"{to_fetch} objects to re-read by id cost more than a full read"
                )
            else:
                self.cursors[spec.name] = cursor

    def switch_to_full(self, spec: ObjectSpec, reason: str) -> None:
        p = self.p(spec)
        p.strategy, p.reason = S.FULL, reason

    # 3. full reads and new balance transactions
    async def read_full(self, specs: list[ObjectSpec]) -> None:
        await gather_all(self.guard(spec, self.read_one(spec)) for spec in specs)

    async def read_one(self, spec: ObjectSpec) -> None:
        assert self.client is not None
        p = self.p(spec)
        p.start()
        started = self.clock()
        self.touched.add(spec.name)
        writer = await self.store.call(self.tx.replace_dataset, spec)
        async for page in read_object(self.client, spec):
            if not self.alive(spec):
                return
            await self.store.push(writer.add_page, page)
            p.records += len(page)
            p.pages += 1
            self.tick()
        p.upserted = await self.store.call(writer.finish)
        if spec.mutable:
            self.cursors[spec.name] = events_cursor(self.since(started))
        else:
            self.cursors[spec.name] = await self.created_cursor(spec, started)
        p.finish(Phase.DONE)

    async def created_cursor(self, spec: ObjectSpec, started: float) -> dict[str, Any]:
        """Read again from the newest ``created`` second held, or from ``lag`` seconds before
        this read began if that is earlier (records may become visible late)."""
        newest = await self.query_int(
            f'SELECT CAST(epoch(max(created)) AS BIGINT) FROM "{spec.name}"',  # noqa: S608
            [],
        )
        limit = self.since(started)
        gte = min(newest, limit) if newest is not None else limit
        return created_cursor(gte, due_checked=int(self.stripe_time(started)))

    async def read_created(self, spec: ObjectSpec) -> None:
        await self.guard(spec, self._read_created(spec))

    async def _read_created(self, spec: ObjectSpec) -> None:
        assert self.client is not None
        p = self.p(spec)
        p.start()
        started = self.clock()
        planned = self.planned[spec.name]
        gte = planned.since or 0
        # A pending balance transaction becomes available without an event: read again the
        # range of those due since the last look (a day's margin for Stripe's own delays).
        checked = (planned.due_checked if planned.due_checked is not None else gte) - DUE_MARGIN
        due_range = (
            "SELECT CAST(epoch(min(created)) AS BIGINT), CAST(epoch(max(created)) AS BIGINT)"  # noqa: S608
            f" FROM \"{spec.name}\" WHERE status = 'pending'"
            " AND available_on > to_timestamp(?) AND available_on <= to_timestamp(?)"
        )
        now = int(self.stripe_time(started))
        rows = await self.store.call(self._query, due_range, [checked, now])
        reads: list[tuple[int, int | None]] = [(gte, None)]
        if rows and rows[0][0] is not None:
            reads.insert(0, (int(rows[0][0]), int(rows[0][1]) + 1))
        for low, high in reads:
            async for page in read_object(self.client, spec, created_gte=low, created_lt=high):
                await self.write(spec, page)
                p.records += len(page)
                p.pages += 1
                self.tick()
        self.cursors[spec.name] = await self.created_cursor(spec, started)

    # 4. changes from events
    async def apply(self, spec: ObjectSpec) -> None:
        """First the objects created since the cursor, listed as they are now (a page per 100
        new objects, in full shape: expanded, in the pinned version); then, for the older
        objects that changed, the newest event's payload, a deletion, or a re-read by id.

        The list is read after the events, so it is at least as new as any event seen; it is
        also what tells that the key lost Read on the object (events alone would not)."""
        assert self.feed is not None
        assert self.client is not None
        p = self.p(spec)
        since = self.planned[spec.name].since or 0
        recent: set[str] = set()
        async for page in read_object(self.client, spec, created_gte=since):
            await self.write(spec, page)
            recent.update(page.ids)
            p.records += len(page)
            p.pages += 1
            self.tick()
        p.phase = Phase.APPLYING
        to_fetch: list[str] = []
        for batch in self.feed.changes(spec):
            batch = [c for c in batch if c.object_id not in recent]
            upserts = [c.payload for c in batch if c.action is Action.UPSERT and c.payload]
            await self.write(spec, upserts)
            await self.remove(spec, [c.object_id for c in batch if c.action is Action.DELETE])
            to_fetch.extend(c.object_id for c in batch if c.action is Action.REFETCH)
            p.records += sum(c.action is Action.UPSERT for c in batch)
            self.tick()
        self.fetched[spec.name].update(recent)
        await self.refetch(spec, to_fetch)

    async def refetch(self, spec: ObjectSpec, ids: Iterable[str]) -> None:
        assert self.client is not None
        done = self.fetched[spec.name]
        wanted = [i for i in dict.fromkeys(ids) if i not in done]
        if not wanted or not self.alive(spec):
            return
        done.update(wanted)
        p = self.p(spec)
        async for chunk in fetch_by_id(self.client, spec, wanted):
            found = [obj for _, obj in chunk if obj is not None]
            await self.write(spec, found)
            await self.remove(spec, [i for i, obj in chunk if obj is None])
            p.refetched += len(chunk)
            p.records += len(found)
            self.tick()

    async def referencing(self, dep: unannounced.Dependent, ids: set[str]) -> set[str]:
        def query(sql: str, params: list[Any]) -> list[str]:
            return [str(r[0]) for r in self._query(sql, params)]

        return await self.store.call(unannounced.referencing, query, dep, ids)

    async def still_open(self, spec: ObjectSpec, since: int) -> list[str]:
        """Rows of ``spec`` that may have changed with no event, created in the window before
        ``since`` (``unannounced.STILL_OPEN``)."""
        ids: list[str] = []
        for rule in unannounced.STILL_OPEN:
            if rule.target == spec.name:
                sql = unannounced.still_open_sql(rule)
                ids += await self.query_ids(sql, [since - rule.window, since])
        return ids

    # 5. objects changed without an event of their own
    async def follow_dependents(self) -> None:
        assert self.client is not None
        incremental = {s.name for s in self.of(S.EVENTS)}
        if self.feed is not None:
            for rule in unannounced.REFERENCED:
                if rule.target in incremental:
                    target = catalog.get(rule.target)
                    await self.guard(target, self.refetch(target, self.feed.named(rule)))
            for dep in unannounced.DEPENDENTS:
                if dep.target not in incremental:
                    continue
                changed = self.feed.object_ids(catalog.get(dep.source))
                if changed:
                    target = catalog.get(dep.target)
                    ids = await self.referencing(dep, changed)
                    await self.guard(target, self.refetch(target, ids))
            for share in unannounced.SHARING:
                values = self.feed.named(share) if share.target in incremental else set()
                if values:
                    target = catalog.get(share.target)
                    sql = unannounced.sharing_sql(share)
                    shared = await self.query_ids(sql, [sorted(values)])
                    await self.guard(target, self.refetch(target, shared))
        for spec in self.of(S.EVENTS):
            since = self.planned[spec.name].since or 0
            await self.guard(spec, self.refetch(spec, await self.still_open(spec, since)))
        if "coupons" in incremental:
            coupons = catalog.get("coupons")
            expired = await self.query_ids(
                "SELECT id FROM coupons WHERE valid AND"
                " CAST(json_extract(raw, '$.redeem_by') AS BIGINT) <= ?",
                [int(self.stripe_time(self.clock()))],
            )
            await self.guard(coupons, self.refetch(coupons, [*self.coupons_named, *expired]))


def full_cost(spec: ObjectSpec, rows: int | None) -> int:
    """Requests a full read of ``spec`` takes, about (a page per 100 rows per list variant)."""
    return len(spec.list_variants) * (-(-(rows or 0) // 100) + 1)
