"""Issue 16's cluster on loopback: two ``flitch serve`` replicas and three ``flitch worker``
processes on one real PostgreSQL, twelve connections refreshed on a short interval.

- Every due refresh runs exactly once per interval: each scheduled job ran one refresh, and a
  connection's next job was queued only once an interval had passed since its previous one
  started (a second scheduler queueing the same due work would show as a job too soon).
- A worker killed with ``kill -9`` in the middle of a refresh: another worker finishes the job
  once its lease has run out, and every cache then holds exactly the emulator's ids.
- A session made on one replica works on the other.
- The key's requests, from every process, stay within its limits: the emulator's request log,
  counted per one-second window, never holds more than one process alone may send, and no 429.

The interval is written straight into the metadata (the product offers 15 minutes at least), so
the test asks no endpoint that shows it. The replicas look for due work every 0.3 s
(``FLITCH_SCHEDULER_POLL``), the workers every 0.2 s with 5 s leases; the whole test takes
30-45 s on two shared CPUs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from flitch.cli.app import app
from flitch.refresh.jobs import Job, JobQueue, JobState
from flitch.web import userdb
from flitch.web.users import Role, UserStore
from tests.conftest import TEST_KEY
from tests.refresh.helpers import differences
from tests.server.support import Install, stop, wait_for
from tests.stripe_source.cluster_load import busiest_windows

CONNECTIONS = 12
INTERVAL = 4  # seconds between a connection's refreshes
ROUNDS = 3  # scheduled refreshes each connection has had before the test stops the cluster
LEASE = "5"
#: the key's limit and each endpoint's, in the emulator and in Flitch: lower than Stripe's 25/s,
#: so that twelve connections refreshed at once need pacing across the processes
RATE = 10
ALLOWED = RATE + max(1, int(RATE * 0.1)) + 2  # what one process alone may send in a second
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(client: httpx.Client) -> None:
    form = client.get("/signin?next=/data")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    data = {"name": "ada", "password": PASSWORD, "next": "/data", "csrf_token": token.group(1)}
    assert client.post("/signin", data=data).status_code == 303


@pytest.mark.slow  # about 30-45 s on two shared CPUs; in the normal suite all the same
def test_two_replicas_and_three_workers_share_the_schedule_the_queue_and_the_limits(
    make_pg_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_pg_install(customers=10, test_rps=RATE, endpoint_rps=RATE, latency_ms=20)
    service = install.service
    ids: dict[str, str] = {}
    for i in range(CONNECTIONS):
        saved = service.create(f"shop-{i}", TEST_KEY, objects="customers,charges", refresh="1h")
        assert saved.connection is not None
        ids[saved.connection.id] = f"shop-{i}"
    with service.db.write() as tx:
        tx.execute("UPDATE connections SET refresh_every = ?", (INTERVAL,))
    db = userdb.for_settings(install.settings)
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    UserStore(db, hasher=hasher).add("ada", PASSWORD, Role.ADMIN)
    db.close()
    queue = JobQueue(service.db.db)
    env = install.env(
        FLITCH_TEST_RPS=str(RATE),
        FLITCH_ENDPOINT_RPS=str(RATE),
        FLITCH_MAX_RETRIES="8",
        FLITCH_SCHEDULER_POLL="0.3",
    )
    install.emulator.log.clear()

    def start(name: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "flitch", *args],
                env={**env, **extra},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def scheduled() -> list[Job]:
        return [j for j in queue.jobs(limit=1000) if j.requested_by == "schedule"]

    def rounds_done(least: int) -> bool:
        done: dict[str, int] = defaultdict(int)
        for job in scheduled():
            done[job.connection_id] += job.state is JobState.DONE
        return len(done) == CONNECTIONS and min(done.values()) >= least

    ports = [free_port(), free_port()]
    workers = [
        start(f"worker{i}", "worker", "--poll", "0.2", "--lease", LEASE, "--json") for i in range(3)
    ]
    replicas = [start(f"serve{i}", "serve", "--port", str(p)) for i, p in enumerate(ports)]
    processes = [*workers, *replicas]
    try:
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]

        def up(client: httpx.Client) -> bool:
            try:
                return client.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        for client in clients:
            wait_for(partial(up, client), 120, "a replica to serve")

        # A session made on one replica is valid on the other.
        sign_in(clients[0])
        assert clients[1].get("/api/v1/me").status_code == 401
        clients[1].cookies.update(clients[0].cookies)
        me = clients[1].get("/api/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "ada"

        # Round 1 (every connection is due from its creation), then a worker dies mid-refresh.
        wait_for(lambda: rounds_done(1), 120, "every connection's first scheduled refresh")
        install.emulator.apply_changes("new_charge", 3)
        install.emulator.config.latency_ms = 800  # slow pages: a refresh is caught at work
        victim = workers[0]

        def victims_job() -> Job | None:
            for job in scheduled():
                owner = job.lease_owner or ""
                if job.state is JobState.RUNNING and f":{victim.pid}/" in owner:
                    runs = service.db.runs(job.connection_id)
                    if any(r.outcome.value == "running" for r in runs):  # its refresh began
                        return job
            return None

        held = wait_for(victims_job, 120, "the first worker to run a refresh")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(30)
        install.emulator.config.latency_ms = 20

        def ended() -> Job | None:
            job = queue.get(held.id)
            return None if job.open else job

        finished = wait_for(ended, 120, "the killed job's end")
        assert (finished.state, finished.outcome, finished.attempts) == (JobState.DONE, "ok", 2)

        wait_for(lambda: rounds_done(ROUNDS), 180, f"{ROUNDS} rounds")
        for replica in replicas:  # the schedulers stop; the workers empty the queue
            assert stop(replica) in (0, -signal.SIGTERM)  # uvicorn ends by its signal
        wait_for(lambda: not any(j.open for j in queue.jobs(limit=1000)), 120, "an idle queue")
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)

    # The cluster's requests only: the checks below list the emulator with the same key.
    seen = busiest_windows(r for r in install.emulator.log.entries if r.key_last4 == TEST_KEY[-4:])
    assert seen.rate_limited == 0, seen
    assert seen.key <= ALLOWED, seen
    assert max(seen.endpoints.values()) <= ALLOWED, seen
    assert seen.answered > 10 * RATE  # far more than a second's worth: pacing was needed
    install.emulator.config.test_rps = install.emulator.config.endpoint_rps = None

    jobs = scheduled()
    by_connection: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        assert (job.state, job.outcome) == (JobState.DONE, "ok"), job
        assert job.attempts == (2 if job.id == held.id else 1), job
        by_connection[job.connection_id].append(job)
    assert set(by_connection) == set(ids)
    for connection_id, its_jobs in by_connection.items():
        its_jobs.sort(key=lambda j: j.requested_at)
        for previous, following in pairwise(its_jobs):
            assert previous.started_at is not None
            assert following.requested_at >= previous.started_at + INTERVAL, (previous, following)
        runs = service.db.runs(connection_id)
        ok = {r.id for r in runs if r.trigger == "schedule" and r.outcome.value == "ok"}
        assert ok == {j.run_id for j in its_jobs}  # one refresh per job, none beside them
        failed = [r for r in runs if r.outcome.value != "ok"]
        if connection_id == held.connection_id:
            assert [r.error for r in failed] == ["Flitch stopped during the run."]
        else:
            assert failed == []
        assert differences(install.emulator, TEST_KEY, service, ids[connection_id]) == {}

    for log in tmp_path.glob("*.log"):
        assert TEST_KEY not in log.read_text()


def test_serve_refuses_a_scheduler_poll_of_zero(tmp_path: Path) -> None:
    env = {"FLITCH_HOME": str(tmp_path / "home"), "FLITCH_SCHEDULER_POLL": "0"}
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 2, result.output
    assert "FLITCH_SCHEDULER_POLL=0 is not a poll interval" in result.output
