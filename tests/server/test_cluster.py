"""A small cluster on loopback, metadata in PostgreSQL: two scheduler processes and two
``flitch worker`` processes, four connections. Every due refresh runs exactly once per round
(a round: the test makes the datasets due again, as an interval passing would), by whichever
worker, and each cache then equals the emulator's data."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from flitch.refresh.jobs import JobQueue
from tests.conftest import TEST_KEY
from tests.refresh.helpers import differences
from tests.server.support import Install, stop, wait_for

NAMES = ("A", "B", "C", "D")


def test_every_due_refresh_runs_once_per_round(
    make_pg_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_pg_install(customers=10)
    service = install.service
    ids = {}
    for name in NAMES:
        saved = service.create(name, TEST_KEY, objects="customers,charges", refresh="1h")
        assert saved.connection is not None
        ids[name] = saved.connection.id
    queue = JobQueue(service.db.db)

    def scheduled_runs(name: str) -> int:
        runs = service.db.runs(ids[name])
        assert all(r.outcome.value in ("ok", "running") for r in runs), runs
        return sum(1 for r in runs if r.trigger == "schedule" and r.outcome.value == "ok")

    def settled(want: dict[str, int]) -> bool:
        idle = not any(j.open for j in queue.jobs())
        return idle and {n: scheduled_runs(n) for n in NAMES} == want

    def make_due(names: tuple[str, ...]) -> None:
        with service.db.write() as tx:
            for name in names:
                tx.execute(
                    "UPDATE datasets SET next_due_at = 0 WHERE connection_id = ?", (ids[name],)
                )

    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(2):
            processes.append(
                install.start(
                    "scheduler",
                    "--poll",
                    "0.2",
                    "--verify-every",
                    "off",
                    log=tmp_path / f"scheduler{i}.log",
                )
            )
            processes.append(
                install.start(
                    "worker", "--poll", "0.2", "--lease", "10", log=tmp_path / f"worker{i}.log"
                )
            )
        # round 1: every connection is due from its creation
        wait_for(lambda: settled(dict.fromkeys(NAMES, 1)), 120, "round 1")
        make_due(NAMES)
        wait_for(lambda: settled(dict.fromkeys(NAMES, 2)), 120, "round 2")
        # round 3, of one connection: by its end, a stray second job of round 2 would show
        make_due(("A",))
        wait_for(lambda: settled({"A": 3, "B": 2, "C": 2, "D": 2}), 120, "round 3")
    finally:
        for process in processes:
            stop(process)
    assert len(queue.jobs()) == 9
    assert {j.requested_by for j in queue.jobs()} == {"schedule"}
    workers = {w for j in queue.jobs() for w in [j.to_dict()["worker"]]}
    assert workers == {None}  # every lease given back
    for name in NAMES:
        assert differences(install.emulator, TEST_KEY, service, name) == {}
