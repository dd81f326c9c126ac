"""The chart builder in Chromium splits MRR by a segment: the customer's country as a pie, a
customer metadata key as a table; each segment links to its subscriptions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flitch.dashboards.model import Dashboard
from flitch.emulator.server import Emulator
from flitch.web.users import Role
from tests.web.conftest import ADMIN, LiveServer, serve_in_thread, shot
from tests.web.dashboards_support import dashboards_app
from tests.web.test_dashboards_browser import card, loaded, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path: Path, emulator: Emulator) -> Iterator[LiveServer]:
    with dashboards_app(tmp_path, emulator) as app:
        app.state.flitch.users.add(*ADMIN, Role.ADMIN)
        app.state.dashboards.create(Dashboard(name="segments", title="Segments", charts=()))
        server, stop = serve_in_thread(app)
        yield server
        stop()


def test_mrr_split_by_country_and_by_a_metadata_key(page: Any) -> None:
    sign_in(page, *ADMIN)
    page.get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="Segments", exact=True).click()
    loaded(page)

    page.get_by_role("button", name="Add chart").click()
    editor = page.get_by_role("dialog", name="Add a chart")
    editor.get_by_label("Metric", exact=True).select_option("mrr")
    editor.get_by_label("Split by").select_option("country")
    expect(editor.get_by_label("Customer metadata key")).to_be_hidden()
    editor.get_by_label("Chart type").select_option("pie")
    editor.get_by_role("button", name="Save chart").click()
    pie = card(page, "MRR by customer country")
    expect(pie).to_be_visible()
    expect(pie.locator(".legend a").first).to_have_attribute(
        "href", re.compile(r"/datasets/subscriptions\?.*chart=mrr-by-customer-country")
    )

    page.get_by_role("button", name="Add chart").click()
    editor.get_by_label("Metric", exact=True).select_option("active_subscribers")
    editor.get_by_label("Split by").select_option("metadata")
    editor.get_by_label("Customer metadata key").fill("signup")
    editor.get_by_label("Chart type").select_option("table")
    editor.get_by_role("button", name="Save chart").click()
    table = card(page, "Active subscribers by signup")
    expect(table).to_be_visible()
    expect(table.get_by_role("columnheader", name="Customer metadata signup")).to_be_visible()
    expect(table.get_by_role("link", name=re.compile(r"show the rows")).first).to_be_visible()
    shot(page, "dashboard-segments")
