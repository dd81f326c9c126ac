"""One scheduler whichever processes run: with workers on, the scheduler queues due work
instead of running it (once per connection, whatever the polls); two scheduler processes on one
install — only the one holding the scheduler's lock queues, and the other takes over when the
first is killed."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson

from flitch.metadb import Database
from flitch.refresh.jobs import JobKind, JobQueue, JobState
from flitch.refresh.leader import Leadership
from flitch.refresh.scheduler import Scheduler
from tests.conftest import TEST_KEY
from tests.server.support import Install, stop, wait_for

SCHEDULER = ("scheduler", "--poll", "0.2", "--verify-every", "off", "--json")


def test_with_workers_on_the_scheduler_queues_due_work_once(
    make_install: Callable[..., Install],
) -> None:
    install = make_install()
    service = install.service
    on = service.create("On", TEST_KEY, objects="customers,charges", refresh="1h").connection
    service.create("Off", TEST_KEY, objects="customers")
    assert on is not None
    sched = Scheduler(install.settings, queue=True, verify_every=None)
    first = sched.run_once()
    assert [(r.connection, r.kind, r.outcome) for r in first] == [("On", "refresh", "queued")]
    assert first[0].objects == ("customers", "charges")
    assert sched.run_once() == []  # its job waits: nothing more is queued
    queue = JobQueue(service.db.db)
    [job] = queue.jobs()
    assert (job.kind, job.requested_by, job.objects) == (
        JobKind.REFRESH,
        "schedule",
        ("customers", "charges"),
    )
    assert not service.db.runs(on.id)  # nothing ran in this process


def test_one_process_holds_the_scheduler_lock(install_leadership: list[Leadership]) -> None:
    first, second = install_leadership
    assert first.hold()
    assert not second.hold()
    assert first.hold()  # still its own
    first.release()
    assert second.hold()
    assert not first.hold()


def _queued_lines(log: Path) -> list[str]:
    lines = [orjson.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    return [x["connection"] for x in lines if x["outcome"] == "queued"]


def _finish_open_jobs(db: Database) -> int:
    """What a worker would do (the test plays it): every open job done."""
    with db.write() as tx:
        return tx.execute(
            "UPDATE refresh_jobs SET state = 'done', lease_owner = NULL"
            " WHERE state IN ('queued', 'running')"
        ).rowcount


def test_two_scheduler_processes_only_one_queues(
    make_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_install(customers=5)
    service = install.service
    names = ["A", "B", "C"]
    for name in names:
        service.create(name, TEST_KEY, objects="customers", refresh="1h")
    queue = JobQueue(service.db.db)

    def queued() -> list[str]:
        return sorted(
            c.name
            for j in queue.jobs()
            if j.state is JobState.QUEUED
            for c in [service.get(j.connection_id)]
        )

    logs = [tmp_path / "s0.log", tmp_path / "s1.log"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for log in logs:
            processes.append(install.start(*SCHEDULER, log=log))
        # Three rounds: each time the jobs are done (nothing refreshed, so still due), the
        # scheduler queues them again; meanwhile the other process polls every 0.2 s too.
        for _ in range(3):
            wait_for(lambda: queued() == names, 60, "the due connections to be queued")
            assert _finish_open_jobs(service.db.db) == 3
        wait_for(lambda: queued() == names, 60, "the fourth round")

        def counts() -> list[int]:
            return [len(_queued_lines(log)) for log in logs]

        # every line written (a line follows its job's commit)
        wait_for(lambda: sum(counts()) >= 12, 30, "the lines of four rounds")
        assert sorted(counts()) == [0, 12]
        leader = counts().index(12)
        os.kill(processes[leader].pid, signal.SIGKILL)
        processes[leader].wait(30)
        assert _finish_open_jobs(service.db.db) == 3
        # The lock went with the killed process: the other one queues now.
        wait_for(lambda: queued() == names, 60, "the other scheduler to take over")
        follower = logs[1 - leader]
        wait_for(lambda: len(_queued_lines(follower)) >= 3, 30, "the follower's lines")
        assert sorted(_queued_lines(follower)) == names
        assert len(_queued_lines(logs[leader])) == 12
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
