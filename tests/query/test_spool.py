"""Live reads shared between processes of one FLITCH_HOME (server mode's replicas).

Each engine here stands for one replica: its own fetcher, its own clients, its own open lock
files (``flock`` locks belong to an open file, so two engines in one process contend exactly as
two processes do), one home and one emulator between them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from flitch.query.reads import DatasetRead
from tests.conftest import TEST_KEY

READS = [DatasetRead("charges"), DatasetRead("customers"), DatasetRead("invoices")]
COUNT = "SELECT (SELECT count(*) FROM charges), (SELECT count(*) FROM customers), " + (
    "(SELECT count(*) FROM invoices), (SELECT count(DISTINCT id) FROM invoices)"
)


@pytest.fixture
def service(tmp_path: Path, emulator: Emulator) -> Iterator[ConnectionService]:
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=1,
        refresh_workers=True,  # server mode: replicas may share FLITCH_HOME
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


async def counts(engine: QueryEngine) -> tuple[int, ...]:
    loaded = await engine.load("shop", READS)
    try:
        return tuple(int(v) for v in loaded.query(COUNT).rows[0])
    finally:
        loaded.close()


def requests(emulator: Emulator) -> list[tuple[str, str]]:
    return [(e.path, e.query) for e in emulator.log.entries if e.path.startswith("/v1/")]


async def _alone(service: ConnectionService) -> tuple[int, ...]:
    engine = QueryEngine(service.settings, service)
    try:
        return await counts(engine)
    finally:
        await engine.aclose()


def test_two_replicas_loading_at_once_read_each_list_once(
    service: ConnectionService, emulator: Emulator
) -> None:
    emulator.config.latency_ms = 40

    async def go() -> list[tuple[int, ...]]:
        engines = [QueryEngine(service.settings, service) for _ in range(2)]
        try:
            return list(await asyncio.gather(*(counts(e) for e in engines)))
        finally:
            for engine in engines:
                await engine.aclose()

    emulator.log.clear()
    first, second = asyncio.run(go())
    both = requests(emulator)
    emulator.log.clear()
    alone = asyncio.run(_alone(service))
    assert first == second == alone
    assert first[2] == first[3]  # no invoice twice
    twice = [r for r, n in Counter(both).items() if n > 1]
    assert not twice
    assert len(both) <= len(requests(emulator)) + 3
    # nothing is left behind: a read's lock and spool are removed once it is done
    assert not list((Path(service.settings.home) / "live").iterdir())


def test_a_follower_reads_alone_when_the_replica_it_follows_leaves(
    service: ConnectionService, emulator: Emulator
) -> None:
    """The first replica's viewer leaves mid-read: its read stops, and the second replica,
    which was following it, reads the rest itself — every object once."""
    emulator.config.latency_ms = 150

    async def go() -> tuple[int, ...]:
        leader = QueryEngine(service.settings, service)
        follower = QueryEngine(service.settings, service)
        try:
            leaving = asyncio.get_running_loop().create_task(counts(leader))
            await asyncio.sleep(0.2)  # the leader holds the leases and has read some pages
            staying = asyncio.get_running_loop().create_task(counts(follower))
            await asyncio.sleep(0.2)
            leaving.cancel()
            await asyncio.gather(leaving, return_exceptions=True)
            return await staying
        finally:
            await leader.aclose()
            await follower.aclose()

    emulator.log.clear()
    got = asyncio.run(go())
    # the follower did read on its own: the lists' first pages were asked for twice
    again = [r for r, n in Counter(requests(emulator)).items() if n > 1]
    assert again
    assert got == asyncio.run(_alone(service))
    assert got[2] == got[3]  # what it had followed was not added twice


CHILD = """
import asyncio, sys
from pathlib import Path
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.query.engine import QueryEngine
from tests.query.test_spool import counts

settings = Settings(
    home=Path(sys.argv[1]), stripe_api_base=sys.argv[2], max_retries=1, refresh_workers=True,
    test_requests_per_second=10_000.0, live_requests_per_second=10_000.0,
    endpoint_requests_per_second=10_000.0,
)

async def main() -> None:
    with ConnectionService(settings) as service:
        engine = QueryEngine(settings, service)
        try:
            await asyncio.to_thread(sys.stdin.readline)  # both start when told
            print(await counts(engine))
        finally:
            await engine.aclose()

asyncio.run(main())
"""


def test_two_processes_share_a_read(service: ConnectionService, emulator: Emulator) -> None:
    emulator.config.latency_ms = 1000  # a one-page list is still in flight when the other asks
    home = str(service.settings.home)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, home, emulator.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for _ in range(2)
    ]
    emulator.log.clear()
    for child in children:  # started (imports done) and waiting: go at once
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outs = [c.communicate(timeout=120)[0] for c in children]
    both = requests(emulator)
    assert [c.returncode for c in children] == [0, 0]
    assert not [r for r, n in Counter(both).items() if n > 1]
    assert outs[0] == outs[1] == f"{asyncio.run(_alone(service))}\n"
