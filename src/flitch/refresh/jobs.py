"""The refresh workers' queue, kept in the metadata database (server mode).

A job asks for one connection to be refreshed (``refresh``), read again in full (``full``) or
checked against Stripe (``verify``), on behalf of the schedule or of a user. It is ``queued``
until a worker claims it, ``running`` while the worker holds its lease, then ``done`` or
``failed``. The table and its two partial unique indexes are a step of the connections'
migrations (:mod:`flitch.metadb.schema`):

- at most one job *runs* per connection, whatever the number of workers and machines (the
  claim looks for it, and the index refuses a second should two claims cross);
- at most one job of a kind *waits* per connection, so asking twice (the scheduler at every
  poll, a user pressing the button again) does not queue the same work twice.

Claiming takes the oldest claimable job in one transaction: ``SELECT … FOR UPDATE SKIP LOCKED``
on PostgreSQL (claims on several machines pass each other instead of queueing) and ``BEGIN
IMMEDIATE`` on SQLite (one file, one writer). These transactions do not take the metadata's
writers' lock (:data:`flitch.metadb.database.WRITERS_LOCK`): the queue's rows lock themselves.

A lease is the worker's name and an expiry; the worker renews it (:meth:`JobQueue.heartbeat`)
while the refresh runs and writes its progress there, so any process can follow the job. A
worker that dies (``kill -9``, a lost machine) stops renewing: once the lease has expired the
job is claimable again and another worker runs it from the start. Nothing is lost meanwhile,
because a refresh publishes its new version in one rename (the previous cache stays whole until
then). A job whose workers died :data:`MAX_ATTEMPTS` times is failed rather than tried forever.

Times are the Flitch clock's (``clock=``): the machines sharing a queue need their clocks in
step to well within a lease (NTP does that).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from flitch import clock as clocks
from flitch.connections.records import iso
from flitch.errors import NotFound
from flitch.metadb import Database, IntegrityError, Row, Tx, dialect

#: Seconds a lease lasts unless renewed (a worker renews it every third of that).
DEFAULT_LEASE = 60.0
#: Times a job is claimed before it is failed (each earlier worker died holding it).
MAX_ATTEMPTS = 3
#: Finished jobs kept per connection (older ones are deleted when a new job is queued).
FINISHED_KEPT = 50
ID_PREFIX = "job_"


class JobKind(StrEnum):
    REFRESH = "refresh"
    FULL = "full"
    VERIFY = "verify"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    """One row of the queue."""

    id: str
    connection_id: str
    kind: JobKind
    objects: tuple[str, ...]
    requested_by: str
    state: JobState
    lease_owner: str | None
    lease_expires_at: float | None
    attempts: int
    requested_at: float
    started_at: float | None
    heartbeat_at: float | None
    finished_at: float | None
    run_id: str | None
    outcome: str | None
    progress: dict[str, Any] | None
    error: str | None
    fix: str | None

    @classmethod
    def of(cls, row: Row) -> Job:
        return cls(
            id=row["id"],
            connection_id=row["connection_id"],
            kind=JobKind(row["kind"]),
            objects=tuple(o for o in str(row["objects"]).split(",") if o),
            requested_by=row["requested_by"],
            state=JobState(row["state"]),
            lease_owner=row["lease_owner"],
            lease_expires_at=row["lease_expires_at"],
            attempts=int(row["attempts"]),
            requested_at=row["requested_at"],
            started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"],
            finished_at=row["finished_at"],
            run_id=row["run_id"],
            outcome=row["outcome"],
            progress=orjson.loads(row["progress"]) if row["progress"] else None,
            error=row["error"],
            fix=row["fix"],
        )

    @property
    def open(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "kind": self.kind.value,
            "objects": list(self.objects),
            "requested_by": self.requested_by,
            "state": self.state.value,
            "worker": self.lease_owner,
            "lease_expires_at": iso(self.lease_expires_at),
            "attempts": self.attempts,
            "requested_at": iso(self.requested_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "run_id": self.run_id,
            "outcome": self.outcome,
            "progress": self.progress,
            "error": self.error,
            "fix": self.fix,
        }


_CLAIMABLE = (
    "SELECT id, state, attempts FROM refresh_jobs j"
    " WHERE (j.state = 'queued' AND NOT EXISTS (SELECT 1 FROM refresh_jobs r"
    " WHERE r.connection_id = j.connection_id AND r.state = 'running'))"
    " OR (j.state = 'running' AND j.lease_expires_at < ?)"
    " ORDER BY j.requested_at, j.id LIMIT 1"
)
_LOCKING = {dialect.SQLITE: "", dialect.POSTGRES: " FOR UPDATE SKIP LOCKED"}


class JobQueue:
    """The queue in one metadata database; safe to share between threads."""

    def __init__(
        self,
        db: Database,
        *,
        lease: float = DEFAULT_LEASE,
        clock: Callable[[], float] = clocks.now,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if lease <= 0:
            raise ValueError("a lease must last a positive number of seconds")
        self.db = db
        self.lease = lease
        self.clock = clock
        self.max_attempts = max_attempts

    @contextmanager
    def _tx(self) -> Iterator[Tx]:
        """A write transaction of the queue's own: SQLite's one writer, or on PostgreSQL a
        plain transaction whose rows lock themselves (no global lock)."""
        if self.db.engine == dialect.SQLITE:
            with self.db.write() as tx:
                yield tx
            return
        with self.db.maintenance() as tx:
            tx.execute("BEGIN")
            try:
                yield tx
            except BaseException:
                tx.execute("ROLLBACK")
                raise
            tx.execute("COMMIT")

    # -- asking for work ---------------------------------------------------------------------
    def enqueue(
        self,
        connection_id: str,
        kind: JobKind | str,
        *,
        requested_by: str,
        objects: Iterable[str] = (),
        only_if_idle: bool = False,
        due_at: float | None = None,
    ) -> tuple[Job | None, bool]:
        """Queue a job; returns it and whether it is new.

        A job of the same kind already waiting for the connection is returned instead of a
        second one. With ``only_if_idle`` (the scheduler) nothing is queued while any job of
        the connection waits or runs: ``(None, False)``. With ``due_at``, nothing is queued
        unless one of the connection's datasets is still due then: read in the same
        transaction, so a refresh that ended since the scheduler looked is not queued again.
        """
        kind = JobKind(kind)
        now = self.clock()
        job_id = ID_PREFIX + secrets.token_hex(8)
        with self._tx() as tx:
            if (
                only_if_idle
                and tx.execute(
                    "SELECT 1 FROM refresh_jobs WHERE connection_id = ?"
                    " AND state IN ('queued', 'running')",
                    (connection_id,),
                ).fetchone()
            ):
                return None, False
            if (
                due_at is not None
                and not tx.execute(
                    "SELECT 1 FROM datasets WHERE connection_id = ? AND next_due_at <= ?"
                    " AND status != 'missing_permission'",
                    (connection_id, due_at),
                ).fetchone()
            ):
                return None, False
            inserted = tx.execute(
                "INSERT INTO refresh_jobs (id, connection_id, kind, objects, requested_by, state,"
                " requested_at) VALUES (?, ?, ?, ?, ?, 'queued', ?)"
                " ON CONFLICT (connection_id, kind) WHERE state = 'queued' DO NOTHING",
                (job_id, connection_id, kind.value, ",".join(objects), requested_by, now),
            ).rowcount
            if inserted:
                _prune(tx, connection_id)
                return _one(tx, "id = ?", (job_id,)), True
            waiting = _one(
                tx,
                "connection_id = ? AND kind = ? AND state = 'queued'",
                (connection_id, kind.value),
            )
            return waiting, False

    # -- doing it ------------------------------------------------------------------------------
    def claim(self, owner: str) -> Job | None:
        """Lease the oldest job a worker may run now (None: nothing to do)."""
        for _ in range(3):
            try:
                return self._claim(owner)
            except IntegrityError:
                # another worker claimed a job of the same connection at the same moment
                continue
        return None

    def _claim(self, owner: str) -> Job | None:
        now = self.clock()
        with self._tx() as tx:
            while True:
                row = tx.execute(_CLAIMABLE + _LOCKING[tx.engine], (now,)).fetchone()
                if row is None:
                    return None
                if row["state"] == JobState.RUNNING and row["attempts"] >= self.max_attempts:
                    tx.execute(
                        "UPDATE refresh_jobs SET state = 'failed', finished_at = ?,"
                        " lease_owner = NULL, error = ?, fix = ? WHERE id = ?",
                        (
                            now,
                            f"The workers running it stopped without finishing, "
                            f"{row['attempts']} times.",
                            "Look at the workers' logs (out of memory?), then ask again.",
                            row["id"],
                        ),
                    )
                    continue
                tx.execute(
                    "UPDATE refresh_jobs SET state = 'running', lease_owner = ?,"
                    " lease_expires_at = ?, attempts = attempts + 1, started_at = ?,"
                    " heartbeat_at = ? WHERE id = ?",
                    (owner, now + self.lease, now, now, row["id"]),
                )
                return _one(tx, "id = ?", (row["id"],))

    def heartbeat(self, job_id: str, owner: str, progress: dict[str, Any] | None = None) -> bool:
        """Renew the lease (and record the progress); False: the lease is no longer ours."""
        now = self.clock()
        with self._tx() as tx:
            return bool(
                tx.execute(
                    "UPDATE refresh_jobs SET lease_expires_at = ?, heartbeat_at = ?,"
                    " progress = coalesce(?, progress)"
                    " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (now + self.lease, now, _dumps(progress), job_id, owner),
                ).rowcount
            )

    def finish(
        self,
        job_id: str,
        owner: str,
        *,
        failed: bool,
        outcome: str | None = None,
        run_id: str | None = None,
        error: str | None = None,
        fix: str | None = None,
        progress: dict[str, Any] | None = None,
    ) -> bool:
        """The job ended (False: its lease was lost, and another worker owns it now)."""
        with self._tx() as tx:
            return bool(
                tx.execute(
                    "UPDATE refresh_jobs SET state = ?, finished_at = ?, lease_owner = NULL,"
                    " lease_expires_at = NULL, outcome = ?, run_id = ?, error = ?, fix = ?,"
                    " progress = coalesce(?, progress)"
                    " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (
                        (JobState.FAILED if failed else JobState.DONE).value,
                        self.clock(),
                        outcome,
                        run_id,
                        error,
                        fix,
                        _dumps(progress),
                        job_id,
                        owner,
                    ),
                ).rowcount
            )

    def release(self, job_id: str, owner: str) -> bool:
        """Give a job back unfinished (the worker is stopping): queued again at once, and this
        attempt does not count. If another job of its kind waits meanwhile, that one stays."""
        try:
            with self._tx() as tx:
                return bool(
                    tx.execute(
                        "UPDATE refresh_jobs SET state = 'queued', lease_owner = NULL,"
                        " lease_expires_at = NULL, attempts = attempts - 1"
                        " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                        (job_id, owner),
                    ).rowcount
                )
        except IntegrityError:
            return self.finish(
                job_id, owner, failed=True, error="Stopped; an equal job waits in the queue."
            )

    def cancel(self, connection_id: str, reason: str) -> int:
        """Fail the connection's open jobs (a running one's worker sees its lease gone and
        stops); returns how many."""
        with self._tx() as tx:
            return tx.execute(
                "UPDATE refresh_jobs SET state = 'failed', finished_at = ?, lease_owner = NULL,"
                " error = ? WHERE connection_id = ? AND state IN ('queued', 'running')",
                (self.clock(), reason, connection_id),
            ).rowcount

    # -- looking -------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        with self.db.read() as tx:
            job = _one(tx, "id = ?", (job_id,))
        if job is None:
            raise NotFound(
                f"No job {job_id!r} is in the queue.",
                "Finished jobs are kept for a while; open the connection's page for its runs.",
            )
        return job

    def jobs(self, connection_id: str | None = None, *, limit: int = 100) -> list[Job]:
        """The newest jobs (of one connection), newest first."""
        where = "connection_id = ?" if connection_id else "1 = 1"
        params: tuple[object, ...] = (connection_id,) if connection_id else ()
        rows = self.db.query(
            f"SELECT * FROM refresh_jobs WHERE {where}"  # noqa: S608 (fixed text)
            " ORDER BY requested_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [Job.of(r) for r in rows]

    def latest(self, connection_id: str) -> Job | None:
        found = self.jobs(connection_id, limit=1)
        return found[0] if found else None


def _one(tx: Tx, where: str, params: tuple[object, ...]) -> Job | None:
    row = tx.execute(f"SELECT * FROM refresh_jobs WHERE {where}", params).fetchone()  # noqa: S608
    return None if row is None else Job.of(row)


def _prune(tx: Tx, connection_id: str) -> None:
    tx.execute(
        "DELETE FROM refresh_jobs WHERE connection_id = ? AND state IN ('done', 'failed')"
        " AND id NOT IN (SELECT id FROM refresh_jobs WHERE connection_id = ?"
        " AND state IN ('done', 'failed') ORDER BY requested_at DESC LIMIT ?)",
        (connection_id, connection_id, FINISHED_KEPT),
    )


def _dumps(progress: dict[str, Any] | None) -> str | None:
    return None if progress is None else orjson.dumps(progress).decode()


__all__ = ["DEFAULT_LEASE", "MAX_ATTEMPTS", "Job", "JobKind", "JobQueue", "JobState"]
