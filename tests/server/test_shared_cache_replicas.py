"""A shared cache between machines (FLITCH_CACHE_URL), with real processes: a refresh run in one
FLITCH_HOME publishes a version into the shared folder, and `flitch sql` processes of two other
FLITCH_HOMEs (two replicas' machines) answer from it, through one PostgreSQL metadata."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson

from flitch import clock as clocks
from flitch.connections.service import ConnectionService
from tests.conftest import TEST_KEY
from tests.server.support import Install

SECRET = "a-master-key-every-process-of-the-cluster-shares"


def flitch(
    install: Install, home: Path, shared: Path, *args: str
) -> subprocess.CompletedProcess[bytes]:
    env = install.env(
        FLITCH_HOME=str(home),
        FLITCH_CACHE_URL=f"file://{shared}",
        FLITCH_SECRET_KEY=SECRET,
        FLITCH_REFRESH_WORKERS="0",
    )
    return subprocess.run(
        [sys.executable, "-m", "flitch", *args],
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )


def charges(install: Install, home: Path, shared: Path) -> tuple[int, str]:
    """What a replica on ``home`` answers for the number of charges, and from where."""
    done = flitch(install, home, shared, "sql", "Shop", "SELECT count(*) FROM charges", "--json")
    assert done.returncode == 0, done.stderr.decode()
    answer = orjson.loads(done.stdout)
    return int(answer["rows"][0][0]), str(answer["source"])


def test_replicas_on_other_homes_answer_from_the_version_a_refresh_published(
    make_pg_install: Callable[..., Install], tmp_path: Path
) -> None:
    install = make_pg_install(customers=20)
    shared = tmp_path / "shared-cache"
    settings = replace(install.settings, cache_url=f"file://{shared}", secret_key=SECRET)
    with ConnectionService(settings) as service:
        conn = service.create("Shop", TEST_KEY, objects="customers,charges").connection
        assert conn is not None
        service.set_refresh("Shop", "1h")
        folder = service.cache_dir(conn.id)
        book = service.versions
        worker_home = install.settings.home
        first = flitch(install, worker_home, shared, "refresh", "Shop", "--json")
        assert first.returncode == 0, first.stderr.decode()
        assert book.current(conn.id) == 1
        assert folder.parent == shared
        before = charges(install, tmp_path / "replica-a", shared)
        assert before[1] == "cache"
        assert charges(install, tmp_path / "replica-b", shared) == before

        install.emulator.apply_changes("new_charge", 3)
        again = flitch(install, worker_home, shared, "refresh", "Shop", "--full", "--json")
        assert again.returncode == 0, again.stderr.decode()

        assert book.current(conn.id) == 2
        assert charges(install, tmp_path / "replica-a", shared) == (before[0] + 3, "cache")
        assert charges(install, tmp_path / "replica-b", shared) == (before[0] + 3, "cache")
        # no process reads version 1 any more: it is gone, and no lease is left behind
        assert sorted(p.name for p in folder.glob("v-*.duckdb")) == ["v-2.duckdb"]
        leases = service.db.db.query("SELECT count(*) FROM cache_readers")
        assert leases[0][0] == 0
        assert not (worker_home / "cache" / conn.id).exists()
        assert not (tmp_path / "replica-a" / "cache").exists()


def test_web_replicas_follow_a_new_version_and_let_the_old_one_go(
    make_pg_install: Callable[..., Install], tmp_path: Path
) -> None:
    """The web app's engines (one per replica) answer cached SQL from the recorded version; the
    sweep each runs every second moves them to a new one and gives the old one back."""
    import asyncio

    from flitch.query.engine import QueryEngine
    from flitch.refresh.runner import Refresher

    install = make_pg_install(customers=15)
    shared = tmp_path / "shared-cache"
    base = replace(install.settings, cache_url=f"file://{shared}", secret_key=SECRET)
    services = [ConnectionService(replace(base, home=tmp_path / f"home-{n}")) for n in range(3)]
    worker, *web = services
    try:
        conn = worker.create("Shop", TEST_KEY, objects="customers,charges").connection
        assert conn is not None
        worker.set_refresh("Shop", "1h")
        engines = [QueryEngine(s.settings, s) for s in web]

        async def counts() -> list[tuple[int, str]]:
            answers = [await e.sql("Shop", "SELECT count(*) FROM charges") for e in engines]
            return [(int(a.result.rows[0][0]), a.provenance.source) for a in answers]

        async def scenario() -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[str]]:
            assert (await Refresher(worker).run("Shop")).ok
            before = await counts()
            install.emulator.apply_changes("new_charge", 2)
            assert (await Refresher(worker).run("Shop", full=True)).ok
            held = sorted(p.name for p in worker.cache_dir(conn.id).glob("v-*.duckdb"))
            for engine in engines:
                engine.sweep()
            after = await counts()
            for engine in engines:
                await engine.aclose()
            return before, after, held

        before, after, held = asyncio.run(scenario())
        assert before[0] == before[1]
        assert before[0][1] == "cache"
        # version 1 was still held by both engines when version 2 was published
        assert held == ["v-1.duckdb", "v-2.duckdb"]
        assert after == [(before[0][0] + 2, "cache")] * 2
        assert sorted(p.name for p in worker.cache_dir(conn.id).glob("v-*.duckdb")) == [
            "v-2.duckdb"
        ]
    finally:
        for service in services:
            service.close()


_HOLDER = """
import sys, time
from flitch.config import Settings
from flitch.connections.service import ConnectionService
service = ConnectionService(Settings.from_env())
reader = service.store(sys.argv[1]).reader(follow=False)
print(reader.query("SELECT count(*) FROM charges").rows[0][0], flush=True)
time.sleep(600)
"""


def test_a_reader_killed_with_kill_9_holds_its_version_until_its_lease_ends(
    make_pg_install: Callable[..., Install],
    tmp_path: Path,
    pin_clock: Callable[[float], clocks.Clock],
) -> None:
    """A replica's process that dies holding version 1 (kill -9: nothing given back) keeps it
    from removal until its lease's expiry on the Flitch clock, and not after."""
    import asyncio

    from flitch.refresh.runner import Refresher

    install = make_pg_install(customers=10)
    shared = tmp_path / "shared-cache"
    settings = replace(install.settings, cache_url=f"file://{shared}", secret_key=SECRET)
    with ConnectionService(settings) as service:
        conn = service.create("Shop", TEST_KEY, objects="customers,charges").connection
        assert conn is not None
        assert flitch(install, settings.home, shared, "refresh", "Shop").returncode == 0
        # the writer's clock stands still from here: only the lease's expiry decides
        clock = pin_clock(clocks.now())
        env = install.env(
            FLITCH_HOME=str(tmp_path / "replica"),
            FLITCH_CACHE_URL=f"file://{shared}",
            FLITCH_SECRET_KEY=SECRET,
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, conn.id], env=env, stdout=subprocess.PIPE
        )
        try:
            assert holder.stdout is not None
            assert int(holder.stdout.readline()) > 0  # it has version 1 open, leased
        finally:
            holder.kill()
            holder.wait(30)
        [(version, expires)] = service.db.db.query(
            "SELECT version, expires_at FROM cache_readers WHERE cache = ?", (conn.id,)
        )
        assert version == 1
        # version 2, published in this process: its pruning reads the pinned clock
        assert asyncio.run(Refresher(service).run("Shop", full=True)).ok
        folder = service.cache_dir(conn.id)

        def files() -> list[str]:
            return sorted(p.name for p in folder.glob("v-*.duckdb"))

        clock.set(float(expires) - 1)
        service.store(conn.id).published.prune()
        assert files() == ["v-1.duckdb", "v-2.duckdb"]
        clock.set(float(expires) + 1)
        service.store(conn.id).published.prune()
        assert files() == ["v-2.duckdb"]
