"""Server mode as issue 16 measures it: refreshes by 1, 2 and 4 workers, dashboards by 1 and 2
replicas.

**Refreshes.** 20 connections, each with its own live key, refreshed in full (every object) by
1, 2 and 4 ``flitch worker`` processes, the metadata and the keys' shared budgets in a
throw-away PostgreSQL (``tests/postgres.py``). The emulator runs in its own process with 100 ms
of latency per request. It holds one generated account and limits requests per account and
mode, not per key, so its own limits are off here: with them, the 20 keys would share one
account's 100/s, which is not what 20 Stripe accounts have. Stripe's live limits (100/s a key,
25/s an endpoint) are kept by Flitch's pacer for each key, as against Stripe, and the emulator's
request log checks them: the busiest second of any key and of any key's endpoint is printed.
What the 20 connections share is the account's data (each reads the same objects into its own
cache) and the emulator's process.

Per run: the wall time from queueing the 20 jobs to the last one done; the pages read (from the
log); the sum of the connections' ceilings, i.e. for each connection the least time its pages
take within its key's limits, ``max(pages / 100, the busiest endpoint's pages / 25)``, summed
(the time at the limits with one connection after another); the wall time as a share of that
sum; and the speed-up against the one-worker run of the same invocation (the baseline).

**Dashboards.** Over the caches just refreshed, 1 and then 2 ``flitch serve`` replicas (the
scheduler off) answer the dashboard JSON API (``GET /api/v1/connections/{id}/dashboards/
{name}``, with an API token) to a client keeping ``--concurrency`` requests in flight, spread
over the connections, two dashboards and the replicas, for ``--seconds`` after a warm-up.
Printed: loads per second, mean and 95th-percentile time of a load, the ratio of 2 replicas to
1, and the requests the emulator received meanwhile (0: every load came from the cache). The
client runs on the same machine as the replicas and takes CPU from them.

    .venv/bin/python bench/bench_cluster.py
    .venv/bin/python bench/bench_cluster.py --connections 8 --workers 1,2 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

from fleet import free_port, refresh_all, start_emulator, stop_all, stop_emulator, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.postgres import running_postgres  # noqa: E402
from tests.stripe_source.cluster_load import most_in_a_second  # noqa: E402

from flitch.config import Settings  # noqa: E402
from flitch.connections.service import ConnectionService  # noqa: E402
from flitch.refresh.jobs import JobQueue  # noqa: E402

KEY_RPS = 100.0  # Stripe's live limit for a key
ENDPOINT_RPS = 25.0  # and for each endpoint
BOARDS = ("payments", "billing")


def key_of(i: int) -> str:
    """The live key of connection ``i``: fake, and distinct in its last four characters (the
    emulator's log names a key by them)."""
    return f"rk_live_51FlitchBenchClusterKeyReadsAll{i:04d}"


# -- refreshes ---------------------------------------------------------------------------------
def pages_by_key(emulator: str) -> tuple[dict[str, dict[str, list[float]]], int]:
    """The emulator's log since it was cleared: each key's answered pages by endpoint (their
    arrival times), and the requests it refused."""
    records = httpx.get(f"{emulator}/_emulator/requests", timeout=60).json()["data"]
    pages: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    refused = 0
    for r in records:
        if r["status"] == 200:
            pages[r["key_last4"]][r["path"]].append(r["time"])
        else:
            refused += 1
    return pages, refused


def ceiling(endpoints: dict[str, list[float]]) -> float:
    """The least seconds a connection's pages take within its key's limits."""
    total = sum(len(t) for t in endpoints.values())
    return max(total / KEY_RPS, max(len(t) for t in endpoints.values()) / ENDPOINT_RPS)


def bench_refreshes(args: argparse.Namespace, env: dict[str, str], url: str, home: Path) -> None:
    counts = [int(n) for n in args.workers.split(",")]
    with ConnectionService(Settings.from_env(env)) as service:
        queue = JobQueue(service.db.db)
        ids = []
        for i in range(args.connections):
            saved = service.create(f"shop-{i}", key_of(i), refresh="1d").connection
            assert saved is not None
            ids.append(saved.id)
        print(
            f"{args.connections} connections (all objects), a live key each, paced at "
            f"{KEY_RPS:g}/s a key and {ENDPOINT_RPS:g}/s an endpoint; the emulator: "
            f"{args.customers} customers, {args.latency_ms:g} ms latency; metadata and budgets "
            f"in PostgreSQL; {os.cpu_count()} CPUs"
        )
        print(
            f"{'workers':>8} {'wall s':>8} {'pages':>7} {'ceilings s':>11} {'wall/ceil':>10} "
            f"{'speed-up':>9} {'key max/s':>10} {'endpoint max/s':>15} {'refused':>8}"
        )
        baseline: float | None = None
        for workers in counts:
            httpx.delete(f"{url}/_emulator/requests", timeout=30)
            wall, _ = refresh_all(env, queue, ids, workers, home)
            pages, refused = pages_by_key(url)
            total = sum(len(t) for e in pages.values() for t in e.values())
            busy = list(pages.values())
            ceilings = sum(ceiling(e) for e in busy)
            key_max = max(
                most_in_a_second(t for ts in e.values() for t in ts) for e in pages.values()
            )
            end_max = max(most_in_a_second(ts) for e in busy for ts in e.values())
            baseline = baseline if baseline is not None else wall
            print(
                f"{workers:>8} {wall:>8.2f} {total:>7} {ceilings:>11.2f} {wall / ceilings:>10.2f} "
                f"{baseline / wall:>8.2f}x {key_max:>10} {end_max:>15} {refused:>8}"
            )


# -- dashboard loads ---------------------------------------------------------------------------
async def load_for(
    urls: list[str], paths: list[str], token: str, concurrency: int, seconds: float
) -> tuple[float, list[float]]:
    """Loads per second and each load's seconds, ``concurrency`` requests kept in flight."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    times: list[float] = []
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as client:
        for url in urls:  # warm-up: every dashboard once on every replica
            for path in paths:
                (await client.get(url + path)).raise_for_status()
        counter = iter(range(1 << 62))
        end = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < end:
                n = next(counter)
                url, path = urls[n % len(urls)], paths[(n // len(urls)) % len(paths)]
                started = time.perf_counter()
                (await client.get(url + path)).raise_for_status()
                times.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(times) / elapsed, times


def bench_dashboards(args: argparse.Namespace, env: dict[str, str], url: str, home: Path) -> None:
    from argon2 import PasswordHasher

    from flitch.web import userdb
    from flitch.web.users import Role, UserStore

    settings = Settings.from_env(env)
    db = userdb.for_settings(settings)
    users = UserStore(db, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("bench", "a bench password, unused", Role.VIEWER)
    _, token = users.create_token("bench", "bench_cluster")
    db.close()
    with ConnectionService(settings) as service:
        ids = [c.id for c in service.list()]
    paths = [f"/api/v1/connections/{c}/dashboards/{b}" for c in ids for b in BOARDS]
    print(
        f"\ndashboard loads over the cache: {len(paths)} (connection, dashboard) pairs, "
        f"{args.concurrency} requests in flight for {args.seconds:g} s"
    )
    print(
        f"{'replicas':>8} {'loads/s':>8} {'mean ms':>8} {'p95 ms':>8} {'ratio':>7} "
        f"{'Stripe requests':>16}"
    )
    baseline: float | None = None
    for replicas in (1, 2):
        ports = [free_port() for _ in range(replicas)]
        processes = []
        for i, port in enumerate(ports):
            with (home / f"serve{replicas}-{i}.log").open("wb") as out:
                command = [sys.executable, "-m", "flitch", "serve", "--no-scheduler"]
                processes.append(
                    subprocess.Popen(
                        [*command, "--port", str(port)],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        try:
            httpx.delete(f"{url}/_emulator/requests", timeout=30)
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            for address, process in zip(urls, processes, strict=True):
                wait_until_up(address + "/readyz", process, "a replica")
            rate, times = asyncio.run(load_for(urls, paths, token, args.concurrency, args.seconds))
        finally:
            stop_all(processes)
        asked = len(httpx.get(f"{url}/_emulator/requests", timeout=60).json()["data"])
        baseline = baseline if baseline is not None else rate
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        print(
            f"{replicas:>8} {rate:>8.1f} {statistics.fmean(times) * 1000:>8.0f} "
            f"{p95 * 1000:>8.0f} {rate / baseline:>6.2f}x {asked:>16}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--concurrency", type=int, default=8, help="dashboard loads in flight")
    parser.add_argument("--seconds", type=float, default=15.0, help="of dashboard loads")
    args = parser.parse_args()
    keys = [key_of(i) for i in range(args.connections)]
    home = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    with running_postgres() as server:
        emulator, url = start_emulator(args.customers, args.latency_ms, keys)
        try:
            env = {
                **os.environ,
                "FLITCH_HOME": str(home),
                "FLITCH_DATABASE_URL": server.url(server.create_database()),
                "FLITCH_STRIPE_API_BASE": url,
                "FLITCH_LIVE_RPS": str(KEY_RPS),
                "FLITCH_ENDPOINT_RPS": str(ENDPOINT_RPS),
                "FLITCH_REFRESH_WORKERS": "1",
            }
            bench_refreshes(args, env, url, home)
            bench_dashboards(args, env, url, home)
        finally:
            stop_emulator(emulator)


if __name__ == "__main__":
    main()
