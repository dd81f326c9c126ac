"""Memory bounded by ``FLITCH_MEMORY_LIMIT``, not by the account: the setting, the DuckDB
connections that take it, a large dataset published under a tiny limit (every heavy step spills
or runs in bounded passes), and a refresh that still runs out naming the setting to raise."""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest

from flitch import catalog
from flitch.config import MemorySize, Settings
from flitch.connections.records import RunOutcome
from flitch.connections.service import ConnectionService
from flitch.refresh import refresh
from flitch.refresh.runner import store_for
from flitch.store import DuckDBStore, resources
from flitch.store.derived import Derived
from flitch.store.resources import (
    MEMORY_SETTING,
    OutOfMemory,
    default_memory_limit,
    machine_memory,
    memory_limit_bytes,
    threads_for,
)
from flitch.store.schema import RawJSON
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World
from tests.store import factories

MiB = 1024**2
GiB = 1024**3
CHARGES = catalog.get("charges")


# -- the setting ----------------------------------------------------------------------------------
def test_the_setting_takes_sizes_and_a_share_of_the_machine() -> None:
    assert MemorySize("512MB").bytes(machine=8 * GiB) == 512_000_000
    assert MemorySize("2GiB").bytes(machine=8 * GiB) == 2 * GiB
    assert MemorySize(" 1.5 gb ").bytes(machine=8 * GiB) == 1_500_000_000
    assert MemorySize("25%").bytes(machine=8 * GiB) == 2 * GiB
    settings = Settings.from_env({"FLITCH_MEMORY_LIMIT": "768MiB"})
    assert settings.memory_limit == "768MiB"
    assert memory_limit_bytes(settings.memory_limit) == 768 * MiB


@pytest.mark.parametrize("raw", ["lots", "512", "0MB", "150%", "-1GB", "12 parsecs"])
def test_a_value_that_is_no_size_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ValueError, match=MEMORY_SETTING):
        Settings.from_env({"FLITCH_MEMORY_LIMIT": raw})


def test_the_default_is_a_quarter_of_the_machine_and_at_least_256mb() -> None:
    assert default_memory_limit(machine=24 * GiB) == 6 * GiB
    assert default_memory_limit(machine=512 * MiB) == 256 * MiB
    assert memory_limit_bytes(None, machine=8 * GiB) == 2 * GiB


def test_the_machine_s_memory_is_its_container_s_when_that_is_less(tmp_path: Path) -> None:
    physical = machine_memory(cgroup=tmp_path / "none")
    assert physical > 256 * MiB
    (tmp_path / "memory.max").write_text(f"{physical // 4}\n")
    assert machine_memory(cgroup=tmp_path) == physical // 4
    (tmp_path / "memory.max").write_text("max\n")
    assert machine_memory(cgroup=tmp_path) == physical


def test_duckdb_gets_a_thread_per_share_of_memory_it_can_spill_in() -> None:
    assert threads_for(24 * MiB, cores=8) == 1
    assert threads_for(256 * MiB, cores=8) == 2
    assert threads_for(6 * GiB, cores=2) == 2


def test_a_refresh_runs_duckdb_under_the_connection_s_setting(world: World) -> None:
    """Rows are appended and the derived tables built with the setting's memory."""
    settings = dataclasses.replace(world.settings, memory_limit="300MiB")
    seen = Derived("seen", "SELECT current_setting('memory_limit') AS memory_limit", ())
    with ConnectionService(settings) as service:
        service.create("Shop", TEST_KEY, objects="charges")
        store = store_for(service, service.get("Shop").id)
        store.derived = (seen,)
        with store.begin_refresh(full=True) as tx:
            spill = tx.spill_dir
            writing = tx.setting("memory_limit")
            assert spill.parent == store.cache_dir
            assert stat.S_IMODE(spill.stat().st_mode) == 0o700
            tx.commit()
        with store.reader() as reader:
            building = reader.query("SELECT memory_limit FROM derived_seen").rows
    assert (writing, building) == ("300.0 MiB", [("300.0 MiB",)])
    assert not spill.exists()
    small = DuckDBStore(world.settings.home / "small", memory_limit="100MiB")
    with small.begin_refresh(full=True) as tx:
        assert tx.setting("memory_limit") == "100.0 MiB"


# -- a large dataset under a tiny limit -----------------------------------------------------------
def _charge(i: int) -> bytes:
    """A charge with a Stripe-sized id (27 characters) and a few typed fields."""
    return orjson.dumps(
        {
            "id": f"ch_{(i * 2_654_435_761) % 10**12:012d}{i:012d}",
            "object": "charge",
            "created": 1_700_000_000 + i,
            "amount": 100 + i % 5000,
            "currency": "usd",
            "status": "succeeded",
        }
    )


def _pages(n: int, size: int = 1000) -> Iterator[RawJSON]:
    for start in range(0, n, size):
        yield RawJSON([_charge(i) for i in range(start, min(n, start + size))])


def test_a_large_dataset_publishes_under_a_tiny_memory_limit(tmp_path: Path) -> None:
    """200,000 charges in 24 MB: an index on the ids would need more than that (DuckDB's ART
    cannot spill: this failed with 'could not allocate block'); the uniqueness check runs in
    passes, and a derived table grouping every row's JSON (a hash table larger than the limit:
    without a folder to spill to, it fails) spills. A charge listed twice (Stripe's lists shift
    while paged) keeps its last copy."""
    n = 200_000
    grouped = Derived(
        "grouped", "SELECT raw, count(*) AS n FROM charges GROUP BY raw", ("charges",)
    )
    store = DuckDBStore(tmp_path / "cache", memory_limit="24MB", derived=(grouped,))
    with store.begin_refresh(full=True) as tx:
        writer = tx.replace_dataset(CHARGES)
        for page in _pages(n):
            writer.add_page(page)
        again = orjson.loads(_charge(7))
        writer.add_page([{**again, "amount": 999_999}])
        tx.commit()
    with store.reader() as reader:
        rows, ids, amount = reader.query(
            "SELECT count(*), count(DISTINCT id), max(amount) FILTER (WHERE id = ?) FROM charges",
            [again["id"]],
        ).rows[0]
    assert (rows, ids, amount) == (n, n, 999_999)
    with store.reader() as reader:
        groups = reader.query("SELECT count(*), max(n) FROM derived_grouped").rows
    assert groups == [(n, 1)]
    assert [p.name for p in store.files()] == ["current.duckdb", "writer.lock"]


def test_an_upsert_into_a_large_dataset_replaces_by_id_without_an_index(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "cache", memory_limit="24MB")
    with store.begin_refresh(full=True) as tx:
        writer = tx.replace_dataset(CHARGES)
        for page in _pages(50_000):
            writer.add_page(page)
        tx.commit()
    changed = {**orjson.loads(_charge(10)), "amount": 1}
    with store.begin_refresh(full=False) as tx:
        tx.upsert(CHARGES, [changed, changed, orjson.loads(_charge(50_000))])
        tx.delete(CHARGES, [orjson.loads(_charge(11))["id"]])
        tx.commit()
    with store.reader() as reader:
        rows, ids, amount = reader.query(
            "SELECT count(*), count(DISTINCT id), max(amount) FILTER (WHERE id = ?) FROM charges",
            [changed["id"]],
        ).rows[0]
    assert (rows, ids, amount) == (50_000, 50_000, 1)


# -- running out ----------------------------------------------------------------------------------
def _publish(store: DuckDBStore, n: int) -> None:
    """A full refresh of ``n`` charges, in a ``with`` block."""
    with store.begin_refresh(full=True) as tx:
        writer = tx.replace_dataset(CHARGES)
        for page in _pages(n):
            writer.add_page(page)
        tx.commit()


def test_out_of_memory_in_the_store_names_the_setting(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "cache", memory_limit="2MB")
    with pytest.raises(OutOfMemory) as caught:
        _publish(store, 20_000)
    assert MEMORY_SETTING in caught.value.fix
    assert "2.0 MB" in caught.value.message
    assert not store.exists()
    assert not list(store.cache_dir.glob("staging-*"))


def test_a_refresh_out_of_memory_says_which_setting_to_raise_and_keeps_the_cache(
    world: World,
) -> None:
    world.service.create("Shop", TEST_KEY, refresh="1h")
    first = refresh(world.service, "Shop", clock=world.clock)
    assert first.outcome is RunOutcome.OK, first.to_dict()
    store = store_for(world.service, first.connection_id)
    before = store.current_path.read_bytes()
    world.advance(3600)

    starved = dataclasses.replace(world.settings, memory_limit="2MB")
    with ConnectionService(starved) as service:
        result = refresh(service, "Shop", full=True, clock=world.clock)

    assert result.outcome is RunOutcome.FAILED
    assert result.error is not None
    assert MEMORY_SETTING in result.error.fix
    assert "kept" in result.error.message
    assert store.current_path.read_bytes() == before
    assert not list(store.cache_dir.glob("staging-*"))
    last = world.service.db.runs(first.connection_id, limit=1)[0]
    assert last.outcome is RunOutcome.FAILED
    assert MEMORY_SETTING in (last.fix or "")


def test_duckdb_s_own_error_is_kept_as_the_cause(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "cache", memory_limit="2MB")
    with pytest.raises(OutOfMemory) as caught:
        _publish(store, 20_000)
    assert isinstance(caught.value.__cause__, duckdb.OutOfMemoryException)


def test_a_refresh_lets_go_of_what_duckdb_cached_once_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB keeps each block it writes cached up to its limit: a refresh would hold its new
    file in memory as it grows (1.89x the memory for 9.3x the records). After each checkpoint
    it keeps at most ``CACHE_KEPT`` (made small here, for a small file)."""
    monkeypatch.setattr(resources, "CACHE_KEPT", 1 * MiB)
    store = DuckDBStore(tmp_path / "cache", memory_limit="1GiB", commit_rows=10_000)
    with store.begin_refresh(full=True) as tx:
        writer = tx.replace_dataset(CHARGES)
        for page in factories.pages(factories.charges(50_000)):
            writer.add_page(page)
        written = tx.staging_path.stat().st_size
        assert written > 10 * MiB
        assert tx.cached_bytes() < written / 4
        tx.commit()
    with store.reader() as reader:
        assert reader.query("SELECT count(*) FROM charges").rows == [(50_000,)]
