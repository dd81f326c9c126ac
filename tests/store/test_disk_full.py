"""A disk that fills while a refresh writes the next version: a clear error, nothing lost.

The cache lives on a small filesystem of its own (a tmpfs of a few MB, mounted for the test) when
the machine allows one; elsewhere the same failure is injected (ENOSPC from the writes)."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flitch.connections.records import RunOutcome
from flitch.refresh import refresh
from flitch.refresh.runner import store_for
from flitch.store import DuckDBStore, duckdb_store, loading
from flitch.store.resources import DiskFull
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World
from tests.store import factories
from tests.store.conftest import CHARGES, count, fill


class SmallDisk:
    """Filesystems of a few MB (tmpfs), mounted for one test and unmounted after it."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def mount(self, folder: Path, size: int) -> bool:
        """Make ``folder`` a filesystem of ``size`` bytes; False where the machine cannot."""
        folder.mkdir(parents=True, exist_ok=True)
        if shutil.which("mount") is None:
            return False
        options = f"size={size},mode=0700"
        if not self._run("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)):
            return False
        self.mounted.append(folder)
        return True

    def grow(self, folder: Path, size: int) -> None:
        assert self._run("mount", "-o", f"remount,size={size}", str(folder))

    @staticmethod
    def _run(*command: str) -> bool:
        return subprocess.run(command, capture_output=True, check=False).returncode == 0

    def unmount_all(self) -> None:
        for folder in self.mounted:
            self._run("umount", "-l", str(folder))


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    disk = SmallDisk()
    yield disk
    disk.unmount_all()


def _no_space(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _fill_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no small filesystem can be mounted: the writes fail as a full disk fails them."""
    monkeypatch.setattr(loading.Tables, "append", _no_space)
    monkeypatch.setattr(duckdb_store.shutil, "copyfile", _no_space)


def _move_onto_small_disk(
    cache: Path, size: int, disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> bool:
    """The cache folder, with what it holds, on a filesystem of ``size`` bytes (True), or
    where it was with its writes failing for want of space (False)."""
    aside = cache.with_name(cache.name + "-aside")
    shutil.move(cache, aside)
    mounted = disk.mount(cache, size)
    if mounted:
        for path in aside.iterdir():
            shutil.copy2(path, cache / path.name)
    else:
        cache.mkdir()
        for path in aside.iterdir():
            shutil.copy2(path, cache / path.name)
        _fill_up(monkeypatch)
    shutil.rmtree(aside)
    return mounted


def _publish(store: DuckDBStore, n: int) -> None:
    with store.begin_refresh(full=True) as tx:
        writer = tx.replace_dataset(CHARGES)
        for page in factories.pages(factories.charges(n)):
            writer.add_page(page)
        tx.commit()


def test_a_full_refresh_that_fills_the_disk_keeps_the_current_version(
    tmp_path: Path, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DuckDBStore(tmp_path / "cache", batch_rows=500)
    fill(store, 300)
    size = store.current_path.stat().st_size
    _move_onto_small_disk(store.cache_dir, size * 3, small_disk, monkeypatch)
    before = store.current_path.read_bytes()

    with pytest.raises(DiskFull) as caught:
        _publish(store, 40_000)

    assert str(store.cache_dir) in caught.value.message
    assert "previous" in caught.value.message
    assert "Free" in caught.value.fix
    assert store.current_path.read_bytes() == before
    assert count(store) == 300
    assert not list(store.cache_dir.glob("staging-*"))
    monkeypatch.undo()
    with store.begin_refresh(full=True) as tx:  # the lock was let go: the next one can start
        tx.abort()


def test_an_incremental_refresh_without_room_for_its_copy_says_how_much_it_needs(
    tmp_path: Path, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DuckDBStore(tmp_path / "cache", batch_rows=500)
    fill(store, 3000)
    size = store.current_path.stat().st_size
    _move_onto_small_disk(store.cache_dir, size + size // 2, small_disk, monkeypatch)
    before = store.current_path.read_bytes()

    with pytest.raises(DiskFull) as caught:
        store.begin_refresh(full=False)

    assert f"{size / 1e6:.1f} MB" in caught.value.message
    assert store.current_path.read_bytes() == before
    assert not list(store.cache_dir.glob("staging-*"))


def test_a_refresh_on_a_full_disk_fails_clearly_and_the_next_one_works(
    world: World, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.service.create("Shop", TEST_KEY, refresh="1h")
    first = refresh(world.service, "Shop", clock=world.clock)
    assert first.outcome is RunOutcome.OK, first.to_dict()
    store = store_for(world.service, first.connection_id)
    size = store.current_path.stat().st_size
    mounted = _move_onto_small_disk(store.cache_dir, size + size // 3, small_disk, monkeypatch)
    before = store.current_path.read_bytes()
    world.advance(3600)

    result = refresh(world.service, "Shop", full=True, clock=world.clock)

    assert result.outcome is RunOutcome.FAILED, result.to_dict()
    assert result.error is not None
    assert "disk" in result.error.message
    assert "kept" in result.error.message
    assert store.current_path.read_bytes() == before
    assert not list(store.cache_dir.glob("staging-*"))
    last = world.service.db.runs(first.connection_id, limit=1)[0]
    assert last.outcome is RunOutcome.FAILED
    assert last.error == result.error.message

    if mounted:
        small_disk.grow(store.cache_dir, 4 * size)
    else:
        monkeypatch.undo()
    world.advance(3600)
    again = refresh(world.service, "Shop", full=True, clock=world.clock)
    assert again.outcome is RunOutcome.OK, again.to_dict()
