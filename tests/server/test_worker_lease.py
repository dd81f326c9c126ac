"""A worker whose lease is gone stops the refresh it runs: the connection's jobs were cancelled
(it is being deleted) — the run ends as interrupted with the previous data kept, the job stays
failed, and the worker takes the next job. Two slots run two connections at once."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from flitch.refresh.jobs import Job, JobKind, JobQueue, JobState
from flitch.refresh.worker import Worker
from tests.conftest import TEST_KEY
from tests.server.support import Install, wait_for


def _running(install: Install, connection_id: str) -> bool:
    return any(r.outcome.value == "running" for r in install.service.db.runs(connection_id))


def test_a_cancelled_job_is_stopped_by_its_worker(make_install: Callable[..., Install]) -> None:
    install = make_install()
    settings = dataclasses.replace(install.settings, refresh_workers=True)
    conn = install.service.create("Shop", TEST_KEY, objects="customers,charges").connection
    assert conn is not None
    install.emulator.config.latency_ms = 2000
    queue = JobQueue(install.service.db.db)
    job, _ = queue.enqueue(conn.id, JobKind.REFRESH, requested_by="web")
    assert job is not None
    events: list[tuple[str, str]] = []
    ended: list[Job | None] = []
    with Worker(settings, lease=1.5, on_event=lambda e, j: events.append((e, j.id))) as worker:
        thread = threading.Thread(target=lambda: ended.append(worker.run_one()))
        thread.start()
        wait_for(lambda: _running(install, conn.id), 60, "the refresh to start")
        assert queue.cancel(conn.id, "Stopped: the connection is being deleted.") == 1
        thread.join(60)
    assert events == [("claimed", job.id), ("lost", job.id)]
    stopped = queue.get(job.id)
    assert (stopped.state, stopped.error) == (
        JobState.FAILED,
        "Stopped: the connection is being deleted.",
    )
    run = install.service.db.runs(conn.id)[0]
    assert run.outcome.value == "failed"
    assert "interrupted" in (run.error or "")


def test_two_slots_run_two_connections_at_once(make_install: Callable[..., Install]) -> None:
    install = make_install()
    settings = dataclasses.replace(install.settings, refresh_workers=True)
    ids = []
    for name in ("One", "Two"):
        saved = install.service.create(name, TEST_KEY, objects="customers").connection
        assert saved is not None
        ids.append(saved.id)
    install.emulator.config.latency_ms = 1500
    queue = JobQueue(install.service.db.db)
    for connection_id in ids:
        queue.enqueue(connection_id, JobKind.FULL, requested_by="schedule")
    with Worker(settings, concurrency=2, poll=0.1, lease=10) as worker:
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            wait_for(lambda: all(_running(install, c) for c in ids), 60, "both refreshes at once")
            wait_for(lambda: all(not j.open for j in queue.jobs()), 60, "both jobs done")
        finally:
            worker.request_stop()
            thread.join(60)
    assert [j.state for j in queue.jobs()] == [JobState.DONE, JobState.DONE]
    assert len({j.run_id for j in queue.jobs()}) == 2
