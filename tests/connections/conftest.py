"""Fixtures for the connection tests: the shared emulator and a private FLITCH_HOME.

Every test that takes ``settings`` runs twice: with the metadata in SQLite (the default), then
in a PostgreSQL database of its own (``database_url``, from ``tests.postgres``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flitch.config import Settings
from flitch.emulator.server import Emulator


@pytest.fixture
def stripe(tiny_emulator: Emulator) -> Emulator:
    """The emulator on the small hand-made account (its config is reset for every test)."""
    return tiny_emulator


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "flitch-home"


@pytest.fixture
def settings(home: Path, stripe: Emulator, database_url: str | None) -> Settings:
    # Generous budgets: the pacing is tested elsewhere, and these tests should take seconds.
    return Settings(
        home=home,
        database_url=database_url,
        stripe_api_base=stripe.url,
        max_retries=1,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
