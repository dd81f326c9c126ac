"""A worker's refresh and two replicas' live dashboards of one key, at once, in server mode:
together they stay within the key's Stripe limits, as one process alone does.

Real parts: the metadata and the key's budget in PostgreSQL, the emulator with Stripe's test-mode
limits (25/s for the key and per endpoint, 429 beyond) and 100 ms of latency, a ``flitch
worker`` process running a full refresh, and two ``flitch dashboard --live`` processes (what a
replica does for a live page). The emulator's request log is the judge: no second holds more
requests than one process alone lets through (29 of a 25/s key), none is refused, and every
process ends well.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from flitch.refresh.jobs import JobKind, JobQueue
from tests.conftest import TEST_KEY
from tests.server.support import Install, stop, wait_for
from tests.stripe_source.cluster_load import busiest_windows

RATE = 25
ALLOWED = 29  # the most one process alone was seen to let into a second of a 25/s key


def test_a_refresh_and_two_live_dashboards_share_the_keys_limits(
    make_pg_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_pg_install(
        customers=300, test_rps=RATE, endpoint_rps=RATE, live_rps=100, latency_ms=100
    )
    service = install.service
    conn = service.create("Shop", TEST_KEY).connection
    assert conn is not None
    env = install.env(
        FLITCH_TEST_RPS=str(RATE),
        FLITCH_ENDPOINT_RPS=str(RATE),
        FLITCH_LIVE_RPS="100",
        FLITCH_MAX_RETRIES="8",
    )
    install.emulator.log.clear()

    queue = JobQueue(service.db.db)
    job, _ = queue.enqueue(conn.id, JobKind.FULL, requested_by="web")
    assert job is not None
    flitch = [sys.executable, "-m", "flitch"]
    with (tmp_path / "worker.log").open("ab") as out:
        worker = subprocess.Popen(
            [*flitch, "worker", "--poll", "0.2", "--json"], env=env, stdout=out, stderr=out
        )
    boards = [
        subprocess.Popen(
            [*flitch, "dashboard", "Shop", board, "--live", "--last", "12m", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for board in ("payments", "billing")
    ]
    try:
        answers = [b.communicate(timeout=300) for b in boards]
        done = wait_for(
            lambda: (j := queue.get(job.id)) and not j.open and j, 300, "the worker's refresh"
        )
    finally:
        for b in boards:
            if b.poll() is None:
                b.kill()
        assert stop(worker) == 0
    for board, (out_, err) in zip(boards, answers, strict=True):
        assert board.returncode == 0, err.decode()[-2000:]
        assert orjson.loads(out_)["charts"]
    assert done.outcome == "ok"

    seen = busiest_windows(install.emulator.log.entries)
    assert seen.rate_limited == 0, seen
    assert seen.key <= ALLOWED, seen
    assert max(seen.endpoints.values()) <= ALLOWED, seen
    # the three overlapped: more requests than one second's worth, so pacing was needed
    assert seen.answered > 3 * RATE
