"""The customer page in Chromium: customer ids shown by a dashboard and by a dataset table open
it, with the customer's timeline (and MRR over time for a subscriber)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flitch.emulator.server import Emulator
from flitch.web.users import Role
from tests.web.conftest import ADMIN, LiveServer, serve_in_thread, shot
from tests.web.dashboards_support import dashboards_app
from tests.web.test_dashboards_browser import card, sign_in
from tests.web.test_retention_browser import loaded

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path: Path, emulator: Emulator) -> Iterator[LiveServer]:
    with dashboards_app(tmp_path, emulator) as app:
        app.state.flitch.users.add(*ADMIN, Role.ADMIN)
        server, stop = serve_in_thread(app)
        yield server
        stop()


def timeline_shown(page: Any, customer: str) -> Any:
    expect(page).to_have_url(re.compile(f"/customers/{customer}$"))
    rows = page.locator("table[data-customer-timeline] tbody tr")
    expect(rows.first).to_have_attribute("data-kind", re.compile(r"\w"), timeout=60_000)
    expect(page.locator("[data-customer-status]")).to_contain_text("read live from Stripe")
    return rows


def test_a_movers_customer_opens_their_page_with_mrr_and_timeline(page: Any) -> None:
    sign_in(page, *ADMIN)
    page.get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="Billing").click()
    loaded(page)
    page.get_by_label("Date range").select_option("90d")
    loaded(page)
    movements = card(page, "MRR movements")
    box = movements.locator("details.movers").first
    box.locator("summary").click()
    link = box.locator("table[data-movers-table] a[data-customer-link]").first
    expect(link).to_be_visible(timeout=60_000)
    customer = link.get_attribute("data-customer-link")
    assert customer is not None
    assert customer.startswith("cus_")
    link.click()
    rows = timeline_shown(page, customer)
    expect(rows.filter(has=page.locator("td", has_text="MRR")).first).to_be_visible()
    expect(page.locator("svg[data-mrr-currency]").first).to_be_visible()
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible()
    shot(page, "customer-page")


def test_a_customer_id_in_a_dataset_table_opens_their_page(page: Any) -> None:
    sign_in(page, *ADMIN)
    page.goto("/data")
    page.get_by_role("link", name="shop").first.click()
    page.get_by_role("link", name="Charges", exact=True).first.click()
    link = page.locator("table.table-data a[data-customer-link]").first
    expect(link).to_be_visible(timeout=60_000)
    customer = link.get_attribute("data-customer-link")
    assert customer is not None
    link.click()
    rows = timeline_shown(page, customer)
    expect(rows.filter(has=page.locator("td", has_text="Charge")).first).to_be_visible()
