"""How fast Flitch reads a whole Stripe account, against the ceiling Stripe's limits allow.

The emulator runs in a subprocess (``flitch emulator``: its own interpreter, so client and
server do not share a GIL) on a generated account, with 100 ms of latency per request and
Stripe's live limits enforced (100 requests/s for the key, 25/s per endpoint). Then, in this
process and against that same server:

1. Flitch's reader (``read_objects`` over all twelve objects, paced to the same limits);
2. the baseline: the official SDK's ``auto_paging_iter`` (limit=100), one list after another.

Printed: records/s of each; the ceiling — the shortest time the limits allow, the larger of
(all pages ÷ 100/s) and (the largest object's pages ÷ 25/s), counting the pages of every list
variant (e.g. prices active=true and active=false); our share of it (target ≥ 80 %); the ratio
to the baseline; the client's CPU per page, and what parsing a page costs with the SDK's
parser (``json.loads`` into ``OrderedDict``s) and with orjson.

    .venv/bin/python bench/bench_read.py                 # ~100,000 live objects
    .venv/bin/python bench/bench_read.py --customers 800 # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import stripe
from stripe._stripe_response import StripeResponse

from flitch import catalog
from flitch.config import Settings
from flitch.emulator.auth import DEMO_LIVE_KEY
from flitch.keys import parse_key
from flitch.stripe_source.client import open_client
from flitch.stripe_source.reader import PAGE_SIZE, ReadProgress, list_params, read_objects

LIVE_RPS = 100.0
ENDPOINT_RPS = 25.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(
    customers: int, latency_ms: float, seed: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable, "-m", "flitch", "emulator",
        "--port", str(port),
        "--customers", str(customers),
        "--seed", str(seed),
        "--latency-ms", str(latency_ms),
        "--live-rps", str(LIVE_RPS),
        "--test-rps", "25",
        "--endpoint-rps", str(ENDPOINT_RPS),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"the emulator exited: {err}")
        try:
            if httpx.get(url + "/_emulator/summary", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the emulator did not start within 15 minutes")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


async def flitch_read(url: str, max_in_flight: int) -> dict[str, Any]:
    settings = Settings(
        stripe_api_base=url,
        live_requests_per_second=LIVE_RPS,
        endpoint_requests_per_second=ENDPOINT_RPS,
        max_in_flight=max_in_flight,
    )
    counts: Counter[str] = Counter()
    last: list[ReadProgress] = []
    cpu = time.process_time()
    started = time.perf_counter()
    async with open_client(parse_key(DEMO_LIVE_KEY), settings) as client:
        async for spec, page in read_objects(client, catalog.OBJECTS, progress=last.append):
            counts[spec.name] += len(page)
        elapsed = time.perf_counter() - started
        stats = client.stats
    return {
        "elapsed": elapsed,
        "cpu": time.process_time() - cpu,
        "counts": counts,
        "requests": stats.requests,
        "retries": stats.retries,
        "rate_limited": stats.rate_limited,
        "peak_in_flight": stats.peak_in_flight,
        "pages": last[-1].pages if last else 0,
    }


def baseline_read(url: str) -> dict[str, Any]:
    """One list after another with the SDK's auto-paging, as a plain integration would."""
    sdk = stripe.StripeClient(
        DEMO_LIVE_KEY,
        base_addresses={"api": url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=3,
    )
    per_variant: dict[tuple[str, int], int] = {}
    started = time.perf_counter()
    for spec in catalog.OBJECTS:
        service = getattr(sdk.v1, spec.name)
        for n, params in enumerate(list_params(spec, None)):
            listing = service.list(params={**params, "limit": PAGE_SIZE})
            per_variant[(spec.name, n)] = sum(1 for _ in listing.auto_paging_iter())
    return {"elapsed": time.perf_counter() - started, "per_variant": per_variant}


def ceiling(per_variant: dict[tuple[str, int], int]) -> tuple[float, int, str, int]:
    """(seconds, all pages, largest object, its pages) the limits allow at best."""
    pages: Counter[str] = Counter()
    for (name, _), records in per_variant.items():
        pages[name] += max(1, math.ceil(records / PAGE_SIZE))  # an empty list is one request
    total = sum(pages.values())
    largest, largest_pages = pages.most_common(1)[0]
    return max(total / LIVE_RPS, largest_pages / ENDPOINT_RPS), total, largest, largest_pages


def parse_costs(url: str) -> tuple[float, float, int]:
    """Milliseconds to parse one real 100-object page: the SDK's way, and orjson; page bytes."""
    headers = {"Authorization": f"Bearer {DEMO_LIVE_KEY}"}
    bodies = [
        httpx.get(f"{url}{path}?limit=100", headers=headers, timeout=30).content
        for path in ("/v1/charges", "/v1/invoices", "/v1/balance_transactions", "/v1/customers")
    ]

    def timed(parse: Any) -> float:
        rounds = 50
        start = time.perf_counter()
        for _ in range(rounds):
            for body in bodies:
                parse(body)
        return (time.perf_counter() - start) / (rounds * len(bodies)) * 1000

    sdk_ms = timed(lambda b: StripeResponse(b.decode("utf-8"), 200, {}).data)
    orjson_ms = timed(orjson.loads)
    return sdk_ms, orjson_ms, sum(len(b) for b in bodies) // len(bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=7500)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=Settings().max_in_flight,
        help="the client's cap on requests in flight (FLITCH_MAX_IN_FLIGHT)",
    )
    args = parser.parse_args()

    print(f"Generating and serving the account ({args.customers} customers per mode)…")
    started = time.perf_counter()
    process, url = start_emulator(args.customers, args.latency_ms, args.seed)
    print(f"  emulator ready at {url} in {time.perf_counter() - started:.0f} s")
    try:
        load = os.getloadavg()[0]
        ours = asyncio.run(flitch_read(url, args.max_in_flight))
        time.sleep(1.5)  # let the server's buckets refill
        base = baseline_read(url)
        sdk_ms, orjson_ms, page_bytes = parse_costs(url)
    finally:
        stop(process)

    records = sum(ours["counts"].values())
    base_records = sum(base["per_variant"].values())
    best, total_pages, largest, largest_pages = ceiling(base["per_variant"])
    ours_rate = records / ours["elapsed"]
    base_rate = base_records / base["elapsed"]
    ceiling_rate = records / best
    totals: Counter[str] = Counter()
    for (name, _), count in base["per_variant"].items():
        totals[name] += count

    print()
    print(f"Account (live mode): {records:,} records in {len(catalog.OBJECTS)} objects")
    for name, count in totals.most_common():
        flag = (
            ""
            if ours["counts"][name] == count
            else f"   MISMATCH: Flitch read {ours['counts'][name]}"
        )
        print(f"  {name:22s} {count:8,d}{flag}")
    print(
        f"Latency {args.latency_ms:g} ms/request; "
        f"limits {LIVE_RPS:g}/s key, {ENDPOINT_RPS:g}/s endpoint; "
        f"client cap {args.max_in_flight} in flight; "
        f"machine load {load:.1f} on {os.cpu_count()} CPUs when the read began"
    )
    print()
    print(
        f"Flitch read_objects : {records:8,d} records in {ours['elapsed']:7.1f} s = "
        f"{ours_rate:8,.0f} records/s  ({ours['requests']} requests for {total_pages} pages, "
        f"{ours['retries']} retries, {ours['rate_limited']} answered 429, "
        f"peak {ours['peak_in_flight']} in flight)"
    )
    print(
        f"Baseline SDK        : {base_records:8,d} records in {base['elapsed']:7.1f} s = "
        f"{base_rate:8,.0f} records/s  (auto_paging_iter, one list after another)"
    )
    print(
        f"Ceiling             : {best:.1f} s = {ceiling_rate:,.0f} records/s "
        f"(max of {total_pages} pages / {LIVE_RPS:g}/s = {total_pages / LIVE_RPS:.1f} s and "
        f"{largest}'s {largest_pages} pages / {ENDPOINT_RPS:g}/s = "
        f"{largest_pages / ENDPOINT_RPS:.1f} s)"
    )
    print(f"Share of the ceiling: {best / ours['elapsed']:.0%}  (target ≥ 80 %)")
    print(f"Ratio to baseline   : {ours_rate / base_rate:.1f}×")
    print(
        f"Client CPU          : {ours['cpu'] / max(1, ours['requests']) * 1000:.2f} ms per request "
        f"({ours['cpu'] / ours['elapsed']:.0%} of a core while reading)"
    )
    print(
        f"Parsing one page ({page_bytes / 1024:.0f} KiB): SDK json.loads/OrderedDict "
        f"{sdk_ms:.2f} ms, orjson {orjson_ms:.2f} ms; at 100 pages/s that is "
        f"{sdk_ms / 10:.0%} vs {orjson_ms / 10:.0%} of a core"
    )


if __name__ == "__main__":
    main()
