"""Refresh workers: N connections refreshed in full by 1, 2 and 4 ``flitch worker`` processes.

One emulator (a subprocess) serves a generated account with 100 ms of latency per request and
no rate limits — an install's connections share one ``FLITCH_STRIPE_API_BASE``, so they share
one emulator, and its limits would be one account's budget shared by every connection, which is
not what separate Stripe accounts have. Each connection is its own name and cache on that
account. For each number of workers, the workers are started and left to come up, then one
``full`` job per connection is queued and the clock runs until the last job is done.

Printed per run: the wall time, the sum of the jobs' own run times (claim to end), the wall time
as a share of that sum (1.0: one job after another; 1/W: W workers always busy), and the
speed-up against the one-worker run of the same invocation (the baseline).

    .venv/bin/python bench/bench_workers.py                      # 8 connections, 40 customers
    .venv/bin/python bench/bench_workers.py --connections 4 --workers 1,2
    .venv/bin/python bench/bench_workers.py --database-url postgresql://…   # queue in PostgreSQL
    .venv/bin/python bench/bench_workers.py --postgres    # a throw-away PostgreSQL server
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from fleet import refresh_all, start_emulator, stop_emulator
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.auth import DEMO_TEST_KEY
from flitch.refresh.jobs import JobQueue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--database-url", default=None, help="the queue in PostgreSQL")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throw-away PostgreSQL (tests/postgres.py)"
    )
    args = parser.parse_args()
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.postgres import running_postgres

        with running_postgres() as server:
            args.database_url = server.url(server.create_database())
            bench(args)
        return
    bench(args)


def bench(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.workers.split(",")]
    home = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    emulator, url = start_emulator(args.customers, args.latency_ms)
    try:
        env = {
            **os.environ,
            "FLITCH_HOME": str(home),
            "FLITCH_STRIPE_API_BASE": url,
            "FLITCH_TEST_RPS": "100000",
            "FLITCH_ENDPOINT_RPS": "100000",
            "FLITCH_REFRESH_WORKERS": "1",
        }
        if args.database_url:
            env["FLITCH_DATABASE_URL"] = args.database_url
        settings = Settings.from_env(env)
        with ConnectionService(settings) as service:
            ids = []
            for i in range(args.connections):
                saved = service.create(f"shop-{i}", DEMO_TEST_KEY).connection
                assert saved is not None
                ids.append(saved.id)
            queue = JobQueue(service.db.db)
            print(
                f"{args.connections} connections (all objects) on one emulator: "
                f"{args.customers} customers, {args.latency_ms:g} ms latency, no rate limits; "
                f"metadata on {service.db.engine}; {os.cpu_count()} CPUs"
            )
            print(f"{'workers':>8} {'wall s':>8} {'jobs s':>8} {'wall/jobs':>10} {'speed-up':>9}")
            baseline: float | None = None
            for workers in counts:
                wall, busy = refresh_all(env, queue, ids, workers, home)
                baseline = baseline if baseline is not None else wall
                print(
                    f"{workers:>8} {wall:>8.2f} {busy:>8.2f} {wall / busy:>10.2f} "
                    f"{baseline / wall:>8.2f}x"
                )
    finally:
        stop_emulator(emulator)


if __name__ == "__main__":
    main()
