"""Refresh: a full refresh against Stripe's limits, incremental refreshes, and memory.

Two emulators run in subprocesses (``flitch emulator``: their own interpreters) on generated
accounts 10× apart in size, with 100 ms of latency per request and Stripe's live limits
(100 requests/s for the key, 25/s per endpoint). Against them, in this process:

1. **Full refresh** of the large account (live mode, all twelve objects, into the DuckDB cache):
   records/s against the ceiling the limits allow — the larger of (all pages ÷ 100/s) and (the
   largest object's pages ÷ 25/s), target ≥ 80 % — and against the baseline, the official SDK's
   ``auto_paging_iter`` reading one list after another (no cache written), in the same run.
2. **Incremental refreshes** after k changes (the emulator's realistic ``mix``; k = 10, 100,
   1000), on both accounts: requests made, by kind. Target: they grow with k, not with the
   account. The emulator's clock (and the refresher's) moves 15 minutes between rounds.
3. **Peak RSS** of a full refresh of each account, each in a fresh subprocess (target: less than
   1.5× growth for 10× the data), under ``FLITCH_MEMORY_LIMIT`` as set (or its default), with
   the size of the cache file each wrote.

    .venv/bin/python bench/bench_refresh.py                          # ≈ 200,000 live objects
    .venv/bin/python bench/bench_refresh.py --customers 2000         # a quick run
    .venv/bin/python bench/bench_refresh.py --customers 20000 --rss-only   # 3. alone
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_read import ENDPOINT_RPS, LIVE_RPS, baseline_read, ceiling, start_emulator, stop
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.auth import DEMO_LIVE_KEY
from flitch.refresh.progress import RefreshProgress
from flitch.refresh.runner import RefreshResult, refresh, store_for

KS = (10, 100, 1000)
STEP = 900  # seconds between incremental rounds (a 15-minute schedule)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def connect(url: str, home: Path) -> ConnectionService:
    settings = Settings.from_env(  # FLITCH_MEMORY_LIMIT and the like, if set
        home=home,
        secret_key="bench-refresh-passphrase-0123456789",
        stripe_api_base=url,
        live_requests_per_second=LIVE_RPS,
        endpoint_requests_per_second=ENDPOINT_RPS,
    )
    service = ConnectionService(settings)
    service.create("Bench", DEMO_LIVE_KEY, refresh="15m")
    return service


def admin(url: str, method: str, path: str, payload: Any = None) -> Any:
    answer = httpx.request(method, url + path, json=payload, timeout=600)
    answer.raise_for_status()
    return answer.json()


#: Seconds from the start of the last full refresh to the moment it began committing (all
#: pages read and written; what is left is publishing the new cache file).
READ_SECONDS: list[float] = []


def full_refresh(url: str, clock: Clock) -> tuple[ConnectionService, RefreshResult]:
    service = connect(url, Path(tempfile.mkdtemp(prefix="flitch-bench-")))
    started = time.perf_counter()
    read_for: list[float] = []

    def on_progress(progress: RefreshProgress) -> None:
        if progress.stage == "committing" and not read_for:
            read_for.append(time.perf_counter() - started)

    result = refresh(service, "Bench", clock=clock, on_progress=on_progress)
    if not result.ok:
        raise SystemExit(f"the full refresh failed: {result.to_dict()}")
    READ_SECONDS[:] = read_for
    return service, result


def incremental_rounds(url: str, service: ConnectionService, clock: Clock) -> list[dict[str, Any]]:
    rounds = []
    for k in KS:
        clock.t += STEP
        admin(url, "POST", "/_emulator/config", {"now": int(clock.t)})
        events = admin(
            url, "POST", "/_emulator/changes", {"mode": "live", "kind": "mix", "count": k}
        )
        clock.t += 120
        admin(url, "DELETE", "/_emulator/requests")
        result = refresh(service, "Bench", clock=clock)
        log = admin(url, "GET", "/_emulator/requests")["data"]
        kinds: Counter[str] = Counter()
        for r in log:
            if r["path"] == "/v1/events":
                kinds["events"] += 1
            elif r["path"].count("/") == 3:
                kinds["by id"] += 1
            elif "limit=1&" in r["query"] + "&":
                kinds["probes"] += 1
            else:
                kinds["lists"] += 1
        rounds.append(
            {
                "k": k,
                "events_made": len(events["data"]),
                "requests": result.requests,
                "kinds": kinds,
                "seconds": result.seconds,
                "ok": result.ok,
                "full": [d.name for d in result.datasets if d.strategy.value == "full"],
            }
        )
    return rounds


def child_full(url: str) -> None:
    """In a fresh process: one full refresh; print its figures, the peak RSS, the memory
    limit DuckDB had and the cache file's size as JSON."""
    clock = Clock(time.time())
    service, result = full_refresh(url, clock)
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's over the fork)
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = [line for line in status if line.startswith("VmHWM:")]
    peak_kb = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    store = store_for(service, result.connection_id)
    print(
        json.dumps(
            {
                "records": result.records,
                "seconds": result.seconds,
                "rss_mb": peak_kb / 1024,
                "limit_mb": store.memory_limit / 2**20,
                "file_mb": store.current_path.stat().st_size / 1e6,
            }
        )
    )


def measure_rss(url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child-full", url],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"the refresh's process failed:\n{out.stdout[-2000:]}{out.stderr[-4000:]}")
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=15_000, help="customers, large account")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child-full", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--rss-only", action="store_true", help="only the peak RSS (part 3)")
    args = parser.parse_args()
    if args.child_full:
        child_full(args.child_full)
        return
    if args.rss_only:
        rss_only(args)
        return

    small_customers = max(1, args.customers // 10)
    print(f"Serving two accounts: {args.customers:,} and {small_customers:,} customers per mode…")
    started = time.perf_counter()
    large, large_url = start_emulator(args.customers, args.latency_ms, args.seed)
    small, small_url = start_emulator(small_customers, args.latency_ms, args.seed)
    print(f"  emulators ready in {time.perf_counter() - started:.0f} s")
    try:
        clock = Clock(time.time())
        admin(large_url, "POST", "/_emulator/config", {"now": int(clock.t)})
        service, full = full_refresh(large_url, clock)
        full_read = READ_SECONDS[0] if READ_SECONDS else None
        time.sleep(1.5)  # let the server's buckets refill
        base = baseline_read(large_url)
        large_rounds = incremental_rounds(large_url, service, clock)
        service.close()

        small_clock = Clock(time.time())
        admin(small_url, "POST", "/_emulator/config", {"now": int(small_clock.t)})
        small_service, small_full = full_refresh(small_url, small_clock)
        small_rounds = incremental_rounds(small_url, small_service, small_clock)
        small_service.close()

        rss_small = measure_rss(small_url)
        rss_large = measure_rss(large_url)
    finally:
        stop(large)
        stop(small)

    records = full.records
    base_records = sum(base["per_variant"].values())
    best, total_pages, largest, largest_pages = ceiling(base["per_variant"])
    rate = records / full.seconds
    base_rate = base_records / base["elapsed"]
    print()
    print(f"Full refresh (live mode, {records:,} records, {len(full.datasets)} datasets):")
    print(
        f"  Flitch refresh   : {full.seconds:7.1f} s = {rate:8,.0f} records/s "
        f"({full.requests:,} requests for {total_pages:,} pages), written to the DuckDB cache"
    )
    print(
        f"  Baseline SDK     : {base['elapsed']:7.1f} s = {base_rate:8,.0f} records/s "
        f"({base_records:,} records; auto_paging_iter, one list after another, nothing stored)"
    )
    print(
        f"  Ceiling          : {best:7.1f} s = {records / best:8,.0f} records/s (max of "
        f"{total_pages:,} pages / {LIVE_RPS:g}/s and {largest}'s {largest_pages:,} pages / "
        f"{ENDPOINT_RPS:g}/s)"
    )
    print(f"  Share of ceiling : {best / full.seconds:.0%}  (target ≥ 80 %)")
    if full_read:
        print(
            f"  Reading alone    : {full_read:7.1f} s = {best / full_read:.0%} of the ceiling "
            f"(then {full.seconds - full_read:.1f} s publishing the cache file)"
        )
    print(f"  Ratio to baseline: {rate / base_rate:.1f}×")
    print()
    print("Incremental refresh after k changes (requests: probes / events / by id / lists):")
    sizes = (
        (f"{records:,} records", large_rounds),
        (f"{small_full.records:,} records", small_rounds),
    )
    for label, rounds in sizes:
        for r in rounds:
            kinds = r["kinds"]
            print(
                f"  {label:>16} k={r['k']:>5}: {r['events_made']:>6,} events, "
                f"{r['requests']:>5,} requests ({kinds['probes']}/{kinds['events']}/"
                f"{kinds['by id']}/{kinds['lists']}) in {r['seconds']:5.1f} s"
                + (f"; read in full: {', '.join(r['full'])}" if r["full"] else "")
            )
    for big, little in zip(large_rounds, small_rounds, strict=True):
        print(
            f"  k={big['k']:>5}: requests large/small = {big['requests'] / little['requests']:.2f} "
            f"(data {records / max(1, small_full.records):.1f}×)"
        )
    print()
    report_rss(rss_small, rss_large)
    sys.stdout.flush()
    os._exit(0)  # the emulators are stopped; skip slow interpreter teardown of big objects


def report_rss(small: dict[str, Any], large: dict[str, Any]) -> None:
    print(
        f"Peak RSS of a full refresh (fresh process each; DuckDB's memory limit "
        f"{large['limit_mb']:,.0f} MiB):"
    )
    for run in (small, large):
        print(
            f"  {run['records']:>9,} records: {run['rss_mb']:7.1f} MB in {run['seconds']:5.1f} s; "
            f"cache file {run['file_mb']:6.1f} MB"
        )
    growth = large["rss_mb"] / small["rss_mb"]
    data_growth = large["records"] / max(1, small["records"])
    print(f"  growth {growth:.2f}× for {data_growth:.1f}× the data (target < 1.5×)")


def rss_only(args: argparse.Namespace) -> None:
    """Part 3 alone: each account served in turn, a full refresh of it in a fresh process."""
    runs = []
    for customers in (max(1, args.customers // 10), args.customers):
        emulator, url = start_emulator(customers, args.latency_ms, args.seed)
        try:
            admin(url, "POST", "/_emulator/config", {"now": int(time.time())})
            runs.append(measure_rss(url))
        finally:
            stop(emulator)
    report_rss(runs[0], runs[1])


if __name__ == "__main__":
    main()
