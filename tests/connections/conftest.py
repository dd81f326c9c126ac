"""Fixtures for the connection tests: an emulator over real HTTP and a private FLITCH_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flitch.config import Settings
from flitch.emulator.server import Emulator, EmulatorConfig
from flitch.emulator.store import Account

#: Customers in the account's test mode; their ids must vanish from disk with the connection.
CUSTOMER_IDS = tuple(f"cus_Conn{n:04d}Fixture" for n in range(5))


def small_account() -> Account:
    account = Account()
    test = account.mode(False)
    for n, cid in enumerate(CUSTOMER_IDS):
        test.put(
            {
                "id": cid,
                "object": "customer",
                "created": 1_700_000_000 + n,
                "livemode": False,
                "email": f"c{n}@example.com",
                "name": f"Customer {n}",
                "balance": 0,
                "currency": "usd",
                "delinquent": False,
                "description": None,
                "metadata": {},
            }
        )
    return account


@pytest.fixture
def stripe() -> Iterator[Emulator]:
    config = EmulatorConfig(live_rps=None, test_rps=None, endpoint_rps=None)
    with Emulator(small_account(), config) as emulator:
        yield emulator


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "flitch-home"


@pytest.fixture
def settings(home: Path, stripe: Emulator) -> Settings:
    return Settings(home=home, stripe_api_base=stripe.url, max_retries=1, request_timeout=10.0)
