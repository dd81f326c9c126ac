"""Helpers of the server-mode tests: an install on an emulator (SQLite or PostgreSQL metadata),
``flitch`` processes started on it, and waiting for what they do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from tests.conftest import clock_env

T = TypeVar("T")


@dataclass
class Install:
    """One Flitch install: its settings, a service on them, and the environment of its
    processes (the same home, metadata database and emulator)."""

    settings: Settings
    service: ConnectionService
    emulator: Emulator

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            **clock_env(),
            "FLITCH_HOME": str(self.settings.home),
            "FLITCH_STRIPE_API_BASE": self.emulator.url,
            "FLITCH_TEST_RPS": "10000",
            "FLITCH_LIVE_RPS": "10000",
            "FLITCH_ENDPOINT_RPS": "10000",
            "FLITCH_MAX_RETRIES": "3",
            "FLITCH_REFRESH_WORKERS": "1",
            **extra,
        }
        if self.settings.database_url:
            env["FLITCH_DATABASE_URL"] = self.settings.database_url
        else:
            env.pop("FLITCH_DATABASE_URL", None)
        return env

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        """``flitch ARGS`` in its own process, its output in ``log``."""
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "flitch", *args],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def wait_for(what: Callable[[], T | None], timeout: float, message: str) -> T:
    """Ask ``what`` until it answers something true (a wait for a result, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s: {message}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    if process.poll() is None:
        process.terminate()
    return process.wait(timeout)
