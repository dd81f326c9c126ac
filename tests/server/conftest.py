"""Fixtures of the server-mode tests: an install on an emulator, on each metadata engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.refresh.leader import Leadership
from tests.conftest import fresh_account
from tests.refresh.helpers import settings_for
from tests.server.support import Install
from tests.timeline import TEST_NOW


@pytest.fixture
def make_install(
    tmp_path: Path, make_emulator: Callable[..., Emulator], database_url: str | None
) -> Iterator[Callable[..., Install]]:
    """``make_install(customers=…, **emulator_config)``: a generated account on an emulator and
    a Flitch home whose metadata is in the engine of the test's ``database_url``."""
    yield from _installs(tmp_path, make_emulator, database_url)


@pytest.fixture
def make_pg_install(
    tmp_path: Path, make_emulator: Callable[..., Emulator], postgres_url: str
) -> Iterator[Callable[..., Install]]:
    """``make_install`` with the metadata in PostgreSQL only (server mode's engine)."""
    yield from _installs(tmp_path, make_emulator, postgres_url)


def _installs(
    tmp_path: Path, make_emulator: Callable[..., Emulator], database_url: str | None
) -> Iterator[Callable[..., Install]]:
    services: list[ConnectionService] = []

    def make(customers: int = 25, **config: Any) -> Install:
        pytest.importorskip("flitch.emulator.generator")
        emulator = make_emulator(fresh_account(customers=customers), now=TEST_NOW, **config)
        settings = settings_for(
            tmp_path / f"home{len(services)}", emulator, database_url=database_url
        )
        service = ConnectionService(settings)
        services.append(service)
        return Install(settings, service, emulator)

    yield make
    for service in services:
        service.close()


@pytest.fixture
def install_leadership(tmp_path: Path, database_url: str | None) -> Iterator[list[Leadership]]:
    """Two holders of one install's scheduler lock, as two processes have."""
    from flitch.config import Settings

    settings = Settings(home=tmp_path / "home", database_url=database_url)
    holders = [Leadership(settings), Leadership(settings)]
    yield holders
    for holder in holders:
        holder.release()
