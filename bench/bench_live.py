"""What a live query of the last 30 days of charges costs, against reading the whole list.

The emulator runs in a subprocess on a generated account whose history ends now, with 100 ms
of latency per request and Stripe's live limits. A connection is saved with the live demo key,
then in this process:

1. the query ``SELECT count(*), sum(amount) FROM charges WHERE created >= now() - INTERVAL
   30 DAY`` — the engine pushes the range down to Stripe as ``created[gte]``;
2. the baseline: the same question written so that nothing can be pushed down
   (``created + INTERVAL 0 DAY >= …``), which reads the whole list, as a tool without pushdown
   would.

Printed: the answers (they must be equal), Stripe requests and seconds of each, the minimum
number of requests the period needs (its charges ÷ 100, rounded up), and the ratios.

    .venv/bin/python bench/bench_live.py                  # 5,000 customers
    .venv/bin/python bench/bench_live.py --customers 500  # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

from bench_read import start_emulator, stop
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.auth import DEMO_LIVE_KEY
from flitch.query.engine import Answer, QueryEngine

PUSHED = "SELECT count(*), sum(amount) FROM charges WHERE created >= now() - INTERVAL 30 DAY"
WHOLE = (
    "SELECT count(*), sum(amount) FROM charges "
    "WHERE created + INTERVAL 0 DAY >= now() - INTERVAL 30 DAY"
)


async def ask(engine: QueryEngine, sql: str) -> tuple[Answer, float]:
    started = time.perf_counter()
    answer = await engine.sql("bench", sql)
    return answer, time.perf_counter() - started


async def measure(settings: Settings) -> None:
    with ConnectionService(settings) as service:
        service.create("bench", DEMO_LIVE_KEY, objects=["charges"])
        engine = QueryEngine(settings, service)
        try:
            pushed, pushed_s = await ask(engine, PUSHED)
            whole, whole_s = await ask(engine, WHOLE)
            (total,) = (await engine.sql("bench", "SELECT count(*) FROM charges")).result.rows[0]
        finally:
            await engine.aclose()
    count, amount = pushed.result.rows[0]
    assert pushed.result.rows == whole.result.rows, "pushdown changed the answer"
    minimum = max(1, math.ceil(count / 100))
    print(f"charges in the account: {total:,}; in the last 30 days: {count:,} (sum {amount:,})")
    print(f"{'':28}{'requests':>10}{'seconds':>10}")
    print(f"{'last 30 days, pushed down':28}{pushed.provenance.requests:>10}{pushed_s:>10.2f}")
    print(f"{'whole list (no pushdown)':28}{whole.provenance.requests:>10}{whole_s:>10.2f}")
    print(f"{'minimum for the period':28}{minimum:>10}")
    saved = whole.provenance.requests / pushed.provenance.requests
    print(
        f"ratio whole/pushed: requests {saved:.1f}×, time {whole_s / pushed_s:.1f}×; "
        f"pushed requests / minimum: {pushed.provenance.requests / minimum:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(f"Starting the emulator ({args.customers} customers, {args.latency_ms:g} ms)…")
    process, url = start_emulator(args.customers, args.latency_ms, args.seed)
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(home=Path(home), stripe_api_base=url)
            asyncio.run(measure(settings))
    finally:
        stop(process)


if __name__ == "__main__":
    sys.exit(main())
