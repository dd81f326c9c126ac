"""What sharing a key's Stripe budget through PostgreSQL costs, and what it prevents.

The emulator runs in its own process with Stripe's limits (100 requests/s for a live key, 25/s
for a test key, 25/s per endpoint; token buckets holding a second of requests) and 100 ms of
latency per request; a PostgreSQL server is started for the run (``tests/postgres.py``). Each
scenario starts separate ``python`` processes that read one key at once (``limit=1`` list pages
over six endpoints, four readers per endpoint: the key's budget binds, not an endpoint's):

- ``alone x1``: one process in single-machine mode (its buckets in memory): the baseline;
- ``shared x1``: one process leasing the key's budget from PostgreSQL;
- ``shared x3``: three processes leasing it together;
- ``alone x3``: three processes each pacing alone, as they would without the shared budget.

Printed per scenario: requests/s together and as a share of the key's budget, the ratio to the
baseline, the busiest second of the key and of an endpoint in the emulator's request log, the
429s, and the lease statements per second the database answered.

    .venv/bin/python bench/bench_cluster_budget.py
    .venv/bin/python bench/bench_cluster_budget.py --requests 600 --test   # quicker; test key too
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.postgres import running_postgres  # noqa: E402
from tests.stripe_source.cluster_load import (  # noqa: E402
    ENDPOINTS,
    busiest_windows,
    run_processes,
)

from bench_read import start_emulator, stop  # noqa: E402
from flitch.emulator.auth import DEMO_LIVE_KEY, DEMO_TEST_KEY  # noqa: E402


def scenario(
    name: str,
    url: str,
    *,
    key: str,
    budget: float,
    processes: int,
    total: int,
    database_url: str | None,
    endpoints: tuple[str, ...],
    baseline: float | None,
) -> float:
    httpx.delete(f"{url}/_emulator/requests")
    started = time.monotonic()
    reports = run_processes(
        processes,
        api_base=url,
        key=key,
        requests=total // processes,
        database_url=database_url,
        endpoints=endpoints,
        home=Path(tempfile.mkdtemp(prefix="flitch-bench-")),
    )
    wall = time.monotonic() - started
    records = [SimpleNamespace(**r) for r in httpx.get(f"{url}/_emulator/requests").json()["data"]]
    seen = busiest_windows(records)
    elapsed = max(r.elapsed for r in reports)
    answered = sum(r.requests for r in reports) - seen.rate_limited
    rate = answered / elapsed
    leases = sum(r.leases for r in reports)
    ratio = f"{rate / baseline:5.2f}x" if baseline else "  1.00x (baseline)"
    print(
        f"  {name:<10} {rate:6.1f} req/s = {rate / budget:4.0%} of {budget:.0f}/s, {ratio}"
        f" | busiest second: key {seen.key}, endpoint {max(seen.endpoints.values())}"
        f" | 429s {seen.rate_limited} | leases {leases / elapsed:5.1f}/s"
        f" ({leases} for {answered} requests) | {elapsed:.1f} s ({wall:.1f} s with start-up)"
    )
    return rate


def run(url: str, db: str, *, key: str, budget: float, total: int, ends: tuple[str, ...]) -> None:
    common = {"key": key, "budget": budget, "total": total, "endpoints": ends}
    base = scenario("alone x1", url, processes=1, database_url=None, baseline=None, **common)
    scenario("shared x1", url, processes=1, database_url=db, baseline=base, **common)
    scenario("shared x3", url, processes=3, database_url=db, baseline=base, **common)
    scenario("alone x3", url, processes=3, database_url=None, baseline=base, **common)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="live requests per scenario")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--test", action="store_true", help="also a test key (25/s), 3 endpoints")
    args = parser.parse_args()
    with running_postgres() as pg:
        db = pg.url(pg.create_database())
        emulator, url = start_emulator(20, args.latency_ms, 7)
        try:
            print(f"live key (100/s; {args.requests} requests, {args.latency_ms:.0f} ms latency)")
            run(url, db, key=DEMO_LIVE_KEY, budget=100.0, total=args.requests, ends=ENDPOINTS)
            if args.test:
                total = max(90, args.requests // 4)
                print(f"test key (25/s; {total} requests over 3 endpoints)")
                run(url, db, key=DEMO_TEST_KEY, budget=25.0, total=total, ends=ENDPOINTS[:3])
        finally:
            stop(emulator)


if __name__ == "__main__":
    main()
