"""The metadata database: one SQLite file, ``FLITCH_HOME/flitch.db``.

It holds the connections (with their sealed keys; see ``connection_table``), the state of every
dataset (each picked object of a connection) and the history of refresh runs. The web server, the
scheduler and the CLI may all use it at once, from several processes:

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

import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
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
from flitch.errors import FlitchError
from flitch.private import private_file

DB_FILE = "flitch.db"
BUSY_TIMEOUT_MS = 30_000
#: Runs kept per connection; older ones are pruned when a new run starts.
RUNS_KEPT = 200

#: Forward migrations: (version, statements). Append only; never edit a released one.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE connections (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
                key_sealed BLOB NOT NULL,
                key_fingerprint TEXT NOT NULL,
                key_masked TEXT NOT NULL,
                key_last4 TEXT NOT NULL,
                can_read_events INTEGER NOT NULL DEFAULT 0,
                refresh_every INTEGER CHECK (refresh_every IS NULL OR refresh_every > 0),
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                last_tested_at REAL,
                last_test_ok INTEGER,
                last_test_message TEXT,
                last_test_fix TEXT
            )""",
            """CREATE TABLE datasets (
                connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
                object TEXT NOT NULL,
                position INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('ok', 'missing_permission', 'failed')),
                reason TEXT,
                fix TEXT,
                status_at REAL NOT NULL,
                last_refresh_at REAL,
                next_due_at REAL,
                rows INTEGER,
                PRIMARY KEY (connection_id, object)
            ) WITHOUT ROWID""",
            "CREATE INDEX datasets_due ON datasets (next_due_at) WHERE next_due_at IS NOT NULL",
            """CREATE TABLE refresh_runs (
                id TEXT PRIMARY KEY,
                connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
                objects TEXT NOT NULL,
                trigger TEXT NOT NULL,
                started_at REAL NOT NULL,
                finished_at REAL,
                outcome TEXT NOT NULL
                    CHECK (outcome IN ('running', 'ok', 'partial', 'failed')),
                records INTEGER,
                requests INTEGER,
                error TEXT,
                fix TEXT
            )""",
            "CREATE INDEX refresh_runs_by_connection ON refresh_runs (connection_id, started_at)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class MetadataError(FlitchError):
    """The metadata database cannot be used as it is."""


def unusable(path: Path, exc: BaseException) -> MetadataError:
    """The error for a metadata database that cannot be opened, read or written."""
    detail = getattr(exc, "strerror", None) or str(exc)
    if "locked" in detail:
        return MetadataError(
            f"The metadata database {path} stayed locked by another Flitch process ({detail}).",
            "Try again in a moment; if it persists, stop the other `flitch` processes.",
        )
    return MetadataError(
        f"The metadata database {path} cannot be used ({detail}).",
        "Check that FLITCH_HOME is a directory you can write on a disk with free space, or "
        "restore flitch.db from your backup.",
    )


def new_id(prefix: str) -> str:
    """A random id such as ``conn_k3v9…``: 16 lower-case letters and digits after the prefix."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


class MetadataDB:
    """The metadata database of one ``FLITCH_HOME``; safe to share between threads."""

    def __init__(self, home: Path) -> None:
        self.path = home / DB_FILE
        self._lock = threading.RLock()
        try:
            ensure_home(home)
            if not self.path.exists():
                with suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as exc:
            raise unusable(self.path, exc) from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA secure_delete = ON")
            # made 0600 above, or by an older Flitch with the umask's mode; SQLite gives its
            # log and shared-memory files the database's mode
            for suffix in ("", "-wal", "-shm"):
                private_file(self.path.with_name(self.path.name + suffix))
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise unusable(self.path, exc) from None
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> MetadataDB:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: the write lock is taken at the start (others wait for it)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several queries."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Rows of one read-only statement."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def schema_version(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        with self.write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            current = int(db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)
            if current > SCHEMA_VERSION:
                raise MetadataError(
                    f"{self.path} was written by a newer Flitch (schema {current}; this version "
                    f"knows up to {SCHEMA_VERSION}).",
                    "Upgrade Flitch, or point FLITCH_HOME at another directory.",
                )
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, clocks.now()),
                )

    def scrub(self) -> bool:
        """Leave no trace of deleted rows in any file: checkpoint, VACUUM, truncate the WAL.

        Returns False when another process kept the database busy for the whole busy timeout:
        the rows are gone and their pages were zeroed (``secure_delete``), but the file was not
        compacted and old frames may remain in the WAL until later writes overwrite them.
        """
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.execute("VACUUM")
                busy = 1
                for _ in range(3):
                    busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                    if not busy:
                        break
            except sqlite3.OperationalError:  # still locked by another process after the timeout
                return False
            return not busy

    # -- datasets -------------------------------------------------------------------------------
    def datasets(self, connection_id: str) -> list[DatasetInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM datasets WHERE connection_id = ? ORDER BY position",
                (connection_id,),
            ).fetchall()
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
        with self._lock:
            rows = self._conn.execute(
                "SELECT d.connection_id, d.object FROM datasets d"
                " JOIN connections c ON c.id = d.connection_id"
                " WHERE c.refresh_every IS NOT NULL AND d.next_due_at <= ?"
                " AND d.status != 'missing_permission'"
                " ORDER BY d.connection_id, d.position",
                (now,),
            ).fetchall()
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
                " AND (? IS NULL OR connection_id = ?)",
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
        with self._lock:
            row = self._conn.execute(
                "SELECT max(started_at) FROM refresh_runs WHERE connection_id = ?"
                " AND trigger = ? AND outcome = ?",
                (connection_id, trigger, RunOutcome(outcome).value),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def runs(self, connection_id: str, limit: int = 20) -> list[RunInfo]:
        """The latest runs of a connection, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM refresh_runs WHERE connection_id = ?"
                " ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (connection_id, limit),
            ).fetchall()
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


def set_statuses(
    db: sqlite3.Connection, connection_id: str, datasets: Sequence[DatasetState], now: float
) -> None:
    for d in datasets:
        db.execute(
            "UPDATE datasets SET status = ?, reason = ?, fix = ?, status_at = ?"
            " WHERE connection_id = ? AND object = ?",
            (d.status.value, d.reason, d.fix, now, connection_id, d.object),
        )
