"""Live reads shared by replicas on several machines (server mode with ``FLITCH_CACHE_URL``):
leases in a real PostgreSQL, spools in one shared folder.

Each "machine" is a Flitch install of its own — its own ``FLITCH_HOME``, connection service,
query engine and clients — sharing with the others only what machines share: the metadata
database, the cache folder, the master key and the emulator. A ``flock`` taken in one home is
invisible to another, so whatever sharing shows here goes through the database and the folder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.crypto import generate_secret_key
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.query import read_leases, shared_spools
from flitch.query.engine import QueryEngine
from flitch.query.live import shape
from flitch.query.reads import DatasetRead
from flitch.query.spool import head_frame, spool_key
from tests.conftest import TEST_KEY
from tests.query.test_spool import counts, requests

#: the master key every machine is given (a key, not a passphrase: that is salted per home)
SECRET = generate_secret_key()
FAST = {
    "max_retries": 1,
    "test_requests_per_second": 10_000.0,
    "live_requests_per_second": 10_000.0,
    "endpoint_requests_per_second": 10_000.0,
}


def wait_for(condition: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.05)


class Machines:
    """Installs on FLITCH_HOMEs of their own sharing one database and one cache folder."""

    def __init__(self, tmp_path: Path, url: str, emulator: Emulator) -> None:
        self.tmp_path = tmp_path
        self.url = url
        self.emulator = emulator
        self.shared = tmp_path / "shared"
        self.services: list[ConnectionService] = []

    def settings(self, n: int, *, shared: bool = True) -> Settings:
        return Settings(
            home=self.tmp_path / f"machine{n}",
            stripe_api_base=self.emulator.url,
            database_url=self.url,
            cache_url=f"file://{self.shared}",
            secret_key=SECRET,
            refresh_workers=shared,
            **FAST,  # type: ignore[arg-type]
        )

    def service(self, *, shared: bool = True) -> ConnectionService:
        service = ConnectionService(self.settings(len(self.services), shared=shared))
        self.services.append(service)
        return service

    @property
    def spools(self) -> Path:
        return self.shared / "live"

    def leases(self) -> int:
        return int(self.services[0].db.db.query("SELECT count(*) FROM live_read_leases")[0][0])


@pytest.fixture
def machines(
    tmp_path: Path, postgres_url: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Machines]:
    monkeypatch.setattr(shared_spools, "KEEP_SECONDS", 0.2)
    made = Machines(tmp_path, postgres_url, emulator)
    made.service().create("shop", TEST_KEY)
    yield made
    for service in made.services:
        service.close()


async def _load_on(services: list[ConnectionService]) -> list[tuple[int, ...]]:
    engines = [QueryEngine(s.settings, s) for s in services]
    try:
        return list(await asyncio.gather(*(counts(e) for e in engines)))
    finally:
        for engine in engines:
            await engine.aclose()


def test_two_machines_loading_at_once_make_each_request_once(
    machines: Machines, emulator: Emulator
) -> None:
    emulator.config.latency_ms = 40
    a, b = machines.services[0], machines.service()
    assert a.home != b.home

    emulator.log.clear()
    first, second = asyncio.run(_load_on([a, b]))
    shared = requests(emulator)

    emulator.log.clear()
    (alone,) = asyncio.run(_load_on([a]))
    one = requests(emulator)

    # the same two loads without sharing (each machine reads on its own)
    c, d = machines.service(shared=False), machines.service(shared=False)
    emulator.log.clear()
    asyncio.run(_load_on([c, d]))
    unshared = requests(emulator)

    assert first == second == alone
    assert first[2] == first[3]  # no invoice twice
    assert not [r for r, n in Counter(shared).items() if n > 1]
    assert len(shared) <= len(one) + 3
    assert len(unshared) == 2 * len(one)
    print(f"requests: shared {len(shared)}, one load {len(one)}, unshared {len(unshared)}")
    # nothing left behind: no lease, and the spools go once their followers are done
    assert machines.leases() == 0
    wait_for(lambda: not list(machines.spools.iterdir()), "the spools to be removed")
    assert stat.S_IMODE(machines.spools.stat().st_mode) == 0o700
    # neither home has a flock folder: the shared folder carried it all
    assert not (a.home / "live").exists()
    assert not (b.home / "live").exists()


LEADER = """
import asyncio, sys
from pathlib import Path
import flitch.query.read_leases
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.query.engine import QueryEngine
from flitch.query.reads import DatasetRead

flitch.query.read_leases.LEASE_SECONDS = float(sys.argv[5])
settings = Settings(
    home=Path(sys.argv[1]), stripe_api_base=sys.argv[2], database_url=sys.argv[3],
    cache_url=sys.argv[4], secret_key=sys.argv[6], refresh_workers=True, max_retries=1,
    test_requests_per_second=10_000.0, live_requests_per_second=10_000.0,
    endpoint_requests_per_second=10_000.0,
)

async def main() -> None:
    with ConnectionService(settings) as service:
        engine = QueryEngine(settings, service)
        await engine.load("shop", [DatasetRead("invoices")])

asyncio.run(main())
"""


def test_a_follower_finishes_alone_once_its_killed_leaders_lease_expires(
    machines: Machines, emulator: Emulator
) -> None:
    """The leader is a process on another machine, killed with SIGKILL in the middle of its
    read: nothing releases its lease. The follower waits for the lease to expire (1.5 s here),
    takes it over and reads the list itself; every invoice once."""
    emulator.config.latency_ms = 400
    follower = machines.services[0]
    conn = follower.get("shop")
    read = DatasetRead("invoices")
    key = spool_key(conn.id, read)
    leader_settings = machines.settings(9)
    emulator.log.clear()
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LEADER,
            str(leader_settings.home),
            emulator.url,
            machines.url,
            f"file://{machines.shared}",
            "1.5",
            SECRET,
        ],
        cwd=Path(__file__).parents[2],
    )
    try:
        leases = machines.services[0].db.db

        def leading() -> list[Path]:
            held = leases.query("SELECT token FROM live_read_leases WHERE read_key = ?", (key,))
            if not held:
                return []
            spool = machines.spools / f"{key}.{held[0][0]}.spool"
            return [spool] if spool.exists() and spool.stat().st_size > 4096 else []

        wait_for(leading, "the leader to spool its first pages")
        spool = leading()[0]
        assert stat.S_IMODE(spool.stat().st_mode) == 0o600

        async def follow() -> tuple[tuple[int, ...], int, int]:
            engine = QueryEngine(follower.settings, follower)
            try:
                task = asyncio.get_running_loop().create_task(
                    _count_invoices(engine, read), name="follower"
                )
                while engine.live.state(conn.id, read).pages < 2:  # following the spool
                    await asyncio.sleep(0.02)
                asked = sum(c.stats.requests for _, c in engine.live._clients.values())
                state = engine.live.state(conn.id, read)
                followed = state.pages
                assert not state.done  # the leader is still reading
                os.kill(leader.pid, signal.SIGKILL)
                return await task, asked, followed
            finally:
                await engine.aclose()

        got, asked_while_following, followed = asyncio.run(follow())
    finally:
        if leader.poll() is None:
            leader.kill()
        leader.wait(timeout=30)
    assert leader.returncode == -signal.SIGKILL
    assert asked_while_following == 0  # the pages it had came from the dead leader's spool
    assert followed >= 2
    assert got[0] == got[1]  # every invoice once
    (alone,) = asyncio.run(_load_on_read(follower, read))
    assert got == alone
    # both read the list's first page: the leader before it died, the follower after
    firsts = [q for p, q in requests(emulator) if p == "/v1/invoices" and "starting_after" not in q]
    assert len(firsts) >= 2
    assert machines.leases() == 0  # the follower's lease, released


async def _count_invoices(engine: QueryEngine, read: DatasetRead) -> tuple[int, int]:
    loaded = await engine.load("shop", [read])
    try:
        row = loaded.query("SELECT count(*), count(DISTINCT id) FROM invoices").rows[0]
        return int(row[0]), int(row[1])
    finally:
        loaded.close()


async def _load_on_read(service: ConnectionService, read: DatasetRead) -> list[tuple[int, int]]:
    engine = QueryEngine(service.settings, service)
    try:
        return [await _count_invoices(engine, read)]
    finally:
        await engine.aclose()


def test_a_stale_lease_is_taken_over_at_once_and_its_spool_removed(
    machines: Machines, emulator: Emulator
) -> None:
    """A lease left by a process that died long ago (expired, its spool still there): the next
    reader takes it over without waiting, reads each page once, and removes the old spool."""
    service = machines.services[0]
    conn = service.get("shop")
    read = DatasetRead("charges")
    key = spool_key(conn.id, read)
    machines.spools.mkdir(mode=0o700, parents=True)
    stale = machines.spools / f"{key}.deadbeef.spool"
    stale.write_bytes(head_frame("deadbeef"))
    os.chmod(stale, 0o600)
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    with service.db.db.write() as tx:
        tx.execute(
            "INSERT INTO live_read_leases (read_key, token, holder, taken_at, expires_at)"
            " VALUES (?, 'deadbeef', 'gone:1', ?, ?)",
            (key, clocks.now() - 3600, clocks.now() - 3590),
        )

    async def load() -> tuple[int, ...]:
        engine = QueryEngine(service.settings, service)
        try:
            loaded = await engine.load("shop", [read])
            try:
                return tuple(
                    int(v)
                    for v in loaded.query("SELECT count(*), count(DISTINCT id) FROM charges").rows[
                        0
                    ]
                )
            finally:
                loaded.close()
        finally:
            await engine.aclose()

    emulator.log.clear()
    got = asyncio.run(load())
    made = requests(emulator)
    assert got[0] == got[1] > 0
    assert not [r for r, n in Counter(made).items() if n > 1]
    assert not stale.exists()
    assert machines.leases() == 0
    wait_for(lambda: not list(machines.spools.iterdir()), "the spool to be removed")


def test_page_counts_survive_a_restart_and_reach_the_other_machine(
    machines: Machines, emulator: Emulator
) -> None:
    a = machines.services[0]
    conn = a.get("shop")
    read = DatasetRead("charges")

    async def last_pages(service: ConnectionService) -> int | None:
        engine = QueryEngine(service.settings, service)
        try:
            return engine.live.state(conn.id, read).last_pages
        finally:
            await engine.aclose()

    assert asyncio.run(last_pages(a)) is None
    pages = asyncio.run(_pages_read(a, read))
    assert pages > 1
    assert asyncio.run(last_pages(a)) == pages  # a new engine: the process restarted
    b = machines.service()
    assert asyncio.run(last_pages(b)) == pages  # another machine, never made the read
    rows = a.db.db.query("SELECT connection_id, shape, pages FROM live_read_pages")
    assert [(r[0], r[2]) for r in rows] == [(conn.id, pages)]
    assert str(shape(read)) not in str(rows[0][1])  # a hash names the shape

    a.delete("shop")
    assert not b.db.db.query("SELECT 1 FROM live_read_pages")


async def _pages_read(service: ConnectionService, read: DatasetRead) -> int:
    """Load ``read`` once; the pages it took, as the load's progress counted them."""
    engine = QueryEngine(service.settings, service)
    try:
        streamed = await engine.stream("shop", [read])
        try:
            async for _ in streamed.arrivals():
                pass
            return streamed.states[0].pages
        finally:
            streamed.loaded.close()
    finally:
        await engine.aclose()


def test_a_leader_renews_its_lease_through_a_read_longer_than_the_lease(
    machines: Machines, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leases of 0.45 s (renewed every 0.15 s) and reads of several seconds: the follower never
    finds the lease expired, so nothing is read twice."""
    monkeypatch.setattr(read_leases, "LEASE_SECONDS", 0.45)
    emulator.config.latency_ms = 150
    a, b = machines.services[0], machines.service()
    emulator.log.clear()
    first, second = asyncio.run(_load_on([a, b]))
    assert first == second
    assert first[2] == first[3]
    assert not [r for r, n in Counter(requests(emulator)).items() if n > 1]
    assert machines.leases() == 0


def test_a_spool_that_never_appears_ends_in_a_read_made_alone(
    machines: Machines, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A live lease whose spool is not in this folder (a FLITCH_CACHE_URL that is not in fact
    shared between the replicas): the reader waits a moment for it, then reads on its own."""
    service = machines.services[0]
    conn = service.get("shop")
    read = DatasetRead("charges")
    with service.db.db.write() as tx:
        tx.execute(
            "INSERT INTO live_read_leases (read_key, token, holder, taken_at, expires_at)"
            " VALUES (?, 'elsewhere', 'other-machine:1', ?, ?)",
            (spool_key(conn.id, read), clocks.now(), clocks.now() + 3600),
        )
    emulator.log.clear()
    (got,) = asyncio.run(_load_on_read_charges(service, read))
    assert got[0] == got[1] > 0
    assert not [r for r, n in Counter(requests(emulator)).items() if n > 1]
    assert "did not appear" in caplog.text


async def _load_on_read_charges(
    service: ConnectionService, read: DatasetRead
) -> list[tuple[int, int]]:
    engine = QueryEngine(service.settings, service)
    try:
        loaded = await engine.load("shop", [read])
        try:
            row = loaded.query("SELECT count(*), count(DISTINCT id) FROM charges").rows[0]
            return [(int(row[0]), int(row[1]))]
        finally:
            loaded.close()
    finally:
        await engine.aclose()
