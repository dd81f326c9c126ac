"""One refresh of one connection: read what changed in Stripe, publish it whole, record it.

A refresh is one store transaction (``begin_refresh``: the connection's one writer, by lock). The
next version of the cache is built aside and published by ``commit`` in one rename, so a reader
never sees half of it, and a refresh that fails — network, revoked key, removed permission,
crash, ``kill -9`` — leaves the previous data as it was. What happened is recorded in the
metadata: the run (outcome, records, requests, error and fix) and each dataset's status.

Each picked dataset is refreshed one of four ways (:mod:`.plan` decides, :mod:`.changes` reads
events): *full* (read again, replaced), *events* (changes since the cursor), *created* (balance
transactions: new records since the last one seen) or *kept* (not due this time). A dataset the
key may no longer read keeps its previous data and is marked "missing permission" with the fix;
the others go on. Running out of memory (``FLITCH_MEMORY_LIMIT``) or of disk while building the
next version fails the run with the setting to raise or the space to free, and keeps the
previous data like any other failure (``store.resources``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Collection, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb

from flitch import catalog
from flitch import clock as clocks
from flitch.catalog import ObjectSpec
from flitch.connections.records import ConnectionInfo, DatasetStatus, KeyTestResult, RunOutcome
from flitch.connections.service import ConnectionService
from flitch.errors import AuthenticationFailed, FlitchError, InputError
from flitch.metrics.derived import DERIVED
from flitch.refresh.changes import DEFAULT_LAG
from flitch.refresh.plan import Planned, plan
from flitch.refresh.progress import DatasetProgress, Phase, ProgressCallback, RefreshProgress
from flitch.refresh.work import RefreshWork, StartOver
from flitch.store.base import RefreshTransaction, StoreCorrupt
from flitch.store.duckdb_store import DuckDBStore
from flitch.store.resources import DiskFull, OutOfMemory
from flitch.stripe_source.client import KeyLike
from flitch.stripe_source.pacing import Backoff, PacerStats

T = TypeVar("T")
#: Rows buffered per dataset before one insert: small enough that twelve datasets read at once
#: stay within a few tens of MB.
BATCH_ROWS = 2_000
#: A dataset whose refresh failed is tried again after this long (or its interval, if shorter).
RETRY_AFTER = 600

__all__ = ["RefreshResult", "Refresher", "refresh", "store_for"]


@dataclass
class RefreshResult:
    """How a refresh went: per dataset, and as a whole (``to_dict`` is the ``--json`` form)."""

    connection: str
    connection_id: str
    run_id: str | None
    outcome: RunOutcome
    full: bool
    datasets: list[DatasetProgress] = field(default_factory=list)
    requests: int = 0
    events: int = 0
    seconds: float = 0.0
    error: FlitchError | None = None

    @property
    def records(self) -> int:
        return sum(d.records for d in self.datasets)

    @property
    def ok(self) -> bool:
        return self.outcome is RunOutcome.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "connection_id": self.connection_id,
            "run_id": self.run_id,
            "outcome": self.outcome.value,
            "full": self.full,
            "records_read": self.records,
            "requests": self.requests,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "datasets": [d.to_dict() for d in self.datasets],
            "error": self.error.to_dict() if self.error is not None else None,
        }


def store_for(service: ConnectionService, connection_id: str) -> DuckDBStore:
    """The store of a connection's cache, set up for refreshes (small batches, memory as
    ``FLITCH_MEMORY_LIMIT`` says; the metrics' derived tables built into each version)."""
    return service.store(
        connection_id,
        batch_rows=BATCH_ROWS,
        memory_limit=service.settings.memory_limit,
        derived=DERIVED,
    )


class Refresher:
    """Runs refreshes of the connections of one ``ConnectionService``.

    ``clock`` gives Unix seconds (Stripe's ``created`` times are compared with it; inject one in
    tests). ``lag`` is how far behind "now" the events cursor stops. ``backoff`` is how retries
    wait (the pacer's default unless given).
    """

    def __init__(
        self,
        service: ConnectionService,
        *,
        clock: Callable[[], float] = clocks.now,
        lag: int = DEFAULT_LAG,
        on_progress: ProgressCallback | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.service = service
        self.clock = clock
        self.lag = lag
        self.on_progress = on_progress
        self.backoff = backoff

    async def run(
        self,
        name_or_id: str,
        *,
        full: bool = False,
        objects: Iterable[str] | None = None,
        trigger: str = "manual",
    ) -> RefreshResult:
        """Refresh a connection now (its datasets that are not blocked, or ``objects``).

        Raises ``NotFound`` for an unknown connection, ``RefreshRunning`` when another refresh of
        it is at work, and ``InputError`` when nothing can be refreshed. Any other failure is
        recorded and returned in the result (``outcome`` failed, ``error`` set); a crash that is
        not a Flitch error is recorded, then raised.
        """
        info = self.service.get(name_or_id)
        targets = _targets(info.datasets, objects)
        store = store_for(self.service, info.id)
        db = self.service.db
        progress = RefreshProgress(info.name, info.id, full)
        run_id: str | None = None
        stats: Any = None
        try:
            tx = _begin(store)
        except (OutOfMemory, DiskFull) as exc:  # not even room to start: recorded as a run
            run_id = db.record_run_start(
                info.id, [s.name for s in targets], trigger, started_at=self.clock()
            )
            return self._failed(info.id, info.name, run_id, progress, exc, full)
        try:
            db.fail_unfinished_runs(connection_id=info.id)
            run_id = db.record_run_start(
                info.id, [s.name for s in targets], trigger, started_at=self.clock()
            )
            key = self.service.key_for(info.id)
            while True:
                try:
                    stats = await self._attempt(tx, info, key, targets, store, run_id, progress)
                    break
                except StartOver:
                    tx.abort()
                    tx = store.begin_refresh(full=True)
                    progress = RefreshProgress(info.name, info.id, full)
            progress.stage = "committing"
            self._tick(progress)
            if not any(d.phase is Phase.DONE for d in progress.datasets.values()):
                tx.abort()
            else:
                tx.commit()
        except FlitchError as exc:
            tx.abort()
            return self._failed(info.id, info.name, run_id, progress, exc, full)
        except BaseException as exc:
            tx.abort()
            exhausted = store.explain(exc)
            if exhausted is not None:
                return self._failed(info.id, info.name, run_id, progress, exhausted, full)
            stopped = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
            reason = "was interrupted" if stopped else f"crashed ({type(exc).__name__}: {exc})"
            error = FlitchError(
                f"The refresh {reason}; the previous data is kept.",
                "Run `flitch refresh` again; if it crashes again, report it with this message.",
            )
            self._failed(info.id, info.name, run_id, progress, error, full)
            raise
        return self._succeeded(info.id, info.name, run_id, progress, store, full, stats)

    async def _attempt(
        self,
        tx: RefreshTransaction,
        info: ConnectionInfo,
        key: KeyLike,
        targets: list[ObjectSpec],
        store: DuckDBStore,
        run_id: str,
        progress: RefreshProgress,
    ) -> PacerStats:
        """Plan each dataset from what the store holds, then do the work in ``tx``."""
        full = progress.full
        try:
            current = {d.name: d for d in store.datasets()} if store.exists() else {}
            damaged = False
        except StoreCorrupt:  # rebuild it from Stripe, object by object
            current, damaged, full = {}, True, True
            progress.full = True
        now = self.clock()
        planned: dict[str, Planned] = {
            s.name: plan(
                s, current.get(s.name), full=full, can_read_events=info.can_read_events, now=now
            )
            for s in targets
        }
        for spec in targets:
            progress.datasets[spec.name] = DatasetProgress(
                spec.name, spec.label, planned[spec.name].strategy, planned[spec.name].reason
            )
        picked = [catalog.get(d.object) for d in info.datasets]
        db = self.service.db
        work = RefreshWork(
            tx=tx,
            settings=self.service.settings,
            key=key,
            targets=targets,
            kept=[] if damaged else [s for s in picked if s not in targets],
            planned=planned,
            rows={name: d.rows for name, d in current.items()},
            progress=progress,
            clock=self.clock,
            lag=self.lag,
            on_progress=self.on_progress,
            spill_dir=store.cache_dir / f"staging-events-{run_id}.tmp",
            events_readable=lambda readable: db.set_can_read_events(info.id, readable),
            backoff=self.backoff,
        )
        return await work.execute()

    # -- recording ---------------------------------------------------------------------------------
    def _tick(self, progress: RefreshProgress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    def _retry_at(self, connection_id: str) -> float | None:
        every = self.service.table.get(connection_id).refresh_every
        if every is None:
            return None
        return self.clock() + min(every, RETRY_AFTER)

    def _succeeded(
        self,
        connection_id: str,
        name: str,
        run_id: str | None,
        progress: RefreshProgress,
        store: DuckDBStore,
        full: bool,
        stats: Any,
    ) -> RefreshResult:
        db = self.service.db
        rows = {d.name: d.rows for d in store.datasets()} if store.exists() else {}
        finished = self.clock()
        problems: list[DatasetProgress] = []
        retry_at = self._retry_at(connection_id)
        for p in progress.datasets.values():
            if p.phase is Phase.DONE:
                p.rows = rows.get(p.name)
                db.record_dataset_refresh(connection_id, p.name, rows=p.rows, finished_at=finished)
            elif p.phase is Phase.BLOCKED:
                db.set_dataset_status(
                    connection_id, p.name, DatasetStatus.MISSING_PERMISSION, p.error, p.fix
                )
                problems.append(p)
            else:
                p.finish(Phase.FAILED)
                db.set_dataset_status(connection_id, p.name, DatasetStatus.FAILED, p.error, p.fix)
                db.set_next_due(connection_id, p.name, retry_at)
                problems.append(p)
        done = [p for p in progress.datasets.values() if p.phase is Phase.DONE]
        if not problems:
            outcome = RunOutcome.OK
        else:
            outcome = RunOutcome.PARTIAL if done else RunOutcome.FAILED
        error = fix = None
        if problems:
            error = "Not refreshed: " + "; ".join(f"{p.name} ({p.error})" for p in problems)
            fix = next((p.fix for p in problems if p.fix), None)
        requests = stats.requests if stats is not None else 0
        if run_id is not None:
            db.record_run_finish(
                run_id,
                outcome,
                records=progress.records,
                requests=requests,
                error=error,
                fix=fix,
                finished_at=finished,
            )
        progress.stage = "done"
        self._tick(progress)
        first = problems[0] if problems else None
        return RefreshResult(
            connection=name,
            connection_id=connection_id,
            run_id=run_id,
            outcome=outcome,
            full=full,
            datasets=list(progress.datasets.values()),
            requests=requests,
            events=progress.events,
            seconds=progress.elapsed,
            error=None if first is None else FlitchError(first.error or "", first.fix or ""),
        )

    def _failed(
        self,
        connection_id: str,
        name: str,
        run_id: str | None,
        progress: RefreshProgress,
        error: FlitchError,
        full: bool,
    ) -> RefreshResult:
        db = self.service.db
        now = self.clock()
        if isinstance(error, AuthenticationFailed):
            test = KeyTestResult(
                tested_at=now, authenticated=False, message=error.message, fix=error.fix
            )
            self.service.table.record_test(connection_id, test, [], None)
        retry_at = self._retry_at(connection_id)
        for p in progress.datasets.values():
            p.error = p.error or error.message
            p.fix = p.fix or error.fix
            p.finish(Phase.FAILED if p.phase is not Phase.BLOCKED else Phase.BLOCKED)
            db.set_dataset_status(
                connection_id, p.name, DatasetStatus.FAILED, error.message, error.fix
            )
            db.set_next_due(connection_id, p.name, retry_at)
        if run_id is not None:
            db.record_run_finish(
                run_id,
                RunOutcome.FAILED,
                records=progress.records,
                requests=progress.requests,
                error=error.message,
                fix=error.fix,
                finished_at=now,
            )
        progress.stage = "failed"
        self._tick(progress)
        return RefreshResult(
            connection=name,
            connection_id=connection_id,
            run_id=run_id,
            outcome=RunOutcome.FAILED,
            full=full,
            datasets=list(progress.datasets.values()),
            requests=progress.requests,
            events=progress.events,
            seconds=progress.elapsed,
            error=error,
        )


def _begin(store: DuckDBStore) -> RefreshTransaction:
    """The store's writer: an incremental refresh builds on a copy of the current file (cheap);
    a damaged file, or a dataset that fails after it was changed in the copy, needs an empty
    one instead."""
    try:
        return store.begin_refresh(full=False)
    except (StoreCorrupt, duckdb.Error):  # the current file cannot be opened
        return store.begin_refresh(full=True)


def _targets(datasets: Iterable[Any], objects: Iterable[str] | None) -> list[ObjectSpec]:
    """The picked datasets to refresh: all but the blocked ones, or those named."""
    picked = {d.object: d for d in datasets}
    wanted: Collection[str]
    if objects is None:
        blocked = DatasetStatus.MISSING_PERMISSION
        wanted = [name for name, d in picked.items() if d.status is not blocked]
    else:
        wanted = [o.strip() for o in objects if o.strip()]
        unknown = [o for o in wanted if o not in picked]
        if unknown:
            raise InputError(
                f"Not picked on this connection: {', '.join(unknown)}.",
                f"Refresh one of: {', '.join(picked)} (or add objects with `flitch set-objects`).",
            )
    if not wanted:
        raise InputError(
            "Nothing to refresh: the key cannot read any of the picked objects.",
            "Edit the key in Stripe and grant Read on the objects, then run "
            "`flitch update-key NAME` with it.",
        )
    return [catalog.get(name) for name in catalog.NAMES if name in wanted]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def refresh(
    service: ConnectionService,
    name_or_id: str,
    *,
    full: bool = False,
    objects: Iterable[str] | None = None,
    trigger: str = "manual",
    clock: Callable[[], float] = clocks.now,
    lag: int = DEFAULT_LAG,
    on_progress: ProgressCallback | None = None,
    backoff: Backoff | None = None,
) -> RefreshResult:
    """Refresh a connection now, from synchronous code (see :meth:`Refresher.run`)."""
    refresher = Refresher(service, clock=clock, lag=lag, on_progress=on_progress, backoff=backoff)
    return _run(refresher.run(name_or_id, full=full, objects=objects, trigger=trigger))
