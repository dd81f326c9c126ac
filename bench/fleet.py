"""Processes for the server-mode benches (``bench_workers.py``, ``bench_cluster.py``): an
emulator with its own limits off, ``flitch worker`` processes, and a full refresh of every
connection through the job queue, timed.

The emulator limits requests per account and mode, not per key, so with its limits on, every
connection of a bench would share one account's budget, which separate Stripe accounts do not;
Flitch's own pacer keeps each key's limits instead.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

from flitch.refresh.jobs import JobKind, JobQueue


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    """Wait (10 minutes at most) until ``url`` answers 200, or stop if ``process`` exits."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def start_emulator(
    customers: int, latency_ms: float, keys: Iterable[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """An emulator process without rate limits (and its URL), which also accepts ``keys``."""
    port = free_port()
    command = [
        sys.executable, "-m", "flitch", "emulator", "--port", str(port),
        "--customers", str(customers), "--latency-ms", str(latency_ms),
        "--live-rps", "0", "--test-rps", "0", "--endpoint-rps", "0",
        *[a for k in keys for a in ("--key", k)],
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/_emulator/summary", process, "the emulator")
    return process, url


def stop_emulator(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(30)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        p.wait(60)


def refresh_all(
    env: dict[str, str], queue: JobQueue, ids: list[str], workers: int, logs: Path
) -> tuple[float, float]:
    """Start ``workers`` worker processes, queue a full refresh of every connection in ``ids``
    once all of them are looking at the queue, and wait for the last to end. Answers the
    seconds from queueing to the last one done, and the sum of the jobs' own run times (claim
    to end). Each worker's output goes to ``logs/w<workers>-<i>.log``."""
    processes = []
    for i in range(workers):
        with (logs / f"w{workers}-{i}.log").open("wb") as out:
            command = [sys.executable, "-m", "flitch", "worker", "--poll", "0.1"]
            processes.append(
                subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    try:
        for i in range(workers):  # every worker up and looking at the queue
            while b"Ctrl-C stops" not in (logs / f"w{workers}-{i}.log").read_bytes():
                if processes[i].poll() is not None:
                    raise SystemExit(f"worker {i} exited; see {logs}")
                time.sleep(0.1)
        started = time.perf_counter()
        jobs = [queue.enqueue(c, JobKind.FULL, requested_by="bench")[0] for c in ids]
        pending = {j.id for j in jobs if j is not None}
        busy = 0.0
        while pending:
            for job_id in list(pending):
                job = queue.get(job_id)
                if not job.open:
                    if job.outcome != "ok":
                        raise SystemExit(f"{job_id} ended {job.state.value}: {job.error}")
                    busy += (job.finished_at or 0.0) - (job.started_at or 0.0)
                    pending.discard(job_id)
            time.sleep(0.05)
        return time.perf_counter() - started, busy
    finally:
        stop_all(processes)
