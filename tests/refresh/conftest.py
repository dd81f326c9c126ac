"""Fixtures of the refresh tests: a generated account of its own, served by an emulator whose
clock follows the test's clock, and a ``FLITCH_HOME`` with a connection service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.emulator.store import Account
from tests.conftest import fresh_account
from tests.refresh.helpers import Clock, settings_for
from tests.timeline import TEST_NOW

#: The suite's instant: the generated account's present (``ACCOUNT_NOW``), plus an hour.
START = TEST_NOW


@dataclass
class World:
    emulator: Emulator
    account: Account
    clock: Clock
    settings: Settings
    service: ConnectionService

    def advance(self, seconds: float) -> None:
        """Move the test's clock, and the emulator's with it."""
        self.clock.advance(seconds)
        self.emulator.config.now = int(self.clock.t)


@pytest.fixture
def make_world(
    tmp_path: Path, make_emulator: Callable[..., Emulator]
) -> Iterator[Callable[..., World]]:
    services: list[ConnectionService] = []

    def make(customers: int = 25, seed: int = 42, **config: Any) -> World:
        pytest.importorskip("flitch.emulator.generator")
        account = fresh_account(seed=seed, customers=customers)
        clock = Clock(float(START))
        # Flitch reads the process's clock wherever no clock is passed (the CLI, the services):
        # pinned to the test's, so Flitch and the emulator share one time
        clocks.set_process_clock(clock)
        emulator = make_emulator(account, now=START, **config)
        settings = settings_for(tmp_path / f"home{len(services)}", emulator)
        service = ConnectionService(settings)
        services.append(service)
        return World(emulator, account, clock, settings, service)

    before = clocks.process_clock()
    yield make
    clocks.set_process_clock(before)
    for service in services:
        service.close()


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()
