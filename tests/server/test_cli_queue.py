"""``flitch refresh`` in server mode: the terminal queues the job, a ``flitch worker`` process
runs it, and the terminal follows it to its end (exit status and ``--json`` from the job)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from tests.conftest import TEST_KEY
from tests.server.support import Install, stop


def test_flitch_refresh_queues_and_follows_the_job(
    make_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_install()
    conn = install.service.create("Shop", TEST_KEY, objects="customers,charges").connection
    assert conn is not None
    worker = install.start("worker", "--poll", "0.2", "--lease", "10", log=tmp_path / "w.log")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flitch", "refresh", "Shop", "--json"],
            env=install.env(),
            capture_output=True,
            timeout=120,
            check=False,
        )
    finally:
        assert stop(worker) == 0
    assert done.returncode == 0, done.stderr.decode()
    answer = orjson.loads(done.stdout)
    assert answer["ok"] is True
    job = answer["job"]
    assert (job["state"], job["outcome"], job["requested_by"]) == ("done", "ok", "manual")
    assert job["progress"]["records"] > 0
    [run] = install.service.db.runs(conn.id)
    assert (run.id, run.trigger, run.outcome.value) == (job["run_id"], "manual", "ok")
    assert TEST_KEY not in done.stdout.decode() + done.stderr.decode()
    assert f"of Shop ({conn.id}) (for manual): claimed" in (tmp_path / "w.log").read_text()
    listed = subprocess.run(
        [sys.executable, "-m", "flitch", "jobs", "Shop", "--json"],
        env=install.env(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert [(j["id"], j["state"]) for j in orjson.loads(listed.stdout)] == [(job["id"], "done")]
    shown = subprocess.run(
        [sys.executable, "-m", "flitch", "jobs"],
        env=install.env(),
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    assert job["id"] in shown
    assert "Shop" in shown
    assert "done    ok" in shown


def test_flitch_refresh_refuses_a_job_of_two_kinds(
    make_install: Callable[..., Install],
) -> None:
    install = make_install(customers=5)
    install.service.create("Shop", TEST_KEY, objects="customers")
    done = subprocess.run(
        [sys.executable, "-m", "flitch", "refresh", "Shop", "--full", "--verify"],
        env=install.env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert b"Pick one of --objects, --full and --verify" in done.stderr
