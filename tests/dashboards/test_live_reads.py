"""What a live load asks Stripe for, chart by chart: only the rows its charts can count.

Each test reads the emulator's request log: the lists a load read and with which filters, and
checks the narrowed read answers what a whole read answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import BUILTIN, Period, load_dashboard
from flitch.dashboards.builtin import number
from flitch.dashboards.model import Dashboard
from flitch.dashboards.plan import plan_reads
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from tests.conftest import TEST_KEY
from tests.timeline import ACCOUNT_NOW

DAY = 86_400
PERIOD = Period(ACCOUNT_NOW - 30 * DAY, ACCOUNT_NOW + DAY)

INVOICES_NOW = Dashboard(
    name="due",
    title="Due",
    charts=(
        number("Outstanding", "invoices_outstanding"),
        number("Past-due invoices", "past_due_invoices"),
        number("Past-due amount", "past_due_amount"),
    ),
).check()
TRIALS_NOW = Dashboard(
    name="trials", title="Trials", charts=(number("In trial", "trialing_subscriptions"),)
).check()


@pytest.fixture
def service(tmp_path: Path, emulator: Emulator) -> Iterator[ConnectionService]:
    settings = Settings(home=tmp_path / "home", stripe_api_base=emulator.url, max_retries=1)
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


def _load(service: ConnectionService, board: Dashboard) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        engine = QueryEngine(service.settings, service)
        try:
            return await load_dashboard(engine, "shop", board, PERIOD)
        finally:
            await engine.aclose()

    return asyncio.run(go())


def _queries(emulator: Emulator, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in emulator.log.entries if r.path == path]


def test_invoices_due_now_are_read_open_only(
    emulator: Emulator, service: ConnectionService
) -> None:
    [read] = plan_reads(INVOICES_NOW.charts, PERIOD)
    assert (read.dataset, read.params) == ("invoices", {"status": "open"})
    assert read.created_gte is None
    assert read.created_lt is None
    emulator.log.clear()
    narrowed = _load(service, INVOICES_NOW)
    queries = _queries(emulator, "/v1/invoices")
    assert queries
    assert all(q.get("status") == ["open"] for q in queries)
    # the same numbers as the Billing dashboard's, which reads every invoice
    billing = _load(service, BUILTIN["billing"])
    for name in ("invoices_outstanding", "past_due_invoices"):
        assert narrowed["metrics"][name] == billing["metrics"][name]
        assert narrowed["metrics"][name]  # the account has open invoices: not a vacuous match


def test_subscriptions_in_trial_are_read_trialing_only(
    emulator: Emulator, service: ConnectionService
) -> None:
    emulator.log.clear()
    narrowed = _load(service, TRIALS_NOW)
    queries = _queries(emulator, "/v1/subscriptions")
    assert queries
    assert all(q.get("status") == ["trialing"] for q in queries)
    billing = _load(service, BUILTIN["billing"])
    assert (
        narrowed["metrics"]["trialing_subscriptions"]
        == billing["metrics"]["trialing_subscriptions"]
    )
    assert narrowed["metrics"]["trialing_subscriptions"]
