"""The seed's flow end to end in Chromium, against the emulator's seeded account.

Add → Stripe → paste a key (the limited one: no Read Subscriptions) → Test connection → the
missing permission is named → untick it → name → Save → turn refresh on → Refresh now → progress
finishes → browse a dataset (sort, page, filter) → export CSV → Delete → confirm → the cache
directory is gone. Elements are found by accessible names; each page is saved as a screenshot.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flitch.config import Settings
from flitch.emulator.server import Emulator
from flitch.web import create_app
from flitch.web.troubleshoot import AUTH_FAILED_FIX
from flitch.web.users import Role
from tests.conftest import LIMITED_KEY, TEST_KEY
from tests.web.conftest import ADMIN, VIEWER, LiveServer, cheap_hasher, serve_in_thread, shot

pytestmark = pytest.mark.browser

CONNECTION = re.compile(r"/data/(conn_[a-z0-9]+)$")


@pytest.fixture
def live_server(tmp_path: Path, emulator: Emulator) -> Iterator[LiveServer]:
    """The web app on the 60-customer account (enough rows to page through)."""
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=0,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    app = create_app(settings, password_hasher=cheap_hasher())
    app.state.flitch.users.add(*ADMIN, Role.ADMIN)
    app.state.flitch.users.add(*VIEWER, Role.VIEWER)
    server, stop = serve_in_thread(app)
    yield server
    stop()
    app.state.flitch.refreshes.close()
    app.state.flitch.queries.close()
    app.state.flitch.connections.close()


def sign_in(page: Any, name: str, password: str) -> None:
    page.goto("/signin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()


def rows_status(page: Any) -> Any:
    return page.get_by_role("status").filter(has_text=re.compile(r"^(Rows|No rows|Loading)"))


def column_values(page: Any, column: str) -> list[str]:
    headers = page.locator("th[data-column]").evaluate_all("hs => hs.map(h => h.dataset.column)")
    index = headers.index(column)
    texts: list[str] = page.locator("[data-rows] tr").evaluate_all(
        f"rows => rows.map(r => r.children[{index}].textContent)"
    )
    return texts


def minor_values(page: Any, column: str) -> list[int]:
    """An amount column's values in minor units (the cells show money, the minor units apart)."""
    headers = page.locator("th[data-column]").evaluate_all("hs => hs.map(h => h.dataset.column)")
    index = headers.index(column)
    values: list[str] = page.locator("[data-rows] tr").evaluate_all(
        f"rows => rows.map(r => r.children[{index}].dataset.minor)"
    )
    return [int(v) for v in values]


def test_connect_refresh_browse_export_delete(
    page: Any, live_server: LiveServer, tmp_path: Path, emulator: Emulator
) -> None:
    # every charge of the account's test mode is listed (none hides behind a test clock)
    charges = emulator.account.test.count("charge")
    sign_in(page, *ADMIN)
    page.get_by_role("button", name="Add").click()
    page.get_by_role("link", name=re.compile("^Stripe")).click()
    expect(page.get_by_role("heading", name="Connect Stripe")).to_be_visible()

    page.get_by_label("Restricted API key").fill(LIMITED_KEY)
    page.get_by_role("button", name="Test connection").click()
    verdict = page.get_by_role("status").filter(has_text="missing Read Subscriptions")
    expect(verdict).to_be_visible()
    subscriptions = page.locator("[data-object=subscriptions]")
    expect(subscriptions).to_contain_text("No Read permission")
    page.get_by_label("Subscriptions").uncheck()
    page.get_by_label("Name", exact=True).fill("Main account")
    shot(page, "flow-1-connect")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(CONNECTION)
    conn_id = CONNECTION.search(page.url).group(1)  # type: ignore[union-attr]
    expect(page.get_by_role("heading", name="Main account")).to_be_visible()
    expect(page.get_by_role("link", name="Customers", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Subscriptions", exact=True)).to_have_count(0)
    expect(page.get_by_text("every dashboard load and every dataset page runs a")).to_be_visible()
    expect(page.get_by_role("button", name="Refresh now")).to_have_count(0)
    shot(page, "flow-2-connection-live")

    page.get_by_label("Refresh schedule").select_option("1h")
    page.get_by_role("button", name="Save refresh").click()
    # turning refresh on starts the first refresh, followed in the page like Refresh now
    expect(page.get_by_role("button", name="Refresh now")).to_be_visible()
    summary = page.get_by_role("status").filter(has_text=re.compile("^Refresh"))
    expect(summary).to_contain_text("Refresh finished", timeout=60_000)
    progress = page.get_by_role("region", name="Refresh progress")
    expect(progress.get_by_role("row")).to_have_count(12)  # a header and 11 datasets
    expect(progress.get_by_role("cell", name="Done")).to_have_count(11)
    charges_row = page.locator("tr[data-dataset=charges]")
    expect(charges_row.locator('[data-cell="rows"]')).to_have_text(str(charges))
    shot(page, "flow-3-refreshed")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "flow-3-refreshed-narrow")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.get_by_role("link", name="Charges", exact=True).click()
    expect(page.get_by_role("heading", name="Charges", exact=True)).to_be_visible()
    status = rows_status(page)
    expect(status).to_contain_text(f"Rows 1–50 of {charges} · from the cache")
    expect(page.get_by_role("columnheader", name="Sort by created", exact=True)).to_have_attribute(
        "aria-sort", "descending"
    )
    shot(page, "flow-4-dataset")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()
    shot(page, "flow-4-dataset-narrow")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.get_by_role("button", name="Sort by amount", exact=True).click()
    amount = page.get_by_role("columnheader", name="Sort by amount", exact=True)
    expect(amount).to_have_attribute("aria-sort", "ascending")
    expect(status).to_contain_text(f"Rows 1–50 of {charges}")
    amounts = minor_values(page, "amount")
    assert amounts == sorted(amounts)
    page.get_by_role("button", name="Sort by amount", exact=True).click()
    expect(amount).to_have_attribute("aria-sort", "descending")
    expect(status).to_contain_text(f"Rows 1–50 of {charges}")
    highest = minor_values(page, "amount")
    assert highest == sorted(highest, reverse=True)
    assert highest[0] >= amounts[-1]

    page.get_by_role("button", name="Next page").click()
    expect(status).to_contain_text(f"Rows 51–100 of {charges}")
    expect(page.get_by_text(f"Page 2 of {-(-charges // 50)}")).to_be_visible()
    page.get_by_label("Rows per page").select_option("100")
    expect(status).to_contain_text(f"Rows 1–100 of {charges}")

    day = column_values(page, "created")[0][:10]
    page.get_by_label("Created from").fill(day)
    page.get_by_label("Created to").fill(day)
    page.get_by_role("button", name="Apply").click()
    expect(status).to_contain_text(re.compile(r"Rows 1–\d+ of \d+ · from the cache"))
    filtered = column_values(page, "created")
    assert filtered
    assert all(value.startswith(day) for value in filtered)
    total = int(re.search(r"of (\d+)", status.inner_text()).group(1))  # type: ignore[union-attr]
    assert 0 < total < charges
    shot(page, "flow-5-dataset-filtered")
    page.get_by_role("button", name="Clear").click()
    expect(status).to_contain_text(f"of {charges}")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    saved = tmp_path / "charges.csv"
    download.value.save_as(saved)
    with saved.open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == charges
    assert download.value.suggested_filename.startswith("Main-account-charges-")

    page.get_by_role("link", name="Main account").click()
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete Main account?")
    expect(dialog).to_contain_text("its cache is cleared")
    expect(dialog.get_by_role("link", name="dashboard.stripe.com/apikeys")).to_have_attribute(
        "href", "https://dashboard.stripe.com/apikeys"
    )
    shot(page, "flow-6-delete")
    cache = live_server.app.state.flitch.connections.cache_dir(conn_id)
    assert cache.exists()
    dialog.get_by_role("button", name="Delete connection").click()
    expect(page).to_have_url(re.compile(r"/data\?deleted="))
    expect(page.get_by_role("status").filter(has_text="Deleted Main account")).to_contain_text(
        "its cache was cleared"
    )
    expect(page.get_by_role("heading", name="No data connected yet")).to_be_visible()
    shot(page, "flow-7-deleted")
    assert not cache.exists()
    for key in (LIMITED_KEY, TEST_KEY):
        assert key not in page.content()


def test_live_pages_and_a_revoked_key_in_place(
    page: Any, live_server: LiveServer, emulator: Emulator
) -> None:
    service = live_server.app.state.flitch.connections
    conn = service.create("Live reads", TEST_KEY, ["customers", "charges"]).connection
    sign_in(page, *VIEWER)
    page.goto(f"/data/{conn.id}/datasets/customers")
    status = rows_status(page)
    expect(status).to_contain_text(re.compile(r"Rows 1–50 of \d+ · read live from Stripe"))
    expect(page.get_by_role("button", name="Refresh now")).to_have_count(0)
    page.get_by_label("Created from").fill("1999-01-01")
    page.get_by_label("Created to").fill("1999-01-02")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="No rows to show")).to_be_visible()
    shot(page, "dataset-empty")

    emulator.config.revoked_keys.add(TEST_KEY)
    page.get_by_role("button", name="Clear").click()
    alert = page.get_by_role("alert").filter(has_text="Authentication failed")
    expect(alert).to_contain_text(AUTH_FAILED_FIX)
    expect(alert.get_by_role("link", name="Open API keys in Stripe")).to_be_visible()
    shot(page, "dataset-auth-failed")

    page.get_by_role("link", name="Live reads").click()
    problem = page.get_by_role("alert").filter(has_text="Authentication failed")
    expect(problem).to_contain_text(AUTH_FAILED_FIX)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    shot(page, "connection-auth-failed")
