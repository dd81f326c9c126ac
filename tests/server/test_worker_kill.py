"""A worker killed with ``kill -9`` in the middle of a refresh: the previous cache stays whole
and readable, the job's lease expires, another worker claims it and runs the refresh again to
the end, and the cache then holds exactly what the emulator lists."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import orjson

from flitch import catalog
from flitch.refresh.jobs import JobKind, JobQueue, JobState
from flitch.refresh.runner import refresh
from tests.conftest import TEST_KEY
from tests.refresh.helpers import cached, differences
from tests.server.support import Install, stop, wait_for

LEASE = "2"
WORKER = ("worker", "--lease", LEASE, "--poll", "0.2", "--json")


def test_a_job_whose_worker_was_killed_is_finished_by_another(
    make_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_install()
    service = install.service
    conn = service.create("Shop", TEST_KEY, objects="customers,charges,invoices").connection
    assert conn is not None
    assert refresh(service, "Shop").ok
    charges = catalog.get("charges")
    before = set(cached(service, "Shop", charges))
    install.emulator.apply_changes("new_charge", 3)
    install.emulator.config.latency_ms = 1500  # each request 1.5 s: the refresh is slow

    queue = JobQueue(service.db.db)
    job, _ = queue.enqueue(conn.id, JobKind.FULL, requested_by="web")
    assert job is not None
    first = install.start(*WORKER, log=tmp_path / "first.log")
    try:
        wait_for(
            lambda: any(r.outcome.value == "running" for r in service.db.runs(conn.id)),
            60,
            "the first worker to start the refresh",
        )
        taken = queue.get(job.id)
        assert taken.state is JobState.RUNNING
        assert taken.lease_owner is not None
        assert taken.lease_owner.split(":")[1].startswith(str(first.pid))
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()

    # The worker died holding the lease: the cache is the previous version, whole.
    assert set(cached(service, "Shop", charges)) == before
    assert queue.get(job.id).state is JobState.RUNNING

    install.emulator.config.latency_ms = 50
    second = install.start(*WORKER, log=tmp_path / "second.log")
    try:
        done = wait_for(
            lambda: (j := queue.get(job.id)) and not j.open and j,
            120,
            "another worker to finish the job",
        )
    finally:
        assert stop(second) == 0  # SIGTERM: a clean stop
    assert (done.state, done.outcome, done.attempts) == (JobState.DONE, "ok", 2)
    assert done.lease_owner is None
    events = [
        orjson.loads(line)
        for line in (tmp_path / "second.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert [(e["event"], e["job"]["id"]) for e in events] == [("claimed", job.id), ("done", job.id)]
    assert events[0]["job"]["worker"].endswith(f":{second.pid}/0")
    assert differences(install.emulator, TEST_KEY, service, "Shop") == {}
    assert len(set(cached(service, "Shop", charges))) == len(before) + 3
    runs = service.db.runs(conn.id)
    assert [r.outcome.value for r in runs[:2]] == ["ok", "failed"]
    assert runs[1].error == "Flitch stopped during the run."  # the killed worker's run
    assert runs[0].id == done.run_id
    assert runs[0].trigger == "web"
    log = (tmp_path / "second.log").read_text()
    assert TEST_KEY not in log
    assert TEST_KEY not in (tmp_path / "first.log").read_text()


def test_sigterm_gives_the_running_job_back_at_once(
    make_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_install()
    service = install.service
    conn = service.create("Shop", TEST_KEY, objects="customers,charges").connection
    assert conn is not None
    install.emulator.config.latency_ms = 1500
    queue = JobQueue(service.db.db)
    job, _ = queue.enqueue(conn.id, JobKind.REFRESH, requested_by="manual")
    assert job is not None
    worker = install.start("worker", "--lease", "60", "--poll", "0.2", log=tmp_path / "w.log")
    try:
        wait_for(
            lambda: any(r.outcome.value == "running" for r in service.db.runs(conn.id)),
            60,
            "the worker to start the refresh",
        )
    finally:
        assert stop(worker) == 0
    back = queue.get(job.id)
    # given back without waiting for its 60 s lease: the next worker may take it now
    assert (back.state, back.attempts, back.lease_owner) == (JobState.QUEUED, 0, None)
    run = service.db.runs(conn.id)[0]
    assert run.outcome.value == "failed"
    assert "interrupted" in (run.error or "")
    assert "stopping (SIGTERM)" in (tmp_path / "w.log").read_text()
