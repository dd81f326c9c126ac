"""The HTTP client under the Stripe source: interpreter time per page, aiohttp vs httpx.

A refresh at Stripe's live limit receives 100 pages of ~190 KB a second, on the same thread
that paces requests and parses them. This measures the CPU time each client costs per page
(the process's CPU time, over many requests 10 at a time) against an emulator in a subprocess,
with no latency and no limits: httpx (the baseline, the SDK's default) and aiohttp (used by
``GetOnlyHTTPClient``), in the same run.

    .venv/bin/python bench/bench_http_client.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_read import start_emulator, stop
from flitch.emulator.auth import DEMO_LIVE_KEY

ROUNDS = 40
AT_ONCE = 10


async def with_httpx(url: str, headers: dict[str, str]) -> tuple[float, int]:
    async with httpx.AsyncClient() as client:
        size = len((await client.get(url, headers=headers)).content)
        started = time.process_time()
        for _ in range(ROUNDS):
            await asyncio.gather(*(client.get(url, headers=headers) for _ in range(AT_ONCE)))
        return (time.process_time() - started) / (ROUNDS * AT_ONCE) * 1000, size


async def with_aiohttp(url: str, headers: dict[str, str]) -> float:
    async with aiohttp.ClientSession() as session:

        async def one() -> bytes:
            async with session.get(url, headers=headers) as answer:
                return await answer.read()

        await one()
        started = time.process_time()
        for _ in range(ROUNDS):
            await asyncio.gather(*(one() for _ in range(AT_ONCE)))
        return (time.process_time() - started) / (ROUNDS * AT_ONCE) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import bench_read

    bench_read.LIVE_RPS = bench_read.ENDPOINT_RPS = 1_000_000  # no limits: CPU only
    process, base = start_emulator(args.customers, 0.0, 42)
    try:
        url = base + "/v1/charges?limit=100"
        headers = {"Authorization": f"Bearer {DEMO_LIVE_KEY}"}
        for run in range(args.repeat):
            slow, size = asyncio.run(with_httpx(url, headers))
            fast = asyncio.run(with_aiohttp(url, headers))
            print(
                f"run {run + 1}: page of {size / 1024:,.0f} KiB — httpx {slow:.2f} ms CPU, "
                f"aiohttp {fast:.2f} ms CPU per page: {slow / fast:.1f}x less with aiohttp"
            )
    finally:
        stop(process)


if __name__ == "__main__":
    main()
