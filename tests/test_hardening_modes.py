"""Every file Flitch writes is 0600 and every folder 0700, whatever the umask and whoever
made FLITCH_HOME; a FLITCH_HOME others can read is warned about, with the fix.

The cases of issue 12: with a umask of 022 and a FLITCH_HOME made beforehand (0755), the cache
was ``current.duckdb`` 0644 in 0755 folders. Here a connection is saved, refreshed, queried and
exported, in this process and by real ``flitch`` processes, and every path under FLITCH_HOME is
looked at, also while a refresh is writing (its staging file, write-ahead log and spill folder).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flitch.cli import app as cli
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.private import home_warning
from flitch.query.engine import QueryEngine
from flitch.refresh.runner import refresh
from tests.conftest import TEST_KEY, clock_env


@pytest.fixture
def loose_umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


@pytest.fixture
def home(tmp_path: Path, loose_umask: None) -> Path:
    """A FLITCH_HOME someone made before Flitch ran, readable by everyone."""
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o755)
    return home


def settings(home: Path, emu: Emulator) -> Settings:
    return Settings(
        home=home,
        stripe_api_base=emu.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )


def exposed(home: Path) -> list[str]:
    """Paths under ``home`` (itself left out) that are not 0600 files or 0700 folders."""
    found = []
    for path in sorted(home.rglob("*")):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue  # a file that came and went
        wanted = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) != wanted:
            found.append(f"{path.relative_to(home)} {stat.S_IMODE(mode):04o}")
    return found


def test_what_flitch_writes_in_this_process_is_private(
    home: Path, tiny_emulator: Emulator, tmp_path: Path
) -> None:
    with ConnectionService(settings(home, tiny_emulator)) as service:
        service.create("shop", TEST_KEY)
        assert refresh(service, "shop", full=True).outcome.value == "ok"
        service.set_refresh("shop", "1h")
        assert refresh(service, "shop").outcome.value == "ok"  # an incremental one: a copy

        import asyncio

        async def use(engine: QueryEngine) -> None:
            await engine.sql("shop", "SELECT count(*) FROM charges")
            loaded = await engine.load("shop", [])
            loaded.close()
            await engine.aclose()

        asyncio.run(use(QueryEngine(service.settings, service)))
    assert exposed(home) == []
    assert stat.S_IMODE(home.stat().st_mode) == 0o755  # not Flitch's to change: it warns


def test_a_refresh_being_written_is_private(home: Path, tiny_emulator: Emulator) -> None:
    """The staging file, its write-ahead log and DuckDB's spill folder, looked at while they
    exist (a ``flitch refresh`` process with a umask of 022, the emulator slowed down)."""
    with ConnectionService(settings(home, tiny_emulator)) as service:
        service.create("shop", TEST_KEY)
    tiny_emulator.config.latency_ms = 40
    seen: dict[str, str] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for entry in exposed(home):
                name, mode = entry.rsplit(" ", 1)
                seen[name] = mode
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        env = {
            **os.environ,
            **clock_env(),
            "FLITCH_HOME": str(home),
            "FLITCH_STRIPE_API_BASE": tiny_emulator.url,
            "FLITCH_TEST_RPS": "10000",
            "FLITCH_ENDPOINT_RPS": "10000",
        }
        env.pop("FLITCH_SECRET_KEY", None)
        done_run = subprocess.run(
            [sys.executable, "-m", "flitch", "refresh", "shop", "--full"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            umask=0o022,
            check=False,
        )
    finally:
        done.set()
        watcher.join()
    assert done_run.returncode == 0, done_run.stdout + done_run.stderr
    assert seen == {}
    assert exposed(home) == []


def test_a_readable_home_is_warned_about_with_the_fix(home: Path, tiny_emulator: Emulator) -> None:
    warning = home_warning(home)
    assert warning is not None
    assert f"chmod 700 {home}" in warning
    env = {"FLITCH_HOME": str(home), "FLITCH_SECRET_KEY": None, "COLUMNS": "200"}
    listed = CliRunner().invoke(cli, ["connections"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"chmod 700 {home}" in listed.stderr
    os.chmod(home, 0o700)
    assert home_warning(home) is None
    quiet = CliRunner().invoke(cli, ["connections"], env=env)
    assert "chmod" not in quiet.stderr


def test_flitch_serve_warns_at_start(home: Path) -> None:
    env = {**os.environ, **clock_env(), "FLITCH_HOME": str(home)}
    env.pop("FLITCH_SECRET_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "flitch", "serve", "--port", "0", "--no-scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            if "serving on" in line or len(lines) > 40:
                break
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert any(f"chmod 700 {home}" in line for line in lines), "".join(lines)
