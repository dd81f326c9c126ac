"""The metadata database: ``FLITCH_HOME/flitch.db``, or PostgreSQL in server mode.

It holds the connections (with their sealed keys; see ``connection_table``), the state of every
dataset (each picked object of a connection) and the history of refresh runs. The web server, the
scheduler and the CLI may all use it at once, from several processes (and, on PostgreSQL, from
several machines). Where it lives, how a writer takes the lock and how the schema is brought up
to date are the seam's business (:mod:`flitch.metadb`); on SQLite:

- WAL journal mode (readers never block the writer), a ``busy_timeout`` so a writer waits for
  another instead of failing, and every write in a ``BEGIN IMMEDIATE`` transaction (it takes the
  write lock up front, so two writers queue rather than dead-lock on an upgrade);
- ``secure_delete`` on, and :meth:`MetadataDB.scrub` (checkpoint, ``VACUUM``, truncate the WAL)
  after a connection is deleted, so nothing of it lingers in free pages or in the write-ahead log;
- forward-only migrations recorded in ``schema_version``; a database written by a newer Flitch is
  refused rather than misread;
- the file is created with mode 0600 (SQLite gives its -wal and -shm files the same mode).

The refresh runner writes through :meth:`record_run_start`, :meth:`record_run_finish`,
:meth:`set_dataset_status` and :meth:`record_dataset_refresh`; the scheduler asks
:meth:`due_datasets`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from flitch import catalog
from flitch import clock as clocks
from flitch.connections.crypto import ensure_home
from flitch.connections.records import (
    DatasetInfo,
    DatasetState,
    DatasetStatus,
    RunInfo,
    RunOutcome,
)
from flitch.metadb import DatabaseError, MetadataError, Row, Target, Tx, dialect, open_database
from flitch.metadb.schema import CONNECTIONS
from flitch.metadb.target import DB_FILE, unreachable

__all__ = ["DB_FILE", "SCHEMA_VERSION", "MetadataDB", "MetadataError", "new_id", "unusable"]

#: Runs kept per connection; older ones are pruned when a new run starts.
RUNS_KEPT = 200
#: The connections' tables' schema version this Flitch writes (``flitch.metadb.schema``).
SCHEMA_VERSION = CONNECTIONS.latest


def unusable(path: Path, exc: BaseException) -> MetadataError:
    """The error for a SQLite metadata database that cannot be opened, read or written."""
    return unreachable(Target(dialect.SQLITE, path=path), exc)


def new_id(prefix: str) -> str:
    """A random id such as ``conn_k3v9…``: 16 lower-case letters and digits after the prefix."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


class MetadataDB:
    """The metadata database of one install; safe to share between threads.

    ``url`` is FLITCH_DATABASE_URL: unset, the database is ``home/flitch.db``.
    """

    def __init__(self, home: Path, url: str | None = None) -> None:
        self.target = Target.of(home, url)
        self.path = home / DB_FILE
        #: how messages name the database (a file, or a URL without its password)
        self.where = self.target.where
        try:
            if self.target.engine == dialect.SQLITE:
                ensure_home(home)
            self.db = open_database(home, url)
        except OSError as exc:
            raise unreachable(self.target, exc) from None

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def engine(self) -> str:
        return self.db.engine

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> MetadataDB:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def unusable(self, exc: BaseException) -> MetadataError:
        """The error to show for a database error met while using it."""
        return unreachable(self.target, exc)

    def write(self) -> AbstractContextManager[Tx]:
        """One write transaction: the write lock is taken at the start (others wait for it)."""
        return self.db.transaction(write=True)

    def read(self) -> AbstractContextManager[Tx]:
        """One read transaction: a consistent snapshot across several queries."""
        return self.db.transaction(write=False)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Rows of one read-only statement."""
        return self.db.query(sql, params)

    def schema_version(self) -> int:
        with self.read() as tx:
            return int(tx.execute("SELECT max(version) FROM schema_version").scalar() or 0)

    def scrub(self) -> bool:
        """Leave no trace of deleted rows in any file: checkpoint, VACUUM, truncate the WAL.

        Returns False when another process kept the database busy for the whole busy timeout:
        the rows are gone and their pages were zeroed (``secure_delete``), but the file was not
        compacted and old frames may remain in the WAL until later writes overwrite them. On
        PostgreSQL the tables are vacuumed, and False says what remains true there: the
        server's own write-ahead log and backups are not Flitch's to wipe.
        """
        with self.db.maintenance() as tx:
            if tx.engine == dialect.POSTGRES:
                tx.execute("VACUUM refresh_runs, datasets, connections")
                return False
            try:
                tx.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                tx.execute("VACUUM")
                busy = 1
                for _ in range(3):
                    busy = tx.execute("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
                    if not busy:
                        break
            except DatabaseError:  # still locked by another process after the timeout
                return False
            return not busy

    # -- datasets -------------------------------------------------------------------------------
    def datasets(self, connection_id: str) -> list[DatasetInfo]:
        rows = self.query(
            "SELECT * FROM datasets WHERE connection_id = ? ORDER BY position", (connection_id,)
        )
        return [
            DatasetInfo(
                object=r["object"],
                label=catalog.BY_NAME[r["object"]].label if r["object"] in catalog.BY_NAME else "",
                status=DatasetStatus(r["status"]),
                reason=r["reason"],
                fix=r["fix"],
                last_refresh_at=r["last_refresh_at"],
                next_due_at=r["next_due_at"],
                rows=r["rows"],
            )
            for r in rows
        ]

    def set_dataset_status(
        self,
        connection_id: str,
        object_name: str,
        status: DatasetStatus | str,
        reason: str | None = None,
        fix: str | None = None,
    ) -> None:
        """Mark one dataset ok, missing permission or failed (with what happened and the fix)."""
        state = DatasetState(object_name, DatasetStatus(status), reason, fix)
        with self.write() as db:
            set_statuses(db, connection_id, [state], clocks.now())

    def record_dataset_refresh(
        self,
        connection_id: str,
        object_name: str,
        *,
        rows: int | None,
        finished_at: float | None = None,
    ) -> None:
        """A dataset was refreshed: it is ok, holds ``rows``, and is next due one interval on."""
        at = clocks.now() if finished_at is None else finished_at
        with self.write() as db:
            db.execute(
                "UPDATE datasets SET status = 'ok', reason = NULL, fix = NULL, status_at = ?,"
                " last_refresh_at = ?, rows = ?,"
                " next_due_at = (SELECT ? + refresh_every FROM connections WHERE id = ?)"
                " WHERE connection_id = ? AND object = ?",
                (at, at, rows, at, connection_id, connection_id, object_name),
            )

    def set_next_due(self, connection_id: str, object_name: str, due_at: float | None) -> None:
        """Reschedule one dataset (e.g. retry a failed refresh sooner than a full interval)."""
        with self.write() as db:
            db.execute(
                "UPDATE datasets SET next_due_at = ? WHERE connection_id = ? AND object = ?",
                (due_at, connection_id, object_name),
            )

    def due_datasets(self, now: float | None = None) -> dict[str, tuple[str, ...]]:
        """Connection id → the objects due for a refresh (refresh on, not blocked, due now)."""
        now = clocks.now() if now is None else now
        rows = self.query(
            "SELECT d.connection_id, d.object FROM datasets d"
            " JOIN connections c ON c.id = d.connection_id"
            " WHERE c.refresh_every IS NOT NULL AND d.next_due_at <= ?"
            " AND d.status != 'missing_permission'"
            " ORDER BY d.connection_id, d.position",
            (now,),
        )
        due: dict[str, list[str]] = {}
        for r in rows:
            due.setdefault(r[0], []).append(r[1])
        return {k: tuple(v) for k, v in due.items()}

    # -- refresh runs -----------------------------------------------------------------------------
    def record_run_start(
        self,
        connection_id: str,
        objects: Iterable[str],
        trigger: str = "schedule",
        started_at: float | None = None,
    ) -> str:
        """A refresh run began; returns its id for :meth:`record_run_finish`."""
        run_id = new_id("run_")
        at = clocks.now() if started_at is None else started_at
        with self.write() as db:
            db.execute(
                "INSERT INTO refresh_runs (id, connection_id, objects, trigger, started_at,"
                " outcome) VALUES (?, ?, ?, ?, ?, 'running')",
                (run_id, connection_id, ",".join(objects), trigger, at),
            )
            db.execute(
                "DELETE FROM refresh_runs WHERE connection_id = ? AND id NOT IN"
                " (SELECT id FROM refresh_runs WHERE connection_id = ?"
                " ORDER BY started_at DESC LIMIT ?)",
                (connection_id, connection_id, RUNS_KEPT),
            )
        return run_id

    def record_run_finish(
        self,
        run_id: str,
        outcome: RunOutcome | str,
        *,
        records: int | None = None,
        requests: int | None = None,
        error: str | None = None,
        fix: str | None = None,
        finished_at: float | None = None,
    ) -> None:
        """A refresh run ended: how it went, how much it read, and what failed."""
        result = RunOutcome(outcome)
        if result is RunOutcome.RUNNING:
            raise ValueError("a finished run needs an outcome other than running")
        at = clocks.now() if finished_at is None else finished_at
        with self.write() as db:
            db.execute(
                "UPDATE refresh_runs SET finished_at = ?, outcome = ?, records = ?, requests = ?,"
                " error = ?, fix = ? WHERE id = ?",
                (at, result.value, records, requests, error, fix, run_id),
            )

    def fail_unfinished_runs(
        self, error: str = "Flitch stopped during the run.", connection_id: str | None = None
    ) -> int:
        """Close runs left ``running`` by a process that died (of one connection, if given:
        call it holding that connection's writer lock); returns how many."""
        with self.write() as db:
            return db.execute(
                "UPDATE refresh_runs SET outcome = 'failed', finished_at = ?, error = ?,"
                " fix = 'The next scheduled refresh runs it again.' WHERE outcome = 'running'"
                " AND (CAST(? AS TEXT) IS NULL OR connection_id = ?)",
                (clocks.now(), error, connection_id, connection_id),
            ).rowcount

    def set_can_read_events(self, connection_id: str, readable: bool) -> None:
        """Record whether the key can read ``/v1/events`` (a refresh found out it changed)."""
        with self.write() as db:
            db.execute(
                "UPDATE connections SET can_read_events = ? WHERE id = ?",
                (int(readable), connection_id),
            )

    def last_run_at(
        self, connection_id: str, trigger: str, outcome: RunOutcome | str = RunOutcome.OK
    ) -> float | None:
        """When the newest run of this trigger (e.g. ``verify``) with this outcome started."""
        rows = self.query(
            "SELECT max(started_at) FROM refresh_runs WHERE connection_id = ?"
            " AND trigger = ? AND outcome = ?",
            (connection_id, trigger, RunOutcome(outcome).value),
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def runs(self, connection_id: str, limit: int = 20) -> list[RunInfo]:
        """The latest runs of a connection, newest first."""
        rows = self.query(
            "SELECT * FROM refresh_runs WHERE connection_id = ?"
            " ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (connection_id, limit),
        )
        return [
            RunInfo(
                id=r["id"],
                connection_id=r["connection_id"],
                objects=tuple(o for o in r["objects"].split(",") if o),
                trigger=r["trigger"],
                started_at=r["started_at"],
                outcome=RunOutcome(r["outcome"]),
                finished_at=r["finished_at"],
                records=r["records"],
                requests=r["requests"],
                error=r["error"],
                fix=r["fix"],
            )
            for r in rows
        ]


def set_statuses(db: Tx, connection_id: str, datasets: Sequence[DatasetState], now: float) -> None:
    for d in datasets:
        db.execute(
            "UPDATE datasets SET status = ?, reason = ?, fix = ?, status_at = ?"
            " WHERE connection_id = ? AND object = ?",
            (d.status.value, d.reason, d.fix, now, connection_id, d.object),
        )
