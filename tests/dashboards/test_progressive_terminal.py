"""``flitch dashboard`` in a terminal prints each chart the moment its reads are in."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from flitch.cli.dashboard_live import show_live
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import BUILTIN, Period, load_dashboard
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from tests.conftest import TEST_KEY
from tests.timeline import ACCOUNT_NOW

DAY = 86_400
PERIOD = Period(ACCOUNT_NOW - 30 * DAY, ACCOUNT_NOW + DAY)


class Timed(io.StringIO):
    """A terminal's output that remembers when each piece was written."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.perf_counter(), text))
        return super().write(text)

    def when(self, text: str) -> float:
        return next(t for t, written in self.writes if text in written)


@pytest.fixture
def service(tmp_path: Path, emulator: Emulator) -> Iterator[ConnectionService]:
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=2.0,
    )
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


def test_the_terminal_prints_charts_as_they_arrive(service: ConnectionService) -> None:
    screen = Timed()
    out = Console(file=screen, force_terminal=True, width=120)
    err = Console(file=io.StringIO(), force_terminal=True, width=120)

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        engine = QueryEngine(service.settings, service)
        try:
            shown = await show_live(out, err, engine, "shop", BUILTIN["billing"], PERIOD)
            whole = await load_dashboard(engine, "shop", BUILTIN["billing"], PERIOD)
            return shown, whole
        finally:
            await engine.aclose()

    shown, whole = asyncio.run(go())
    # the credit notes (one page) are on screen well before the invoices (many pages) are read
    assert screen.when("Credit notes") + 0.4 < screen.when("Invoices paid")
    assert shown["charts"] == whole["charts"]
    assert shown["metrics"] == whole["metrics"]


def test_a_long_load_says_its_cost_once_with_the_command_that_avoids_it(
    service: ConnectionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # long is 20 s at the key's limits; at two requests a second per endpoint, one second is
    monkeypatch.setattr("flitch.dashboards.progressive.LONG_SECONDS", 1.0)
    monkeypatch.setattr("flitch.dashboards.progressive.LONG_CONFIRM_SECONDS", 0.2)
    out = Console(file=io.StringIO(), force_terminal=True, width=400)
    said = io.StringIO()
    err = Console(file=said, force_terminal=False, width=400)

    async def go() -> None:
        engine = QueryEngine(service.settings, service)
        try:
            await show_live(out, err, engine, "shop", BUILTIN["billing"], PERIOD)
        finally:
            await engine.aclose()

    asyncio.run(go())
    text = said.getvalue()
    assert text.count("pages from Stripe live") == 1, text
    assert "Billing reads ~" in text
    assert "at Stripe's limits" in text
    assert "flitch set-refresh shop daily" in text


def test_a_quick_load_says_nothing_of_its_cost(service: ConnectionService) -> None:
    said = io.StringIO()
    err = Console(file=said, force_terminal=False, width=400)
    out = Console(file=io.StringIO(), force_terminal=True, width=400)

    async def go() -> None:
        engine = QueryEngine(service.settings, service)
        try:
            await show_live(out, err, engine, "shop", BUILTIN["payments"], PERIOD)
        finally:
            await engine.aclose()

    asyncio.run(go())
    assert "pages from Stripe live" not in said.getvalue()
