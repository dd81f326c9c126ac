"""The refresh workers' queue on each engine: a job is queued once, claimed by one worker at a
time, one running job per connection across workers, an expired lease claimed again, a job
whose workers keep dying failed, a stopping worker's job given back."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flitch.errors import NotFound
from flitch.metadb import Database, IntegrityError, open_database
from flitch.refresh.jobs import JobKind, JobQueue, JobState
from tests.refresh.helpers import Clock

NOW = 1_800_000_000.0
LEASE = 30.0


def ticking() -> Callable[[], float]:
    """A clock a millisecond later at each reading (jobs queued in turn keep their order)."""
    readings = itertools.count()
    return lambda: NOW + next(readings) / 1000


def add_connection(db: Database, connection_id: str) -> str:
    with db.write() as tx:
        tx.execute(
            "INSERT INTO connections (id, name, name_key, mode, key_sealed, key_fingerprint,"
            " key_masked, key_last4, created_at, updated_at)"
            " VALUES (?, ?, ?, 'test', ?, 'f', 'rk_test_…abcd', 'abcd', ?, ?)",
            (connection_id, connection_id, connection_id, b"sealed", NOW, NOW),
        )
    return connection_id


@pytest.fixture
def dbs(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Database, Database]]:
    """Two openings of one database, as two worker processes have."""
    first = open_database(tmp_path, database_url)
    second = open_database(tmp_path, database_url)
    yield first, second
    first.close()
    second.close()


def test_a_job_of_a_kind_waits_once_per_connection(dbs: tuple[Database, Database]) -> None:
    db, _ = dbs
    queue = JobQueue(db, clock=ticking())
    conn = add_connection(db, "conn_a")
    first, new = queue.enqueue(conn, JobKind.REFRESH, requested_by="schedule")
    assert new
    assert first is not None
    assert first.state is JobState.QUEUED
    again, new_again = queue.enqueue(conn, "refresh", requested_by="web")
    assert (again is not None and again.id, new_again) == (first.id, False)
    verify, new_verify = queue.enqueue(conn, JobKind.VERIFY, requested_by="schedule")
    assert new_verify
    assert verify is not None
    assert verify.id != first.id
    assert queue.enqueue(conn, JobKind.FULL, requested_by="schedule", only_if_idle=True) == (
        None,
        False,
    )
    assert [j.kind for j in queue.jobs(conn)] == [JobKind.VERIFY, JobKind.REFRESH]
    with pytest.raises(ValueError):
        queue.enqueue(conn, "everything", requested_by="web")
    with pytest.raises(NotFound):
        queue.get("job_nothing")


def test_two_workers_share_the_queue_one_job_per_connection_at_a_time(
    dbs: tuple[Database, Database],
) -> None:
    """Two workers (each its own opening of the database) claim 24 jobs of 8 connections at
    once: each job runs exactly once and no connection ever has two jobs running."""
    connections = [add_connection(dbs[0], f"conn_{i}") for i in range(8)]
    queue = JobQueue(dbs[0], clock=lambda: NOW)
    for conn in connections:
        for kind in JobKind:
            queue.enqueue(conn, kind, requested_by="schedule")
    ran: list[tuple[str, str]] = []
    active: set[str] = set()
    overlaps: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(2)

    def work(db: Database, name: str) -> None:
        mine = JobQueue(db, clock=lambda: NOW, lease=LEASE)
        start.wait()
        idle = 0
        while idle < 3:
            job = mine.claim(name)
            if job is None:
                idle += 1
                continue
            idle = 0
            with guard:
                if job.connection_id in active:
                    overlaps.append(job.connection_id)
                active.add(job.connection_id)
                ran.append((job.id, name))
            assert mine.heartbeat(job.id, name, {"stage": "reading"})
            with guard:
                active.discard(job.connection_id)
            assert mine.finish(job.id, name, failed=False, outcome="ok")

    threads = [threading.Thread(target=work, args=(db, f"w{i}")) for i, db in enumerate(dbs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert overlaps == []
    assert len(ran) == 24
    assert len({job_id for job_id, _ in ran}) == 24
    assert {j.state for j in queue.jobs()} == {JobState.DONE}
    assert {j.attempts for j in queue.jobs()} == {1}
    assert all(j.progress == {"stage": "reading"} for j in queue.jobs())


def test_the_index_refuses_a_second_running_job_of_a_connection(
    dbs: tuple[Database, Database],
) -> None:
    db, _ = dbs
    conn = add_connection(db, "conn_a")
    queue = JobQueue(db, clock=ticking())
    queue.enqueue(conn, JobKind.REFRESH, requested_by="web")
    queue.enqueue(conn, JobKind.VERIFY, requested_by="web")
    claimed = queue.claim("w1")
    assert claimed is not None
    assert claimed.kind is JobKind.REFRESH
    assert queue.claim("w2") is None  # the verify waits for the refresh
    with pytest.raises(IntegrityError), db.write() as tx:
        tx.execute("UPDATE refresh_jobs SET state = 'running' WHERE state = 'queued'")


def test_an_expired_lease_is_claimed_by_another_worker(dbs: tuple[Database, Database]) -> None:
    clock = Clock(NOW)
    first, second = (JobQueue(db, clock=clock, lease=LEASE) for db in dbs)
    conn = add_connection(dbs[0], "conn_a")
    job, _ = first.enqueue(conn, JobKind.FULL, requested_by="web")
    assert job is not None
    taken = first.claim("dead-worker")
    assert taken is not None
    assert taken.lease_expires_at == NOW + LEASE
    clock.t = NOW + LEASE / 2
    assert first.heartbeat(job.id, "dead-worker", {"stage": "reading", "records": 10})
    clock.t = NOW + LEASE  # renewed: not expired yet
    assert second.claim("other") is None
    clock.t = NOW + LEASE / 2 + LEASE + 1  # no heartbeat since: expired
    again = second.claim("other")
    assert again is not None
    assert again.id == job.id
    assert (again.lease_owner, again.attempts) == ("other", 2)
    assert again.progress == {"stage": "reading", "records": 10}
    assert not first.heartbeat(job.id, "dead-worker")  # it lost its lease
    assert not first.finish(job.id, "dead-worker", failed=False)
    assert second.finish(job.id, "other", failed=False, outcome="ok", run_id="run_x")
    done = second.get(job.id)
    assert (done.state, done.outcome, done.run_id, done.lease_owner) == (
        JobState.DONE,
        "ok",
        "run_x",
        None,
    )


def test_a_job_whose_workers_keep_dying_is_failed(dbs: tuple[Database, Database]) -> None:
    clock = Clock(NOW)
    queue = JobQueue(dbs[0], clock=clock, lease=LEASE, max_attempts=2)
    conn = add_connection(dbs[0], "conn_a")
    job, _ = queue.enqueue(conn, JobKind.REFRESH, requested_by="schedule")
    assert job is not None
    for attempt in range(2):
        assert queue.claim(f"w{attempt}") is not None
        clock.t += LEASE + 1
    assert queue.claim("w3") is None
    failed = queue.get(job.id)
    assert failed.state is JobState.FAILED
    assert "2 times" in (failed.error or "")
    assert failed.fix


def test_a_stopping_worker_gives_its_job_back(dbs: tuple[Database, Database]) -> None:
    queue = JobQueue(dbs[0], clock=lambda: NOW, lease=LEASE)
    conn = add_connection(dbs[0], "conn_a")
    job, _ = queue.enqueue(conn, JobKind.REFRESH, requested_by="web")
    assert job is not None
    assert queue.claim("w1") is not None
    assert queue.release(job.id, "w1")
    back = queue.get(job.id)
    assert (back.state, back.attempts, back.lease_owner) == (JobState.QUEUED, 0, None)
    retaken = queue.claim("w2")
    assert retaken is not None
    assert retaken.attempts == 1


def test_cancelled_jobs_end_and_their_worker_loses_the_lease(
    dbs: tuple[Database, Database],
) -> None:
    queue = JobQueue(dbs[0], clock=lambda: NOW, lease=LEASE)
    conn = add_connection(dbs[0], "conn_a")
    running, _ = queue.enqueue(conn, JobKind.REFRESH, requested_by="web")
    queue.claim("w1")
    queue.enqueue(conn, JobKind.VERIFY, requested_by="web")
    assert queue.cancel(conn, "The connection was deleted.") == 2
    assert running is not None
    assert not queue.heartbeat(running.id, "w1")
    assert {j.state for j in queue.jobs(conn)} == {JobState.FAILED}


def test_the_scheduler_queues_only_what_is_still_due(dbs: tuple[Database, Database]) -> None:
    """Read in the enqueueing transaction: a refresh that ended after the scheduler looked at
    what was due (its datasets now due an interval later) is not queued again."""
    db, _ = dbs
    conn = add_connection(db, "conn_a")
    with db.write() as tx:
        tx.execute(
            "INSERT INTO datasets (connection_id, object, position, status, status_at,"
            " next_due_at) VALUES (?, 'customers', 0, 'ok', ?, ?)",
            (conn, NOW, NOW + 3600),
        )
    queue = JobQueue(db, clock=lambda: NOW)
    assert queue.enqueue(conn, JobKind.REFRESH, requested_by="schedule", due_at=NOW) == (
        None,
        False,
    )
    job, new = queue.enqueue(conn, JobKind.REFRESH, requested_by="schedule", due_at=NOW + 3600)
    assert new
    assert job is not None
