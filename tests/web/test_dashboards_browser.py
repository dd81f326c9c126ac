"""The dashboards in Chromium, on a live connection to the emulator's 60-customer account.

Open each built-in dashboard (charts drawn in the browser, definitions next to the numbers),
switch the range and the currency, follow a number down to its rows, copy a built-in dashboard,
add a chart, move one, delete one, reload: what was saved is drawn. A viewer sees it but has
nothing to change it with. Each view is saved as a screenshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flitch.emulator.server import Emulator
from flitch.web.users import Role
from tests.conftest import TEST_KEY
from tests.web.conftest import ADMIN, VIEWER, LiveServer, serve_in_thread, shot
from tests.web.dashboards_support import dashboards_app

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path: Path, emulator: Emulator) -> Iterator[LiveServer]:
    with dashboards_app(tmp_path, emulator) as app:
        app.state.flitch.users.add(*ADMIN, Role.ADMIN)
        app.state.flitch.users.add(*VIEWER, Role.VIEWER)
        server, stop = serve_in_thread(app)
        yield server
        stop()


def sign_in(page: Any, name: str, password: str) -> None:
    page.goto("/signin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()


def loaded(page: Any) -> None:
    """Wait until the dashboard has drawn its answer."""
    expect(page.locator("[data-board-body]")).to_have_attribute("aria-busy", "false")


def card(page: Any, title: str) -> Any:
    return page.get_by_role("article", name=title, exact=True).first


def test_the_builtin_dashboards_drill_down_and_a_copy_of_one(page: Any, emulator: Emulator) -> None:
    sign_in(page, *ADMIN)
    page.get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", name="Built-in")).to_be_visible()
    expect(page.get_by_label("Connection")).to_have_value(re.compile(r"^conn_"))
    shot(page, "dashboards-list")

    # Payments: numbers with their change and definition, charts drawn as SVG
    page.get_by_role("link", name="Payments").click()
    loaded(page)
    expect(page.get_by_text(re.compile(r"^Live: read from Stripe"))).to_be_visible()
    expect(page.get_by_text("Test mode")).to_be_visible()
    gross = card(page, "Gross volume")
    expect(
        gross.get_by_text(re.compile("sum of the amounts of successful charges"))
    ).to_be_visible()
    expect(gross.get_by_role("link", name=re.compile(r"in USD: \$"))).to_be_visible()
    expect(page.locator("svg.chart-area")).not_to_have_count(0)
    expect(page.locator("svg.chart-bar")).not_to_have_count(0)
    expect(page.locator("svg.chart-pie")).not_to_have_count(0)  # a pie per currency
    shot(page, "dashboard-payments")

    # the range and the currency: the numbers follow, currencies never mixed
    page.get_by_label("Date range").select_option("90d")
    loaded(page)
    expect(page.get_by_role("status").filter(has_text="by week")).to_be_visible()
    page.get_by_label("Currency", exact=True).select_option("usd")
    loaded(page)
    expect(page.get_by_role("status").filter(has_text="USD only")).to_be_visible()
    expect(card(page, "Gross volume").locator(".tile-value")).to_have_count(1)
    expect(card(page, "Charges by status").locator("svg.chart-pie")).to_have_count(1)
    assert "currency=usd" in page.url
    assert "last=90d" in page.url
    shot(page, "dashboard-payments-90d-usd")

    # the number drills down to its rows: as many as the successful payments it sums
    count = card(page, "Successful payments").locator(".tile-value").inner_text()
    card(page, "Gross volume").get_by_role("link", name=re.compile(r"in USD")).click()
    expect(page).to_have_url(
        re.compile(r"/datasets/charges\?dashboard=payments&chart=gross-volume")
    )
    expect(page.get_by_role("heading", name="Rows behind Gross volume")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Rows 1–\d+ of " + count + " ·"))).to_be_visible()
    shot(page, "dashboard-drill-rows")
    page.get_by_role("link", name="Back to the dashboard").click()
    loaded(page)
    expect(page.get_by_label("Currency", exact=True)).to_have_value("usd")

    # Billing and Revenue, with their waterfalls
    for name, waterfall in (("Billing", "MRR movements"), ("Revenue", "Balance bridge")):
        page.get_by_role("link", name="Dashboards", exact=True).first.click()
        page.get_by_role("link", name=name, exact=True).click()
        loaded(page)
        expect(card(page, waterfall).locator("svg.chart-waterfall")).not_to_have_count(0)
        expect(page.locator("[data-chart] .definition-text")).not_to_have_count(0)
        shot(page, f"dashboard-{name.lower()}")
        if name == "Billing":  # one currency: the chart that cannot follow it says why
            page.get_by_label("Currency", exact=True).select_option("usd")
            loaded(page)
            note = card(page, "Coupon redemptions").locator("[data-currency-note]")
            expect(note).to_have_text(
                re.compile(r"^All currencies, not USD only: .*times_redeemed")
            )
            expect(card(page, "MRR").locator("[data-currency-note]")).to_have_count(0)
            shot(page, "dashboard-billing-usd")

    # a copy of a built-in dashboard, then a chart of your own
    page.get_by_role("button", name="Copy", exact=True).click()
    dialog = page.get_by_role("dialog", name="Copy a dashboard")
    dialog.get_by_label("Title").fill("My revenue")
    expect(dialog.get_by_label("Name")).to_have_value("my-revenue")
    dialog.get_by_role("button", name="Make the copy").click()
    expect(page).to_have_url(re.compile(r"/dashboards/my-revenue\?.*connection=conn_"))
    loaded(page)
    expect(page.get_by_role("heading", name="My revenue", exact=True)).to_be_visible()

    page.get_by_role("button", name="Add chart").click()
    editor = page.get_by_role("dialog", name="Add a chart")
    editor.get_by_label("Title").fill("Charges by status, amounts")
    editor.get_by_label("A dataset").check()
    editor.get_by_label("Dataset", exact=True).select_option("charges")
    editor.get_by_label("Measure 1", exact=True).select_option("sum")
    editor.get_by_label("Column of measure 1").select_option("amount")
    editor.get_by_role("button", name="Add a filter").click()
    editor.get_by_label("Filter 1 column", exact=True).select_option("status")
    editor.get_by_label("Filter 1 value", exact=True).fill("succeeded")
    editor.get_by_label("Group by").select_option("column:currency")
    editor.get_by_label("Chart type").select_option("table")
    editor.get_by_role("button", name="Save chart").click()
    added = card(page, "Charges by status, amounts")
    expect(added).to_be_visible()
    expect(added.get_by_role("link", name=re.compile(r"\$[\d,.]+: show the rows"))).to_be_visible()

    # move it, delete another, reload: what was saved is what is drawn
    page.get_by_role("button", name="Edit charts").click()
    page.get_by_role("button", name="Move up Charges by status, amounts").click()
    loaded(page)
    page.locator("[data-chart='fees-2']").get_by_role("button", name="Delete Fees").click()
    page.get_by_role("dialog", name="Delete this chart?").get_by_role(
        "button", name="Delete chart"
    ).click()
    expect(page.locator("[data-chart='fees-2']")).to_have_count(0)
    saved = [
        "Balance bridge",
        "Net volume",
        "Payouts by arrival date",
        "Payouts by status",
        "Charges by status, amounts",
        "Balance transactions by category",
    ]
    expect(page.locator("[data-charts] .chart-title")).to_have_text(saved)
    page.reload()
    loaded(page)
    expect(page.locator("[data-charts] .chart-title")).to_have_text(saved)
    expect(card(page, "Fees")).to_be_visible()  # the number tile of that name stays
    shot(page, "dashboard-my-revenue")

    # a viewer sees it, and nothing to change it with
    page.get_by_label(f"User menu: {ADMIN[0]}").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, *VIEWER)
    page.goto("/dashboards")
    page.get_by_role("link", name="My revenue", exact=True).click()
    loaded(page)
    expect(card(page, "Charges by status, amounts")).to_be_visible()
    expect(page.get_by_role("button", name="Add chart")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit charts")).to_have_count(0)
    expect(page.get_by_role("button", name="Copy", exact=True)).to_have_count(0)
    shot(page, "dashboard-viewer")

    # the key deleted in Stripe: the dashboard says so, and what to do
    emulator.config.revoked_keys.add(TEST_KEY)
    page.reload()
    alert = page.get_by_role("alert").filter(has_text="Authentication failed")
    expect(alert).to_be_visible()
    expect(alert.get_by_role("link", name="Open API keys in Stripe")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="could not be loaded")).to_be_visible()
    shot(page, "dashboard-error")


def test_create_import_and_delete_dashboards_from_the_list(page: Any, tmp_path: Path) -> None:
    sign_in(page, *ADMIN)
    page.goto("/dashboards")
    page.get_by_role("button", name="New dashboard").click()
    dialog = page.get_by_role("dialog", name="New dashboard")
    dialog.get_by_label("Title").fill("Weekly review")
    expect(dialog.get_by_label("Name")).to_have_value("weekly-review")
    dialog.get_by_role("button", name="Create dashboard").click()
    expect(page.get_by_role("heading", name="No charts yet")).to_be_visible()
    loaded(page)

    # a custom range and a grain, kept in the address
    page.get_by_label("Date range").select_option("custom")
    page.get_by_label("From", exact=True).fill("2026-09-01")
    page.get_by_label("To", exact=True).fill("2026-09-30")
    page.get_by_role("button", name="Apply").click()
    loaded(page)
    page.get_by_label("Time grain").select_option("week")
    loaded(page)
    expect(page.get_by_role("status").filter(has_text="by week")).to_be_visible()
    assert "from=2026-09-01" in page.url
    assert "to=2026-09-30" in page.url
    shot(page, "dashboard-empty")

    # import a dashboard exported elsewhere, under a name of its own
    exported = page.request.get("/api/v1/dashboards/billing/export")
    assert exported.ok
    path = tmp_path / "billing.dashboard.json"
    path.write_bytes(exported.body())
    page.goto("/dashboards")
    page.get_by_role("button", name="Import JSON").click()
    dialog = page.get_by_role("dialog", name="Import a dashboard")
    dialog.get_by_label("Dashboard file").set_input_files(str(path))
    dialog.get_by_label("Save as (optional)").fill("billing-2")
    dialog.get_by_role("button", name="Import").click()
    expect(page).to_have_url(re.compile(r"/dashboards/billing-2\?"))
    loaded(page)
    expect(card(page, "MRR")).to_be_visible()

    # the list: move, then delete with a confirmation
    page.goto("/dashboards")
    page.get_by_role("button", name="Move Billing up").click()
    expect(page.locator("[data-board]").first).to_have_attribute("data-board", "billing-2")
    page.get_by_role("button", name="Delete Weekly review").click()
    page.get_by_role("dialog", name="Delete this dashboard?").get_by_role(
        "button", name="Delete dashboard"
    ).click()
    expect(page.locator("[data-board]")).to_have_count(1)
    shot(page, "dashboards-list-yours")

    # a narrow screen: the charts stack
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Billing", exact=True).last.click()
    loaded(page)
    shot(page, "dashboard-billing-narrow")
