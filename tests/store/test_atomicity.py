"""One writer, whole versions: what readers see while refreshes run, fail, or are killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from flitch.store import DuckDBStore, RefreshRunning
from tests.store import factories
from tests.store.conftest import CHARGES, count, fill

ROOT = Path(__file__).resolve().parents[2]


def _child(store: DuckDBStore, body: str) -> subprocess.Popen[str]:
    """A Python process that starts a refresh of ``store``, runs ``body``, says ready, waits."""
    code = (
        textwrap.dedent(
            f"""
        import sys, time
        from flitch import catalog
        from flitch.store import DuckDBStore
        from tests.store import factories
        store = DuckDBStore({str(store.cache_dir)!r}, batch_rows=200)
        txn = store.begin_refresh(full=True)
        spec = catalog.get("charges")
        """
        )
        + textwrap.dedent(body)
        + "\nprint('ready', flush=True)\ntime.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_reader_opened_before_a_commit_keeps_its_version(store: DuckDBStore) -> None:
    fill(store, 100)
    pinned = store.reader(follow=False)
    following = store.reader()
    snapshot = following.snapshot()
    assert pinned.query("SELECT count(*) FROM charges").rows == [(100,)]
    fill(store, 300)
    assert pinned.query("SELECT count(*) FROM charges").rows == [(100,)]
    assert snapshot.query("SELECT count(*) FROM charges").rows == [(100,)]
    assert following.query("SELECT count(*) FROM charges").rows == [(300,)]
    assert following.generation == store.generation()
    pinned.close()
    following.close()


def test_readers_see_nothing_of_a_refresh_until_it_commits(store: DuckDBStore) -> None:
    fill(store, 100)
    with store.reader() as reader, store.begin_refresh(full=True) as txn:
        writer = txn.replace_dataset(CHARGES)
        writer.add_page(factories.charges(1000))
        writer.finish()
        assert reader.query("SELECT count(*) FROM charges").rows == [(100,)]
        txn.commit()
        assert reader.query("SELECT count(*) FROM charges").rows == [(1000,)]


def test_a_writer_that_raises_leaves_the_old_data(store: DuckDBStore) -> None:
    fill(store, 100)
    generation = store.generation()

    def failing_refresh() -> None:
        with store.begin_refresh(full=True) as txn:
            writer = txn.replace_dataset(CHARGES)
            writer.add_page(factories.charges(500))
            writer.finish()
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing_refresh()
    assert store.generation() == generation
    assert count(store) == 100
    assert [p.name for p in store.files()] == ["current.duckdb", "writer.lock"]


def test_leaving_the_block_without_commit_discards(store: DuckDBStore) -> None:
    fill(store, 100)
    with store.begin_refresh(full=True) as txn:
        txn.replace_dataset(CHARGES).finish()
    assert count(store) == 100
    txn2 = store.begin_refresh(full=True)
    txn2.abort()
    txn2.abort()
    assert count(store) == 100


def test_kill_9_mid_refresh_leaves_current_intact_and_the_next_writer_cleans_up(
    store: DuckDBStore,
) -> None:
    fill(store, 100)
    proc = _child(
        store,
        """
        writer = txn.replace_dataset(spec)
        for page in factories.pages(factories.charges(2000)):
            writer.add_page(page)
        """,
    )
    try:
        staging = [p.name for p in store.files() if p.name.startswith("staging-")]
        assert staging, "the child should be writing a staging file"
        with pytest.raises(RefreshRunning):
            store.begin_refresh(full=True)
    finally:
        _kill(proc)
    assert count(store) == 100
    assert any(p.name.startswith("staging-") for p in store.files())
    fill(store, 250)
    assert count(store) == 250
    assert [p.name for p in store.files()] == ["current.duckdb", "writer.lock"]


def test_a_second_writer_in_another_process_is_refused_at_once(store: DuckDBStore) -> None:
    proc = _child(store, "")
    try:
        with pytest.raises(RefreshRunning, match="already running") as err:
            store.begin_refresh(full=False)
        assert err.value.retriable
        assert "try again" in str(err.value)
        with pytest.raises(RefreshRunning):
            store.destroy()
    finally:
        _kill(proc)
    fill(store, 10)
    assert count(store) == 10


def test_a_second_writer_in_another_thread_is_refused(store: DuckDBStore) -> None:
    started = threading.Event()
    release = threading.Event()

    def first() -> None:
        with store.begin_refresh(full=True) as txn:
            txn.replace_dataset(CHARGES).add_page(factories.charges(5))
            started.set()
            release.wait(30)
            txn.commit()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(30)
        errors = []
        for _ in range(3):
            try:
                store.begin_refresh(full=True)
            except RefreshRunning as exc:
                errors.append(exc)
        assert len(errors) == 3
        assert str(errors[0]).startswith("A refresh of this connection is already running.")
    finally:
        release.set()
        thread.join(30)
    assert count(store) == 5
    fill(store, 7)  # the lock was released by the commit
    assert count(store) == 7


def test_destroy_removes_every_file(store: DuckDBStore) -> None:
    fill(store, 100)
    (store.cache_dir / "staging-1-dead.duckdb").write_bytes(b"left by a crash")
    parent = store.cache_dir.parent
    store.destroy()
    assert not store.cache_dir.exists()
    assert list(parent.iterdir()) == []
    store.destroy()  # nothing left: a no-op
    with store.reader() as reader:
        assert reader.datasets() == []


def test_a_reader_before_the_first_refresh_sees_no_datasets(store: DuckDBStore) -> None:
    with store.reader() as reader:
        assert reader.datasets() == []
        assert reader.query("SELECT 1 AS one").rows == [(1,)]
        fill(store, 5)
        assert [d.name for d in reader.datasets()] == ["charges"]


def test_readers_in_other_processes_at_the_same_time(store: DuckDBStore) -> None:
    fill(store, 120)
    code = (
        "import sys, time\n"
        "from flitch.store import DuckDBStore\n"
        f"reader = DuckDBStore({str(store.cache_dir)!r}).reader(follow=False)\n"
        "print(reader.query('SELECT count(*) FROM charges').rows[0][0], flush=True)\n"
        "sys.stdin.readline()\n"
        "print(reader.query('SELECT count(*) FROM charges').rows[0][0], flush=True)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "120"
        fill(store, 30)  # commits while both processes hold the old version open
        for proc in procs:
            out, _ = proc.communicate("go\n", timeout=60)
            assert out.strip() == "120"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert count(store) == 30
