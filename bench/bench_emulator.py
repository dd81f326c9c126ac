"""How many pages of 100 objects the emulator serves per second, at concurrency 10 and 50.

The server runs in a subprocess: the real uvicorn server on a generated account of 5,000
customers, with no rate limits. The load comes from ``--clients`` other subprocesses (2 by
default, so that clients are not held to one core by Python's GIL), each running httpx's async
client on uvloop: every worker pages through a big list (charges, invoices, events, …) with
``limit=100`` and ``starting_after``, and starts over at the end. Each scenario is bounded in
time and in requests.

Scenarios: pages whose cursors were read beforehand (the clients only fetch, so the figure is
the server's); the same pages with each one parsed for its cursor, as a real client does (the
figure is then mostly the clients' JSON parsing); subscriptions with ``expand[]=data.discounts``
(what the connector asks on every read); and the baseline, a one-object response
(``/v1/coupons?limit=1``) from the same server in the same run.

Printed per concurrency (all client processes together): requests per second and the ratio to
the 250 pages/s target and to the baseline; the server's CPU time per request and what one core
would therefore serve; the clients' CPU time per request. The server and the clients share the
machine's two cores, and so does any other work on it: the load average is printed, and the
server's CPU per page is the figure that does not depend on it.

Each worker has its own ``AsyncClient`` with one connection: one client with 50 pooled
connections spends more time in its pool than the server spends answering.

Run: ``.venv/bin/python bench/bench_emulator.py [--customers 5000] [--seconds 4] [--clients 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil
import uvloop

from flitch.emulator.auth import DEMO_TEST_KEY

TARGET = 250.0
BIG_LISTS = ("charges", "invoices", "events", "balance_transactions", "payment_intents")
PAGES = [f"/v1/{name}?limit=100" for name in BIG_LISTS]
EXPANDED = ["/v1/subscriptions?limit=100&status=all&expand[]=data.discounts"]
TRIVIAL = ["/v1/coupons?limit=1"]

SERVER = """
import sys
from flitch.emulator.generator import generate_account
from flitch.emulator.server import Emulator, EmulatorConfig, settle_heap
account = generate_account(seed=42, customers=int(sys.argv[1]))
settle_heap()
config = EmulatorConfig(live_rps=None, test_rps=None, endpoint_rps=None)
with Emulator(account, config) as emu:
    print(emu.url, flush=True)
    sys.stdin.read()
"""


@dataclass
class Result:
    requests: int
    seconds: float
    server_cpu: float
    client_cpu: float
    bytes: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def ms(self, cpu: float) -> float:
        return cpu / self.requests * 1000


# -- one client process ------------------------------------------------------------------------
async def load(
    url: str, concurrency: int, seconds: float, max_requests: int, plan: dict[str, list[str]]
) -> tuple[int, int]:
    """Workers page through the lists of ``plan`` until time or the request budget runs out.

    ``plan`` maps a list path to the cursors of its pages. Empty: the worker parses each page
    for the next cursor, as a real client does. Given (read beforehand): the worker replays them
    and only checks the answer, so the figure is the server's rather than the JSON parser's.
    """
    clients = [
        httpx.AsyncClient(
            base_url=url,
            auth=(DEMO_TEST_KEY, ""),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=30,
        )
        for _ in range(concurrency)
    ]
    done = 0
    received = 0
    deadline = time.perf_counter() + seconds
    paths = sorted(plan)

    async def worker(n: int) -> None:
        nonlocal done, received
        client = clients[n]
        path = paths[n % len(paths)]
        cursors = plan[path]
        expected = int(path.split("limit=")[1].split("&")[0])
        cursor: str | None = None
        step = n  # replaying workers start at different pages
        while time.perf_counter() < deadline and done < max_requests:
            if cursors:
                cursor = cursors[step % len(cursors)] or None
                step += 1
            # (httpx's params= would replace the path's query, not add to it)
            response = await client.get(path + (f"&starting_after={cursor}" if cursor else ""))
            if response.status_code != 200 or not response.content.endswith(b'"}'):
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            done += 1
            received += len(response.content)
            if not cursors:
                page = orjson.loads(response.content)
                if len(page["data"]) != expected and page["has_more"]:
                    raise RuntimeError(f"{path}: a page of {len(page['data'])}, not {expected}")
                cursor = page["data"][-1]["id"] if page["has_more"] else None

    try:
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    return done, received


def client_main(url: str, concurrency: int, seconds: float, plan_file: str) -> None:
    """``--client`` mode: wait for the go, load, print what was done and at what CPU cost."""
    plan = orjson.loads(Path(plan_file).read_bytes())
    sys.stdin.readline()
    cpu = time.process_time()
    started = time.perf_counter()
    done, received = uvloop.run(load(url, concurrency, seconds, 100_000, plan))
    elapsed = time.perf_counter() - started
    print(orjson.dumps([done, received, elapsed, time.process_time() - cpu]).decode(), flush=True)


def cursors_of(url: str, path: str) -> list[str]:
    """The ``starting_after`` of every page of a list ("" for the first)."""
    cursors = [""]
    with httpx.Client(base_url=url, auth=(DEMO_TEST_KEY, ""), timeout=30) as client:
        while True:
            page = client.get(path + (f"&starting_after={cursors[-1]}" if cursors[-1] else ""))
            body = orjson.loads(page.content)
            if not body["has_more"]:
                return cursors
            cursors.append(body["data"][-1]["id"])


# -- the conductor -----------------------------------------------------------------------------
def measure(
    server: psutil.Process,
    url: str,
    concurrency: int,
    seconds: float,
    plan: dict[str, list[str]],
    processes: int,
) -> Result:
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(orjson.dumps(plan))
    clients = [
        subprocess.Popen(
            [sys.executable, __file__, "--client", url, str(share), str(seconds), handle.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
        if share
    ]
    time.sleep(0.3)  # let the interpreters start before the clock does
    before = server.cpu_times()
    for client in clients:
        assert client.stdin is not None
        client.stdin.write("go\n")
        client.stdin.flush()
    outputs = [client.communicate(timeout=seconds + 120)[0] for client in clients]
    after = server.cpu_times()
    os.unlink(handle.name)
    if any(client.returncode for client in clients):
        raise SystemExit(f"a client failed: {outputs}")
    rows = [orjson.loads(out.strip().splitlines()[-1]) for out in outputs]
    return Result(
        requests=sum(r[0] for r in rows),
        seconds=max(r[2] for r in rows),
        server_cpu=(after.user + after.system) - (before.user + before.system),
        client_cpu=sum(r[3] for r in rows),
        bytes=sum(r[1] for r in rows),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=4.0, help="per scenario")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    args = parser.parse_args()

    print(f"Generating an account of {args.customers} customers in the server process…")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.customers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit("the emulator did not start; run `flitch emulator` to see why")
        server = psutil.Process(process.pid)
        replay = {path: cursors_of(url, path) for path in PAGES}
        parse: dict[str, list[str]] = {path: [] for path in PAGES}
        expanded = {path: cursors_of(url, path) for path in EXPANDED}
        trivial: dict[str, list[str]] = {path: [] for path in TRIVIAL}
        measure(server, url, 10, 1.0, replay, args.clients)  # warm-up: connections, caches
        load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{args.clients} client process(es); load average before: {load_avg}")
        print(
            f"\n{'scenario':<42}{'conc':>5}{'req/s':>8}{'vs 250':>8}{'vs base':>9}"
            f"{'server ms':>11}{'1-core cap':>11}{'client ms':>11}{'KiB':>7}"
        )
        for concurrency in (10, 50):
            base = measure(server, url, concurrency, args.seconds, trivial, args.clients)
            scenarios = [
                ("pages of 100 objects", replay),
                ("pages of 100, client parses each", parse),
                ("pages of 100, expand[]=data.discounts", expanded),
            ]
            rows = [("baseline: 1 object", base)] + [
                (name, measure(server, url, concurrency, args.seconds, plan, args.clients))
                for name, plan in scenarios
            ]
            for name, r in rows:
                print(
                    f"{name:<42}{concurrency:>5}{r.per_second:>8.0f}"
                    f"{r.per_second / TARGET:>8.2f}{r.per_second / base.per_second:>9.2f}"
                    f"{r.ms(r.server_cpu):>11.3f}{1000 / r.ms(r.server_cpu):>11.0f}"
                    f"{r.ms(r.client_cpu):>11.3f}"
                    f"{r.bytes / r.requests / 1024:>7.1f}"
                )
        print(
            "\nreq/s: requests answered per second (a page each), all clients together;"
            "\nvs 250: ratio to the target; vs base: ratio to the one-object baseline at the same"
            "\nconcurrency; server ms / client ms: CPU time per request in the server process /"
            "\nin all client processes; 1-core cap: 1000 / server ms, the requests per second one"
            "\ncore would serve to clients that cost nothing; KiB: mean response size."
        )
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        main()
