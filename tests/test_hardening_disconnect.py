"""``flitch disconnect`` while ``flitch serve`` runs: the server lets go of the deleted cache.

Issue 12: the server kept the deleted ``current.duckdb`` open, and every customer id came back
from its open file descriptor. Now the server drops the handles of a cache that is gone within
a second or two, even if no request mentions the connection again, and the deletion overwrites
the file's bytes before unlinking it, so a handle still open anywhere reads zeros.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.refresh.runner import refresh
from flitch.store import DuckDBStore
from tests.conftest import TEST_KEY, clock_env
from tests.store.conftest import fill


def settings(home: Path, emu: Emulator) -> Settings:
    return Settings(
        home=home,
        stripe_api_base=emu.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )


def environment(home: Path, emu: Emulator) -> dict[str, str]:
    env = {**os.environ, **clock_env(), "FLITCH_HOME": str(home), "FLITCH_STRIPE_API_BASE": emu.url}
    env.pop("FLITCH_SECRET_KEY", None)
    return env


def flitch(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flitch", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def held(pid: int, folder: Path) -> list[tuple[Path, str]]:
    """The descriptors of process ``pid`` open on a file in ``folder`` (deleted ones too)."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append((fd, target))
    return found


def customers_behind(fd: Path, scratch: Path) -> int:
    """How many customers a copy of the file behind ``fd`` holds (0 if it is no database)."""
    copy = scratch / f"recovered-{fd.name}.duckdb"
    try:
        shutil.copyfile(fd, copy)
        con = duckdb.connect(str(copy), read_only=True)
        try:
            return int(con.execute("SELECT count(*) FROM customers").fetchall()[0][0])
        finally:
            con.close()
    except (OSError, duckdb.Error):
        return 0


@pytest.fixture
def server(tmp_path: Path, tiny_emulator: Emulator) -> Iterator[tuple[subprocess.Popen[str], str]]:
    home = tmp_path / "home"
    with ConnectionService(settings(home, tiny_emulator)) as service:
        conn = service.create("shop", TEST_KEY, objects="customers,charges").connection
        assert refresh(service, "shop", full=True).outcome.value == "ok"
        service.set_refresh("shop", "1h")
    env = environment(home, tiny_emulator)
    flitch(env, "users", "add", "ada", "--role", "admin", stdin="a long password 1\n")
    secret = flitch(env, "tokens", "create", "ada").split()[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "flitch", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base + "/signin", timeout=2)
            break
        except httpx.TransportError:
            assert process.poll() is None, "flitch serve stopped"
            assert time.monotonic() < deadline, "flitch serve did not start"
            time.sleep(0.1)
    process.env = env  # type: ignore[attr-defined]
    process.home = home  # type: ignore[attr-defined]
    process.rows_url = (  # type: ignore[attr-defined]
        f"{base}/api/v1/connections/{conn.id}/datasets/customers/rows?limit=500"
    )
    process.cache = service.cache_dir(conn.id)  # type: ignore[attr-defined]
    try:
        yield process, secret
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_disconnect_from_the_terminal_releases_the_servers_handles(
    server: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    process, secret = server
    bearer = {"Authorization": f"Bearer {secret}"}
    url: str = process.rows_url  # type: ignore[attr-defined]
    cache: Path = process.cache  # type: ignore[attr-defined]
    before = httpx.get(url, headers=bearer, timeout=30)
    assert before.status_code == 200, before.text
    assert before.json()["source"] == "cache"
    ids = {row[0] for row in before.json()["rows"]}
    assert ids
    assert held(process.pid, cache), "the server reads the cache file through a handle"

    flitch(process.env, "disconnect", "shop", "--yes")  # type: ignore[attr-defined]
    deleted_at = time.monotonic()
    assert not cache.exists()
    while held(process.pid, cache) and time.monotonic() - deleted_at < 10:
        time.sleep(0.05)
    still = held(process.pid, cache)
    recovered = sum(customers_behind(fd, tmp_path) for fd, _ in still)
    assert (still, recovered) == ([], 0), f"{recovered} customers readable through the server"
    assert time.monotonic() - deleted_at < 5

    after = httpx.get(url, headers=bearer, timeout=30)
    assert after.status_code == 404
    assert not ids & set(after.text.split('"'))


def test_deletion_overwrites_the_bytes_of_a_file_still_open(tmp_path: Path) -> None:
    """A handle Flitch does not control (another program's) reads zeros after the deletion."""
    store = DuckDBStore(tmp_path / "cache" / "conn_1")
    fill(store, 200, 20)
    size = store.current_path.stat().st_size
    with store.current_path.open("rb") as other:
        store.destroy()
        assert not store.cache_dir.exists()
        left = other.read()
    assert len(left) == size
    assert left.count(0) == size, f"{size - left.count(0)} bytes of the cache still readable"
