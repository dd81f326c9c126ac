"""Fixtures for the connection tests: the shared emulator and a private FLITCH_HOME."""

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
def settings(home: Path, stripe: Emulator) -> Settings:
    # Generous budgets: the pacing is tested elsewhere, and these tests should take seconds.
    return Settings(
        home=home,
        stripe_api_base=stripe.url,
        max_retries=1,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
