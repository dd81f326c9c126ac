"""Proof of completeness: read every record again, compare with the cache, repair what differs.

``verify`` first runs an ordinary refresh (so changes made since the last one are not counted as
differences), then, holding the connection's writer lock:

1. reads each dataset in full into a scratch DuckDB file next to the cache (streamed in batches,
   through the same flattening as a refresh, so the two sides are comparable value for value);
2. compares it with the published cache *inside DuckDB* (the cache attached read-only): ids only
   in Stripe (missing), ids only in the cache (extra), and ids whose raw JSON differs (changed;
   candidates whose text differs are compared as parsed JSON, so key order does not count) —
   counts and a few examples of each, neither side ever held in memory whole;
3. replaces each dataset that differs with what was read (one store transaction: atomic), and
   records the check as a run (trigger ``verify``).

A difference on an object that an event says changed since the check began is counted apart
("changed during the check", when the key can read events), not as a miss; it is repaired the
same way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson

from flitch import catalog
from flitch import clock as clocks
from flitch.catalog import ObjectSpec
from flitch.connections.records import DatasetStatus, RunOutcome
from flitch.connections.service import ConnectionService
from flitch.errors import FlitchError, PermissionMissing, StripeRequestFailed
from flitch.refresh.changes import DEFAULT_LAG, ChangeFeed, gather_all
from flitch.refresh.plan import created_cursor, events_cursor
from flitch.refresh.progress import DatasetProgress, Phase, ProgressCallback, RefreshProgress
from flitch.refresh.progress import Strategy as S
from flitch.refresh.runner import BATCH_ROWS, Refresher, RefreshResult, _run, store_for
from flitch.store.base import RefreshTransaction, StoreCorrupt
from flitch.store.loading import ArrowDatasetWriter, Tables
from flitch.store.resources import duckdb_config
from flitch.store.schema import quote_literal, table_name
from flitch.stripe_source.client import SourceClient, open_client
from flitch.stripe_source.pacing import Backoff
from flitch.stripe_source.reader import read_object

#: Examples kept per kind of difference.
EXAMPLES = 5
#: Rows compared or copied per batch.
BATCH = 2_000


@dataclass
class DatasetCheck:
    """What the check found for one dataset."""

    name: str
    label: str
    cached_rows: int = 0
    stripe_rows: int = 0
    missing: int = 0
    extra: int = 0
    changed: int = 0
    #: differing objects that changed in Stripe while the check ran (an event says so): not
    #: counted above, repaired all the same
    meanwhile: int = 0
    examples: dict[str, list[Any]] = field(default_factory=dict)
    repaired: bool = False
    status: str = "ok"
    error: str | None = None
    fix: str | None = None

    @property
    def differences(self) -> int:
        return self.missing + self.extra + self.changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.name,
            "status": self.status,
            "cached_rows": self.cached_rows,
            "stripe_rows": self.stripe_rows,
            "missing": self.missing,
            "extra": self.extra,
            "changed": self.changed,
            "changed_during_check": self.meanwhile,
            "examples": self.examples,
            "repaired": self.repaired,
            "error": self.error,
            "fix": self.fix,
        }


@dataclass
class VerifyResult:
    connection: str
    connection_id: str
    refresh: RefreshResult | None
    datasets: list[DatasetCheck] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    error: FlitchError | None = None

    @property
    def differences(self) -> int:
        return sum(d.differences for d in self.datasets)

    @property
    def complete(self) -> bool:
        """Every dataset was checked (none failed)."""
        return self.error is None and all(d.status == "ok" for d in self.datasets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "connection_id": self.connection_id,
            "differences": self.differences,
            "complete": self.complete,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "datasets": [d.to_dict() for d in self.datasets],
            "refresh": self.refresh.to_dict() if self.refresh is not None else None,
            "error": self.error.to_dict() if self.error is not None else None,
        }


def _summary(obj: Any) -> Any:
    text = orjson.dumps(obj).decode()
    return text if len(text) <= 120 else text[:117] + "…"


class _Scratch:
    """A scratch DuckDB file with the fresh read, and the published cache attached read-only."""

    def __init__(self, cache_dir: Path, current: Path | None, memory_limit: int) -> None:
        stem = f"staging-verify-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = cache_dir / f"{stem}.duckdb"
        self.spill = cache_dir / f"{stem}.tmp"
        # the refresh's memory (FLITCH_MEMORY_LIMIT): the comparison's joins spill beyond it
        self.con = duckdb.connect(str(self.path), config=duckdb_config(memory_limit, self.spill))
        self.tables = Tables(self.con, memory_limit=memory_limit)
        self.con.execute("CREATE TABLE _meanwhile (id VARCHAR PRIMARY KEY)")
        self._meanwhile: set[str] = set()
        self.has_cache = current is not None
        if current is not None:
            self.con.execute(f"ATTACH {quote_literal(str(current))} AS cached (READ_ONLY)")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.con.close()
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        shutil.rmtree(self.spill, ignore_errors=True)

    def cached_table(self, spec: ObjectSpec) -> bool:
        if not self.has_cache:
            return False
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'cached'"
            " AND schema_name = 'main' AND table_name = ?",
            [spec.name],
        ).fetchone()
        return bool(row and row[0])

    def changed_meanwhile(self, ids: Iterable[str]) -> None:
        """Objects an event says changed while the check ran."""
        rows = [(i,) for i in set(ids)]
        if rows:
            self.con.executemany("INSERT OR IGNORE INTO _meanwhile VALUES (?)", rows)
        self._meanwhile = {
            str(r[0]) for r in self.con.execute("SELECT id FROM _meanwhile").fetchall()
        }

    def _ids(self, sql: str, check: DatasetCheck) -> tuple[int, list[str]]:
        """How many ids ``sql`` finds that no event explains, a few of them; the explained
        ones are added to ``check.meanwhile``."""
        explained = f"SELECT d.id FROM ({sql}) d SEMI JOIN _meanwhile m ON d.id = m.id"  # noqa: S608
        meanwhile = self.con.execute(f"SELECT count(*) FROM ({explained})").fetchone()  # noqa: S608
        check.meanwhile += int(meanwhile[0]) if meanwhile else 0
        unexplained = f"SELECT d.id FROM ({sql}) d ANTI JOIN _meanwhile m ON d.id = m.id"  # noqa: S608
        count_row = self.con.execute(f"SELECT count(*) FROM ({unexplained})").fetchone()  # noqa: S608
        found = self.con.execute(f"{unexplained} ORDER BY 1 LIMIT {EXAMPLES}").fetchall()
        examples = [str(r[0]) for r in found]
        return (int(count_row[0]) if count_row else 0), examples

    def compare(self, spec: ObjectSpec, check: DatasetCheck) -> None:
        fresh = f"main.{table_name(spec)}"
        row = self.con.execute(f"SELECT count(*) FROM {fresh}").fetchone()  # noqa: S608
        check.stripe_rows = int(row[0]) if row else 0
        if not self.cached_table(spec):
            check.missing, check.examples["missing"] = self._ids(
                f"SELECT id FROM {fresh}",  # noqa: S608
                check,
            )
            return
        cached = f"cached.main.{table_name(spec)}"
        row = self.con.execute(f"SELECT count(*) FROM {cached}").fetchone()  # noqa: S608
        check.cached_rows = int(row[0]) if row else 0
        check.missing, check.examples["missing"] = self._ids(
            f"SELECT f.id FROM {fresh} f ANTI JOIN {cached} c ON f.id = c.id",  # noqa: S608
            check,
        )
        check.extra, check.examples["extra"] = self._ids(
            f"SELECT c.id FROM {cached} c ANTI JOIN {fresh} f ON f.id = c.id",  # noqa: S608
            check,
        )
        cur = self.con.cursor()
        try:
            cur.execute(
                f"SELECT f.id, CAST(f.raw AS VARCHAR), CAST(c.raw AS VARCHAR) FROM {fresh} f"  # noqa: S608
                f" JOIN {cached} c ON f.id = c.id"
                " WHERE CAST(f.raw AS VARCHAR) IS DISTINCT FROM CAST(c.raw AS VARCHAR)"
                " ORDER BY f.id"
            )
            changed: list[Any] = []
            while rows := cur.fetchmany(BATCH):
                for object_id, stripe_text, cached_text in rows:
                    stripe_obj = orjson.loads(stripe_text) if stripe_text else None
                    cached_obj = orjson.loads(cached_text) if cached_text else None
                    if stripe_obj == cached_obj:
                        continue
                    if object_id in self._meanwhile:
                        check.meanwhile += 1
                        continue
                    check.changed += 1
                    if len(changed) < EXAMPLES:
                        changed.append(_difference(object_id, cached_obj, stripe_obj))
            check.examples["changed"] = changed
        finally:
            cur.close()

    def rows(self, spec: ObjectSpec) -> Iterator[list[dict[str, Any]]]:
        cur = self.con.cursor()
        try:
            cur.execute(f"SELECT CAST(raw AS VARCHAR) FROM main.{table_name(spec)}")  # noqa: S608
            while rows := cur.fetchmany(BATCH):
                yield [orjson.loads(r[0]) for r in rows]
        finally:
            cur.close()

    def drop(self, spec: ObjectSpec) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS main.{table_name(spec)}")


def _difference(object_id: str, cached: Any, stripe: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if isinstance(cached, dict) and isinstance(stripe, dict):
        for key in sorted(set(cached) | set(stripe)):
            if cached.get(key) != stripe.get(key):
                fields[key] = {
                    "cache": _summary(cached.get(key)),
                    "stripe": _summary(stripe.get(key)),
                }
    return {"id": object_id, "fields": fields}


class Verifier:
    """Checks a connection's cache against Stripe (see the module docstring)."""

    def __init__(
        self,
        service: ConnectionService,
        *,
        clock: Callable[[], float] = clocks.now,
        lag: int = DEFAULT_LAG,
        on_progress: ProgressCallback | None = None,
        repair: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        self.service = service
        self.clock = clock
        self.lag = lag
        self.on_progress = on_progress
        self.repair = repair
        self.backoff = backoff

    async def run(self, name_or_id: str, *, refresh_first: bool = True) -> VerifyResult:
        info = self.service.get(name_or_id)
        checked_from = self.clock()
        refreshed = None
        if refresh_first:
            refresher = Refresher(
                self.service,
                clock=self.clock,
                lag=self.lag,
                on_progress=self.on_progress,
                backoff=self.backoff,
            )
            refreshed = await refresher.run(info.id, trigger="before-verify")
            if refreshed.outcome is RunOutcome.FAILED and refreshed.error is not None:
                return VerifyResult(info.name, info.id, refreshed, error=refreshed.error)
            info = self.service.get(info.id)
        blocked = DatasetStatus.MISSING_PERMISSION
        specs = [catalog.get(d.object) for d in info.datasets if d.status is not blocked]
        others = [catalog.get(d.object) for d in info.datasets if d.status is blocked]
        result = VerifyResult(info.name, info.id, refreshed)
        store = store_for(self.service, info.id)
        db = self.service.db
        started = time.monotonic()
        # Nothing is written before every read and comparison is done, so the next version can
        # be a copy of the current one (only the datasets that differ are then replaced).
        readable = store.exists()
        try:
            tx = store.begin_refresh(full=False)
        except (StoreCorrupt, duckdb.Error):  # a damaged file: everything is missing from it
            tx, readable = store.begin_refresh(full=True), False
        run_id = db.record_run_start(
            info.id, [s.name for s in specs], "verify", started_at=self.clock()
        )
        scratch = _Scratch(
            store.cache_dir, store.current_path if readable else None, store.memory_limit
        )
        progress = RefreshProgress(info.name, info.id, True, stage="verifying")
        for spec in specs:
            progress.datasets[spec.name] = DatasetProgress(spec.name, spec.label, S.FULL, "verify")
        checks = {s.name: DatasetCheck(s.name, s.label) for s in specs}
        result.datasets = list(checks.values())
        try:
            key = self.service.key_for(info.id)
            async with open_client(
                key, self.service.settings, backoff=self.backoff, wall_clock=self.clock
            ) as client:
                read_at = self.clock()

                async def read(spec: ObjectSpec) -> None:
                    p = progress.datasets[spec.name]
                    p.start()
                    scratch.tables.create(spec, keyed=False)  # a bulk load, like a full read
                    writer = ArrowDatasetWriter(scratch.tables, spec, batch_rows=BATCH_ROWS)
                    try:
                        async for page in read_object(client, spec):
                            writer.add_page(page)
                            p.records += len(page)
                            p.pages += 1
                            progress.requests = client.stats.requests
                            if self.on_progress is not None:
                                self.on_progress(progress)
                        writer.finish()
                        p.finish(Phase.DONE)
                    except (PermissionMissing, StripeRequestFailed) as exc:
                        check = checks[spec.name]
                        check.status = (
                            "missing_permission" if isinstance(exc, PermissionMissing) else "failed"
                        )
                        check.error, check.fix = exc.message, exc.fix
                        p.finish(Phase.BLOCKED)

                await gather_all(read(spec) for spec in specs)
                if info.can_read_events:
                    since = int(client.stripe_clock.to_stripe(checked_from)) - self.lag
                    await self._meanwhile(client, scratch, specs, since)
                result.requests = client.stats.requests
                # the read's start in Stripe's time (this machine's clock may run ahead)
                read_at = client.stripe_clock.to_stripe(read_at)
            for spec in others:
                tx.keep_dataset(spec)  # blocked: their previous data stays as it is
            self._compare_and_repair(tx, scratch, specs, checks, read_at)
            repaired = [c for c in checks.values() if c.repaired]
            if repaired:
                tx.commit()
            else:
                tx.abort()
        except FlitchError as exc:
            tx.abort()
            result.error = exc
        except BaseException:
            tx.abort()
            db.record_run_finish(
                run_id, RunOutcome.FAILED, error="The check was interrupted.", fix="Run it again."
            )
            raise
        finally:
            scratch.close()
        result.seconds = time.monotonic() - started
        self._record(info.id, run_id, result, store)
        return result

    async def _meanwhile(
        self, client: SourceClient, scratch: _Scratch, specs: list[ObjectSpec], since: int
    ) -> None:
        """Note the objects that changed in Stripe since the check began (their events), so a
        difference they explain is not counted as one the refresh missed."""
        feed = ChangeFeed(scratch.spill / "events")
        try:
            await feed.collect(client, [s.event_types for s in specs], since)
            for spec in specs:
                scratch.changed_meanwhile(feed.object_ids(spec))
        except (PermissionMissing, StripeRequestFailed):
            return  # no events to tell: every difference counts
        finally:
            feed.close()

    def _compare_and_repair(
        self,
        tx: RefreshTransaction,
        scratch: _Scratch,
        specs: list[ObjectSpec],
        checks: dict[str, DatasetCheck],
        read_at: float,
    ) -> None:
        for spec in specs:
            check = checks[spec.name]
            if check.status != "ok":
                tx.keep_dataset(spec)
                continue
            scratch.compare(spec, check)
            if (check.differences or check.meanwhile) and self.repair:
                writer = tx.replace_dataset(spec)
                for page in scratch.rows(spec):
                    writer.add_page(page)
                writer.finish()
                since = int(read_at) - self.lag
                tx.set_state(
                    spec, cursor=events_cursor(since) if spec.mutable else created_cursor(since)
                )
                check.repaired = True
            else:
                tx.keep_dataset(spec)
            scratch.drop(spec)

    def _record(self, connection_id: str, run_id: str, result: VerifyResult, store: Any) -> None:
        db = self.service.db
        rows = {d.name: d.rows for d in store.datasets()} if store.exists() else {}
        for check in result.datasets:
            if check.repaired:
                db.record_dataset_refresh(connection_id, check.name, rows=rows.get(check.name))
            elif check.status == "missing_permission":
                status = DatasetStatus.MISSING_PERMISSION
                db.set_dataset_status(connection_id, check.name, status, check.error, check.fix)
        error: str | None
        fix: str | None
        if result.error is not None:
            outcome, error, fix = RunOutcome.FAILED, result.error.message, result.error.fix
        else:
            outcome = RunOutcome.OK if result.complete else RunOutcome.PARTIAL
            found = [c for c in result.datasets if c.differences]
            error = (
                "Differences found and repaired: "
                + "; ".join(
                    f"{c.name} ({c.missing} missing, {c.extra} extra, {c.changed} changed)"
                    for c in found
                )
                if found
                else None
            )
            fix = None
        records = sum(c.stripe_rows for c in result.datasets)
        db.record_run_finish(
            run_id, outcome, records=records, requests=result.requests, error=error, fix=fix
        )


def verify(
    service: ConnectionService,
    name_or_id: str,
    *,
    repair: bool = True,
    refresh_first: bool = True,
    clock: Callable[[], float] = clocks.now,
    lag: int = DEFAULT_LAG,
    on_progress: ProgressCallback | None = None,
    backoff: Backoff | None = None,
) -> VerifyResult:
    """Check a connection's cache against Stripe and repair it, from synchronous code."""
    verifier = Verifier(
        service, clock=clock, lag=lag, on_progress=on_progress, repair=repair, backoff=backoff
    )
    return _run(verifier.run(name_or_id, refresh_first=refresh_first))
