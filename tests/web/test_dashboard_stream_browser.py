"""A live dashboard in Chromium, drawn as it is read: the charts whose reads are quick arrive
first while the others say what they wait for, and leaving the page stops the Stripe reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flitch.config import Settings
from flitch.emulator.server import Emulator
from flitch.web.app import create_app
from flitch.web.users import Role
from tests.conftest import TEST_KEY
from tests.timeline import ACCOUNT_NOW
from tests.web.conftest import ADMIN, LiveServer, cheap_hasher, serve_in_thread, shot

pytestmark = pytest.mark.browser


def _serve(tmp_path: Path, emulator: Emulator, per_endpoint: float) -> Iterator[LiveServer]:
    emulator.config.latency_ms = 20
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=0,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=per_endpoint,
    )
    app = create_app(settings, password_hasher=cheap_hasher(), clock=lambda: float(ACCOUNT_NOW))
    app.state.flitch.connections.create("shop", TEST_KEY)
    app.state.flitch.users.add(*ADMIN, Role.ADMIN)
    server, stop = serve_in_thread(app)
    try:
        yield server
    finally:
        stop()
        app.state.flitch.queries.close()
        app.state.flitch.connections.close()


@pytest.fixture
def live_server(
    request: pytest.FixtureRequest, tmp_path: Path, emulator: Emulator
) -> Iterator[LiveServer]:
    # two requests a second per endpoint unless a test says (indirect parameter): the
    # invoices take seconds, a credit note page none
    yield from _serve(tmp_path, emulator, getattr(request, "param", 2.0))


def sign_in(page: Any) -> None:
    page.goto("/signin")
    page.get_by_label("Name").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()


def test_charts_arrive_one_by_one_and_leaving_stops_the_reads(
    page: Any, live_server: LiveServer, emulator: Emulator
) -> None:
    sign_in(page)
    conn = live_server.app.state.flitch.connections.get("shop").id
    emulator.log.clear()
    page.goto(f"/dashboards/billing?connection={conn}&last=30d")
    # the credit notes chart is drawn while the invoices' charts still wait, saying for what
    drawn = page.locator("[data-chart]")
    expect(drawn.first).to_be_visible(timeout=15_000)
    invoices = page.locator("[data-waiting='invoices-paid'] [data-waiting-for]")
    expect(invoices).to_contain_text("invoices")
    expect(invoices).to_contain_text("pages")
    assert page.locator("[data-waiting]").count() > 0
    shot(page, "dashboard-billing-arriving")
    # every chart arrives in the end, and the load is told complete
    expect(page.locator("[data-waiting]")).to_have_count(0, timeout=60_000)
    expect(page.locator("[data-board-body]")).to_have_attribute("aria-busy", "false")
    expect(page.get_by_text("Live: read from Stripe", exact=False)).to_be_visible()

    # a new load, left while it reads: its requests stop (those already sent may still be
    # answered, later on a busy machine), then nothing more is asked
    page.get_by_label("Date range").select_option("90d")
    expect(page.locator("[data-waiting]").first).to_be_visible()
    expect(page.locator("[data-chart]").first).to_be_visible(timeout=15_000)
    page.goto("/data")
    settled = len(emulator.log.entries)
    for _ in range(4):  # until a second passes with no new request (4 s at most)
        time.sleep(1.0)
        if len(emulator.log.entries) == settled:
            break
        settled = len(emulator.log.entries)
    time.sleep(2.0)
    assert len(emulator.log.entries) == settled


@pytest.mark.parametrize("live_server", [1.0], indirect=True)
def test_a_long_first_load_says_its_cost_and_turns_refresh_on_in_one_click(
    page: Any, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long is 20 s of reads at the key's limits; here, at a request a second per endpoint, a
    # second and a half is long. Nothing was read before: the estimate comes from the first
    # pages of the lists read whole (where their records start, and how dense they are).
    monkeypatch.setattr("flitch.dashboards.progressive.LONG_SECONDS", 1.5)
    monkeypatch.setattr("flitch.dashboards.progressive.LONG_CONFIRM_SECONDS", 0.3)
    sign_in(page)
    conn = live_server.app.state.flitch.connections.get("shop").id
    page.goto(f"/dashboards/billing?connection={conn}&last=30d")
    notice = page.locator("[data-board-estimate] [data-estimate-text]")
    expect(notice).to_contain_text("pages from Stripe live", timeout=15_000)
    expect(notice).to_contain_text("at Stripe's limits")
    shot(page, "dashboard-long-load-offer")
    page.get_by_role("button", name="Turn refresh on for this connection").click()
    progress = page.locator("[data-refresh-progress]")
    expect(progress).to_contain_text("First refresh", timeout=15_000)
    expect(progress).to_contain_text("the dashboard now reads the cache", timeout=120_000)
    expect(page.locator("[data-source='cache']")).to_contain_text("Cached", timeout=30_000)
    connection = live_server.app.state.flitch.connections.get("shop")
    assert connection.refresh_every == 86_400
