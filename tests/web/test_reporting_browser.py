"""The reporting-currency switch in Chromium, on a live-mode connection to the emulator (whose
live account settles GBP and JPY into USD and keeps EUR apart): off, the Payments dashboard
shows every currency apart; switched to USD, its money is one USD number labelled as
converted, the rates used are listed with their balance transactions, EUR is shown apart, and
the address keeps the choice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flitch.emulator.server import Emulator
from flitch.web import create_app
from flitch.web.users import Role
from tests.conftest import LIVE_KEY
from tests.timeline import ACCOUNT_NOW
from tests.web.conftest import ADMIN, LiveServer, cheap_hasher, serve_in_thread, shot
from tests.web.dashboards_support import board_settings
from tests.web.test_dashboards_browser import card, loaded, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path: Path, emulator: Emulator) -> Iterator[LiveServer]:
    app = create_app(
        board_settings(tmp_path / "home", emulator),
        password_hasher=cheap_hasher(),
        clock=lambda: float(ACCOUNT_NOW),
    )
    app.state.flitch.connections.create("shop", LIVE_KEY)
    app.state.flitch.users.add(*ADMIN, Role.ADMIN)
    server, stop = serve_in_thread(app)
    try:
        yield server
    finally:
        stop()
        app.state.flitch.queries.close()
        app.state.flitch.connections.close()


def test_the_reporting_currency_switch(page: Any) -> None:
    sign_in(page, *ADMIN)
    page.goto("/dashboards")
    page.get_by_role("link", name="Payments").first.click()
    loaded(page)
    # a year, so the small account has charges in every currency whatever day the suite runs
    page.get_by_label("Date range").select_option("12m")
    expect(page).to_have_url(re.compile(r"last=12m"))
    loaded(page)
    volume = card(page, "Gross volume")
    expect(volume).to_contain_text("EUR")
    expect(volume).to_contain_text("GBP")
    expect(volume).to_contain_text("JPY")
    expect(page.locator("[data-reporting]")).to_have_count(0)

    page.get_by_label("Reporting currency").select_option("usd")
    expect(page).to_have_url(re.compile(r"reporting=usd"))
    loaded(page)
    notice = page.locator("[data-reporting='usd']")
    expect(notice).to_contain_text("converted at Stripe's settlement rates")
    expect(notice.locator("[data-rate]").first).to_contain_text(re.compile(r"(GBP|JPY) → USD"))
    expect(notice.locator("[data-rate] a").first).to_have_attribute(
        "title", re.compile(r"^id = 'txn_")
    )
    expect(notice.locator("[data-reporting-apart]")).to_contain_text("EUR")
    volume = card(page, "Gross volume")
    expect(volume.locator("[data-converted='usd']")).to_be_visible()
    expect(volume).not_to_contain_text("GBP")
    expect(volume).not_to_contain_text("JPY")
    expect(volume).to_contain_text("EUR")
    shot(page, "dashboard-reporting-currency")

    page.reload()
    loaded(page)
    expect(page.get_by_label("Reporting currency")).to_have_value("usd")
    page.get_by_label("Reporting currency").select_option("")
    loaded(page)
    expect(page.locator("[data-reporting]")).to_have_count(0)
    expect(card(page, "Gross volume")).to_contain_text("GBP")
