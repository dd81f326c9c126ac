"""Several processes reading one key at once, and what the emulator saw of them.

Run as a program (``python -m tests.stripe_source.cluster_load``), it is one Flitch process: it
opens the paced client for a key (sharing the key's budget through PostgreSQL when
``--database-url`` is given), says ``ready``, waits for ``go`` on its standard input so that
every process starts at once, sends its requests (``limit=1`` list pages, spread over several
endpoints by a few concurrent readers per endpoint) and prints what its pacer counted as JSON.

:func:`run_processes` starts such processes and :func:`busiest_windows` reads the emulator's
request log: the most requests that arrived within any one second, for the key and for each
endpoint. The cluster-budget tests and ``bench/bench_cluster_budget.py`` share both.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Six list endpoints: 6 × 25/s is more than a live key's 100/s, so the key's budget binds.
ENDPOINTS = (
    "/v1/customers",
    "/v1/charges",
    "/v1/invoices",
    "/v1/products",
    "/v1/prices",
    "/v1/subscriptions",
)

ROOT = Path(__file__).resolve().parents[2]


async def _read(
    api_base: str, key: str, requests: int, endpoints: Sequence[str], db: str
) -> dict[str, Any]:
    from flitch.config import Settings
    from flitch.keys import parse_key
    from flitch.stripe_source.client import open_client
    from flitch.stripe_source.pacing import Backoff

    settings = Settings(stripe_api_base=api_base, database_url=db or None)
    client = open_client(parse_key(key), settings, backoff=Backoff(base=0.05, cap=1.0))
    left = {
        e: requests // len(endpoints) + (i < requests % len(endpoints))
        for i, e in enumerate(endpoints)
    }

    async def reader(endpoint: str) -> None:
        while left[endpoint] > 0:
            left[endpoint] -= 1
            await client.get_list(endpoint, {"limit": 1})

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    started = time.monotonic()
    try:
        await asyncio.gather(*(reader(e) for e in endpoints for _ in range(4)))
    finally:
        await client.aclose()
    elapsed = time.monotonic() - started
    stats = client.stats
    return {
        "requests": stats.requests,
        "rate_limited": stats.rate_limited,
        "retries": stats.retries,
        "elapsed": elapsed,
        "leases": _leases(settings),
        "shares": _shares(client),
    }


def _shares(client: Any) -> dict[str, list[int]]:
    """Per bucket of the client's pacer: leases, turns booked, used, expired (server mode)."""
    pacer = client.pacer
    buckets = {"all": pacer.global_bucket, **pacer._endpoints}
    out = {}
    for scope, bucket in buckets.items():
        st = getattr(bucket, "stats", None)
        if st is not None:
            out[scope] = [st.leases, st.booked, st.used, st.expired, st.crowded]
    return out


def _leases(settings: Any) -> int:
    from flitch.stripe_source.budget_ledger import ledger_for

    ledger = ledger_for(settings)
    return 0 if ledger is None else ledger.leases


@dataclass
class ProcessReport:
    requests: int
    rate_limited: int
    retries: int
    elapsed: float
    leases: int
    shares: dict[str, list[int]]


def run_processes(
    count: int,
    *,
    api_base: str,
    key: str,
    requests: int,
    database_url: str | None,
    endpoints: Sequence[str] = ENDPOINTS,
    home: Path,
) -> list[ProcessReport]:
    """Start ``count`` processes reading ``requests`` pages each; wait until all are done."""
    argv = [sys.executable, "-m", "tests.stripe_source.cluster_load", api_base, key, str(requests)]
    argv += ["--endpoints", ",".join(endpoints), "--database-url", database_url or ""]
    env = {**os.environ, "FLITCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("FLITCH_DATABASE_URL", None)
    procs = [
        subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a load process did not start: {line!r}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            out, _ = p.communicate(timeout=300)
            if p.returncode != 0:
                raise RuntimeError(f"a load process failed ({p.returncode}): {out[-2000:]}")
            reports.append(ProcessReport(**json.loads(out.strip().splitlines()[-1])))
        return reports
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def most_in_a_second(times: Iterable[float]) -> int:
    """The most of ``times`` inside any window ``[t, t + 1)``."""
    ordered = sorted(times)
    best = 0
    for i, t in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, t + 1.0, lo=i) - i)
    return best


@dataclass
class Windows:
    """The busiest second of a key's requests (all of them, and per endpoint) and its 429s."""

    key: int
    endpoints: dict[str, int]
    rate_limited: int
    answered: int


def busiest_windows(records: Iterable[Any]) -> Windows:
    """From the emulator's request log: every request that reached it counts (429s too)."""
    times: list[float] = []
    by_endpoint: dict[str, list[float]] = defaultdict(list)
    limited = 0
    for r in records:
        times.append(r.time)
        by_endpoint[r.path].append(r.time)
        limited += r.status == 429
    return Windows(
        key=most_in_a_second(times),
        endpoints={e: most_in_a_second(ts) for e, ts in by_endpoint.items()},
        rate_limited=limited,
        answered=len(times),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("api_base")
    parser.add_argument("key")
    parser.add_argument("requests", type=int)
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)
    endpoints = [e for e in args.endpoints.split(",") if e]
    report = asyncio.run(
        _read(args.api_base, args.key, args.requests, endpoints, args.database_url)
    )
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
