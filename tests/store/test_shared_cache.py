"""A shared cache (FLITCH_CACHE_URL): immutable versions, the current one in the metadata.

Two "replicas" are two connection services with FLITCH_HOMEs of their own that share one cache
folder and one metadata database (a real PostgreSQL server; SQLite where one home is enough),
each reading real DuckDB files.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flitch import clock as clocks
from flitch.cache_location import CacheLocation, CacheLocationError
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.store import DuckDBStore
from flitch.store.publishing import InPlace, PublishConflict, Versioned
from flitch.store.versions import VersionBook
from tests.store import factories
from tests.store.conftest import CHARGES, count, fill

CONN = "conn_shared1"


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[Callable[[], ConnectionService]]:
    """``replica()``: a service on a FLITCH_HOME of its own, sharing the cache folder and the
    PostgreSQL metadata with every other replica of the test."""
    made: list[ConnectionService] = []

    def replica() -> ConnectionService:
        home = tmp_path / f"home{len(made)}"
        settings = Settings(
            home=home, database_url=postgres_url, cache_url=f"file://{tmp_path / 'shared'}"
        )
        made.append(ConnectionService(settings))
        return made[-1]

    yield replica
    for service in made:
        service.close()


def versions(service: ConnectionService) -> list[str]:
    folder = service.cache_dir(CONN)
    return sorted(p.name for p in folder.glob("v-*.duckdb"))


def recorded(service: ConnectionService) -> int | None:
    return service.versions.current(CONN)


def test_two_replicas_answer_from_the_version_a_refresh_publishes(
    replicas: Callable[[], ConnectionService],
) -> None:
    writer, web = replicas(), replicas()
    assert writer.home != web.home
    assert writer.cache_dir(CONN) == web.cache_dir(CONN)
    fill(writer.store(CONN, batch_rows=200), 500, 50)
    assert recorded(web) == 1
    with web.store(CONN).reader() as reading, writer.store(CONN).reader() as other:
        assert count(web.store(CONN)) == 500
        assert reading.query("SELECT count(*) FROM charges").rows[0][0] == 500
        assert other.query("SELECT count(*) FROM charges").rows[0][0] == 500

        fill(writer.store(CONN, batch_rows=200), 300)  # a full refresh: version 2

        assert recorded(web) == 2
        assert reading.query("SELECT count(*) FROM charges").rows[0][0] == 300
        assert other.query("SELECT count(*) FROM charges").rows[0][0] == 300
        # both readers moved on and let go of version 1: its file is gone
        assert versions(web) == ["v-2.duckdb"]
    folder = writer.cache_dir(CONN)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "v-2.duckdb").stat().st_mode) == 0o600
    assert not list(folder.glob("staging-*"))
    assert not (folder / "current.duckdb").exists()


def test_an_old_version_stays_until_its_last_reader_lets_go(
    replicas: Callable[[], ConnectionService],
) -> None:
    writer, first, second = replicas(), replicas(), replicas()
    fill(writer.store(CONN, batch_rows=200), 500)
    pinned_a = first.store(CONN).reader(follow=False)
    pinned_b = second.store(CONN).reader(follow=False)
    assert pinned_a.query("SELECT count(*) FROM charges").rows[0][0] == 500
    assert pinned_b.query("SELECT count(*) FROM charges").rows[0][0] == 500

    fill(writer.store(CONN, batch_rows=200), 200)

    assert recorded(writer) == 2
    assert versions(writer) == ["v-1.duckdb", "v-2.duckdb"]  # two readers hold version 1
    assert pinned_a.query("SELECT count(*) FROM charges").rows[0][0] == 500
    pinned_a.close()
    assert versions(writer) == ["v-1.duckdb", "v-2.duckdb"]  # the second still reads it
    assert pinned_b.query("SELECT count(*) FROM charges").rows[0][0] == 500
    pinned_b.close()
    assert versions(writer) == ["v-2.duckdb"]
    assert count(first.store(CONN)) == 200


def test_a_reader_that_died_holds_its_version_only_until_its_lease_runs_out(
    replicas: Callable[[], ConnectionService], pin_clock: Callable[[float], clocks.Clock]
) -> None:
    clock = pin_clock(1_900_000_000.0)
    writer = replicas()
    fill(writer.store(CONN, batch_rows=200), 100)
    dead = VersionBook(writer.db.db, lease_seconds=60)
    dead.hold(CONN, 1)  # a process that opened version 1, then was killed: it never lets go
    dead._stop.set()  # and renews nothing

    fill(writer.store(CONN, batch_rows=200), 50)
    assert versions(writer) == ["v-1.duckdb", "v-2.duckdb"]
    clock.advance(59)
    writer.store(CONN).published.prune()
    assert versions(writer) == ["v-1.duckdb", "v-2.duckdb"]
    clock.advance(2)
    writer.store(CONN).published.prune()
    assert versions(writer) == ["v-2.duckdb"]
    rows = writer.db.db.query("SELECT count(*) FROM cache_readers WHERE cache = ?", (CONN,))
    assert rows[0][0] == 0


def test_a_live_reader_renews_its_lease(
    replicas: Callable[[], ConnectionService], pin_clock: Callable[[float], clocks.Clock]
) -> None:
    clock = pin_clock(1_900_000_000.0)
    writer, web = replicas(), replicas()
    fill(writer.store(CONN, batch_rows=200), 100)
    pinned = web.store(CONN).reader(follow=False)
    assert pinned.query("SELECT count(*) FROM charges").rows[0][0] == 100
    fill(writer.store(CONN, batch_rows=200), 50)
    clock.advance(3600)
    web.versions.renew()  # what its renewing thread does every third of a lease
    writer.store(CONN).published.prune()
    assert versions(writer) == ["v-1.duckdb", "v-2.duckdb"]
    assert pinned.query("SELECT count(*) FROM charges").rows[0][0] == 100
    pinned.close()
    assert versions(writer) == ["v-2.duckdb"]


def refresh_that_fails(store: DuckDBStore) -> None:
    with store.begin_refresh(full=True) as refresh:
        writer = refresh.replace_dataset(CHARGES)
        for page in factories.pages(factories.charges(50)):
            writer.add_page(page)
        raise RuntimeError("Stripe went away")


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_failed_refresh_leaves_the_recorded_version_untouched(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    url = None if engine == "sqlite" else request.getfixturevalue("postgres_url")
    settings = Settings(home=tmp_path / "home", database_url=url, cache_url=str(tmp_path / "c"))
    with ConnectionService(settings) as service:
        store = service.store(CONN, batch_rows=200)
        fill(store, 300)
        with pytest.raises(RuntimeError, match="Stripe went away"):
            refresh_that_fails(store)
        assert recorded(service) == 1
        assert versions(service) == ["v-1.duckdb"]
        assert count(store) == 300
        assert not list(service.cache_dir(CONN).glob("staging-*"))


def test_a_writer_that_another_published_over_drops_its_version(
    replicas: Callable[[], ConnectionService],
) -> None:
    """Where the folder's lock does not reach another machine, the record still does: a
    refresh whose starting version is no longer current when it ends publishes nothing."""
    one, other = replicas(), replicas()
    fill(one.store(CONN, batch_rows=200), 300)
    refresh = one.store(CONN, batch_rows=200).begin_refresh(full=True)
    with refresh:
        writer = refresh.replace_dataset(CHARGES)
        for page in factories.pages(factories.charges(10)):
            writer.add_page(page)
        # another machine's refresh publishes meanwhile
        book = other.versions
        assert book.publish(CONN, 1, book.next_number(CONN))
        with pytest.raises(PublishConflict, match="Another refresh"):
            refresh.commit()
    assert recorded(other) == 2
    assert "v-3.duckdb" not in versions(other)


def test_a_deleted_shared_cache_leaves_no_file_and_no_record(
    replicas: Callable[[], ConnectionService],
) -> None:
    writer, web = replicas(), replicas()
    fill(writer.store(CONN, batch_rows=200), 100)
    reading = web.store(CONN).reader()
    assert reading.query("SELECT count(*) FROM charges").rows[0][0] == 100
    writer.store(CONN).destroy()
    assert not writer.cache_dir(CONN).exists()
    assert recorded(web) is None
    assert reading.release_stale()  # the other replica sees it gone
    rows = web.db.db.query("SELECT count(*) FROM cache_readers WHERE cache = ?", (CONN,))
    assert rows[0][0] == 0


def test_without_flitch_cache_url_the_single_machine_layout_is_unchanged(tmp_path: Path) -> None:
    with ConnectionService(Settings(home=tmp_path / "home")) as service:
        assert service.cache_dir(CONN) == tmp_path / "home" / "cache" / CONN
        store = service.store(CONN, batch_rows=200)
        assert isinstance(store.published, InPlace)
        fill(store, 100)
        fill(store, 50)
        assert sorted(p.name for p in service.cache_dir(CONN).iterdir()) == [
            "current.duckdb",
            "writer.lock",
        ]
        rows = service.db.db.query("SELECT count(*) FROM cache_versions")
        assert rows[0][0] == 0
        assert count(DuckDBStore(service.cache_dir(CONN))) == 50


def test_flitch_cache_url_names_a_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert CacheLocation.of(home, None) == CacheLocation(home / "cache", versioned=False)
    assert CacheLocation.of(home, "") == CacheLocation(home / "cache", versioned=False)
    assert CacheLocation.of(home, "file:///srv/flitch%20cache").root == Path("/srv/flitch cache")
    assert CacheLocation.of(home, "/mnt/nfs/flitch") == CacheLocation(
        Path("/mnt/nfs/flitch"), versioned=True
    )
    for url, said in [
        ("s3://bucket/flitch", "object storage"),
        ("file://fileserver/srv/x", "another host"),
        ("flitch-cache", "relative path"),
        ("ftp://host/x", "neither"),
    ]:
        with pytest.raises(CacheLocationError, match=said):
            CacheLocation.of(home, url)
    settings = Settings.from_env({"FLITCH_HOME": str(home), "FLITCH_CACHE_URL": "/srv/c"})
    with ConnectionService(settings) as service:
        assert service.cache_dir(CONN) == Path("/srv/c") / CONN
        assert isinstance(service.store(CONN).published, Versioned)


def test_a_lease_is_recorded_whenever_a_thread_of_the_process_holds_it(
    replicas: Callable[[], ConnectionService],
) -> None:
    """Threads of one process holding and giving back one version at once: while any of them
    holds it the lease row is there, and once the last lets go it is not."""
    import threading

    service = replicas()
    fill(service.store(CONN, batch_rows=200), 10)
    book = service.versions
    unleased: list[int] = []

    def leases() -> int:
        rows = service.db.db.query(
            "SELECT count(*) FROM cache_readers WHERE cache = ? AND holder = ?",
            (CONN, book.holder),
        )
        return int(rows[0][0])

    def reader() -> None:
        for _ in range(25):
            book.hold(CONN, 1)
            if leases() != 1:
                unleased.append(1)
            book.let_go(CONN, 1)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unleased == []
    assert leases() == 0
