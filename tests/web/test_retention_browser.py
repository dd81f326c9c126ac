"""The Retention dashboard in Chromium: the cohort heatmap, and a cell opened to its customers."""

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

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path: Path, emulator: Emulator) -> Iterator[LiveServer]:
    with dashboards_app(tmp_path, emulator) as app:
        app.state.flitch.users.add(*ADMIN, Role.ADMIN)
        server, stop = serve_in_thread(app)
        yield server
        stop()


def loaded(page: Any) -> None:
    """Wait until the dashboard has drawn its answer (a year of invoices, read live, on a
    machine that may be busy)."""
    expect(page.locator("[data-board-body]")).to_have_attribute(
        "aria-busy", "false", timeout=60_000
    )


def test_cohort_heatmap_drills_to_the_cohorts_customers(page: Any) -> None:
    sign_in(page, *ADMIN)
    page.get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="Retention").click()
    loaded(page)
    page.get_by_label("Date range").select_option("12m")
    loaded(page)
    cohorts = card(page, "Cohorts")
    heat = cohorts.locator("table[data-heatmap]").first
    expect(heat).to_be_visible()
    cells = heat.locator("button.heat-cell")
    expect(cells.first).to_have_text(re.compile(r"^\d+ %$"))
    # month 0 keeps every customer
    expect(heat.locator('button[data-k="0"]').first).to_have_text("100 %")
    # shaded by net MRR retention instead
    cohorts.get_by_label("Shade cells by").select_option("net_mrr_retention")
    expect(cohorts.locator("table[data-heatmap]").first).to_be_visible()
    shot(page, "dashboard-retention")

    cell = cohorts.locator('button.heat-cell[data-k="1"]').first
    cell.click()
    members = cohorts.locator("table[data-cohort-members]")
    expect(members).to_be_visible()
    expect(members.get_by_role("columnheader", name="MRR at month 0")).to_be_visible()
    expect(members.get_by_role("columnheader", name="MRR at month 1")).to_be_visible()
    expect(members.locator("tbody tr").first).to_have_attribute(
        "data-customer", re.compile("^cus_")
    )
    shot(page, "dashboard-retention-cohort")


def test_a_movements_bar_lists_its_customers(page: Any) -> None:
    sign_in(page, *ADMIN)
    page.get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="Billing").click()
    loaded(page)
    page.get_by_label("Date range").select_option("90d")
    loaded(page)
    movements = card(page, "MRR movements")
    bar = movements.locator('svg.chart-waterfall a[href^="#movers-"]').first
    expect(bar).to_be_attached()
    target = bar.get_attribute("href")
    assert target is not None
    bar.dispatch_event("click")
    box = page.locator(f"details{target}")
    expect(box).to_have_attribute("open", "")
    table = box.locator("table[data-movers-table]")
    expect(table).to_be_visible()
    expect(table.get_by_role("columnheader", name="MRR before")).to_be_visible()
    expect(table.locator("tbody tr").first).to_have_attribute("data-customer", re.compile("^cus_"))
    shot(page, "dashboard-billing-movers")
