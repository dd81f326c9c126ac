"""Progressive live dashboards: time to the first chart and to the last, against the ceiling.

For each account size, the emulator runs in a subprocess (its own interpreter) on a generated
account with Stripe's live limits (100 requests/s for the key, 25/s per endpoint) and 150 ms of
latency per request. A connection with refresh off (every load reads Stripe) then loads each
built-in dashboard for the last 30 days as the page does (``QueryEngine.stream`` and
``dashboards.progressive.stream_board``), twice: cold (nothing known about the account) and
again (the estimate then comes from the first load's page counts). Printed per dashboard:

- first / last: seconds from the start of the load to its first chart, and to its last;
- requests: Stripe requests the load made; fewest: the pages its reads need at 100 objects a
  page (each list variant at least one page), so requests ÷ fewest says what paging costs;
- ceiling: the shortest time the limits allow for those pages (the larger of all pages at
  100/s and the longest list at 25/s); last ÷ ceiling;
- estimate: what the plan said before reading (pages, seconds), cold and again; when the
  cold plan could not say, what the load's progress said after 0.5, 1, 2, 4… seconds.

Targets (issue 15): first chart < 2 s; last ≤ 1.25 × ceiling; requests ≤ 1.1 × fewest.

    nice -n 10 .venv/bin/python bench/bench_live_dashboards.py --customers 3000 20000
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_read import start_emulator, stop
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import BUILTIN, preset
from flitch.dashboards.plan import chart_datasets, plan_reads
from flitch.dashboards.progressive import stream_board
from flitch.dashboards.service import unreadable
from flitch.emulator.auth import DEMO_LIVE_KEY
from flitch.query.engine import QueryEngine
from flitch.stripe_source.reader import PAGE_SIZE

LATENCY_MS = 150.0


async def one_load(engine: QueryEngine, name: str, now: float) -> dict[str, Any]:
    board = BUILTIN[name]
    period = preset("30d", now)
    conn = engine.connections.get("bench")
    skip = unreadable(conn)
    drawable = [c for c in board.charts if not any(d in skip for d in chart_datasets(c))]
    started = time.perf_counter()
    streamed = await engine.stream("bench", plan_reads(drawable, period))
    first = last = None
    plan: dict[str, Any] = {}
    guesses: list[tuple[float, dict[str, Any]]] = []
    done: dict[str, Any] = {}
    async for event in stream_board(streamed, board, period, skip=skip):
        at = time.perf_counter() - started
        if event["event"] == "plan":
            plan = event
        elif event["event"] == "progress" and event["estimate"]["pages"] is not None:
            guesses.append((at, event["estimate"]))
        elif event["event"] == "chart":
            first = at if first is None else first
            last = at
        elif event["event"] == "done":
            done = event
    fewest = 0
    pages: dict[str, int] = {}
    detail: list[str] = []
    for state in streamed.states:
        variants = len(state.read.spec.list_variants)
        least = max(variants, math.ceil(state.records / PAGE_SIZE))
        fewest += least
        # two reads of one list (one of them early) share its endpoint's rate
        pages[state.read.dataset] = pages.get(state.read.dataset, 0) + state.pages
        mark = "*" if state.read.early else ""
        detail.append(f"{state.read.dataset}{mark} {state.pages}/{least}")
    return {
        "first": first,
        "last": last,
        "requests": done["data"]["requests"],
        "fewest": fewest,
        "ceiling": streamed.ceiling(pages) or 0.0,
        "estimate": plan["estimate"],
        "guesses": guesses,
        "reads": done["data"]["reads"],
        "pages": detail,
    }


def _estimate(e: dict[str, Any]) -> str:
    if e["pages"] is None:
        return "unknown"
    return f"{e['pages']} p / {e['seconds']:.1f} s"


def _as_it_went(run: dict[str, Any]) -> str:
    """The estimate at the first progress after 0.5, 1, 2, 4, 8 and 16 s of the load, against
    what the load then read (requests) and took."""
    said = []
    for mark in (0.5, 1, 2, 4, 8, 16):
        if mark >= run["last"]:
            break
        later = [g for at, g in run["guesses"] if at >= mark]
        if later:
            said.append(f"{mark:g} s: {_estimate(later[0])}")
    return "; ".join(said) + f" (then read: {run['requests']} requests in {run['last']:.1f} s)"


async def measure(settings: Settings, customers: int, names: list[str]) -> None:
    now = time.time()
    with ConnectionService(settings) as service:
        service.create("bench", DEMO_LIVE_KEY)
        engine = QueryEngine(settings, service)
        try:
            print(
                f"\n{customers:,} customers, live limits, {LATENCY_MS:g} ms latency, last 30 days"
            )
            print(
                f"{'dashboard':<18}{'first s':>8}{'last s':>8}{'ceiling':>9}{'last/ceil':>10}"
                f"{'requests':>9}{'fewest':>7}{'ratio':>7}  estimate cold → again"
            )
            for name in names:
                cold = await one_load(engine, name, now)
                again = await one_load(engine, name, now)
                for label, run in (("", cold), (" (again)", again)):
                    ceiling = run["ceiling"]
                    print(
                        f"{name + label:<18}"
                        f"{run['first']:>8.2f}{run['last']:>8.2f}{ceiling:>9.2f}"
                        f"{run['last'] / ceiling if ceiling else 0:>10.2f}"
                        f"{run['requests']:>9}{run['fewest']:>7}"
                        f"{run['requests'] / max(1, run['fewest']):>7.2f}  "
                        + (
                            f"{_estimate(cold['estimate'])} → {_estimate(again['estimate'])}"
                            if not label
                            else ""
                        )
                    )
                if cold["estimate"]["pages"] is None and cold["guesses"]:
                    print(f"    cold estimate while reading: {_as_it_went(cold)}")
                print(f"    reads: {'; '.join(cold['reads'])}")
                print(f"    pages / fewest (* read first): {', '.join(cold['pages'])}")
        finally:
            await engine.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[3000, 20000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dashboards", nargs="+", choices=list(BUILTIN), default=list(BUILTIN))
    args = parser.parse_args()
    for customers in args.customers:
        print(f"Starting the emulator ({customers:,} customers)…", file=sys.stderr)
        process, url = start_emulator(customers, LATENCY_MS, args.seed)
        try:
            with tempfile.TemporaryDirectory() as home:
                settings = Settings(home=Path(home), stripe_api_base=url)
                asyncio.run(measure(settings, customers, args.dashboards))
        finally:
            stop(process)


if __name__ == "__main__":
    sys.exit(main())
