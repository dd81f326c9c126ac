"""The web app in a real Chromium, served by uvicorn on 127.0.0.1.

Elements are found by their accessible names, as a person (or a screen reader) finds them. Each
page visited is saved as a screenshot in ``artifacts/screenshots/`` (ignored by git).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from flitch.web.users import Role
from tests.conftest import LIMITED_KEY, SECRET_KEY, TEST_KEY
from tests.web.conftest import ADMIN, VIEWER, LiveServer, shot

pytestmark = pytest.mark.browser


def add_user(server: LiveServer, name: str, password: str, role: Role) -> None:
    server.app.state.flitch.users.add(name, password, role)


def sign_in(page: Any, name: str, password: str) -> None:
    page.goto("/signin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_first_run_then_sign_in_and_out(page: Any, live_server: LiveServer) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", name="Create the admin account")).to_be_visible()
    shot(page, "setup")
    # The code `flitch serve` prints on its console.
    page.get_by_label("Setup code").fill(live_server.app.state.flitch.setup_code())
    page.get_by_label("Name").fill(ADMIN[0])
    page.get_by_label("Password", exact=True).fill(ADMIN[1])
    page.get_by_label("Password again").fill(ADMIN[1])
    page.get_by_role("button", name="Create admin account").click()

    expect(page).to_have_url(re.compile(r"/data$"))
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="No data connected yet")).to_be_visible()
    expect(page.get_by_role("link", name="Connect Stripe")).to_be_visible()
    shot(page, "data-empty")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("link", name="Dashboards")).to_be_visible()
    shot(page, "data-empty-narrow")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.get_by_label(f"User menu: {ADMIN[0]}").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "signin")
    page.goto("/data")
    expect(page).to_have_url(re.compile(r"/signin\?next="))

    sign_in(page, *ADMIN)
    expect(page).to_have_url(re.compile(r"/data$"))
    page.get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", name="Connect Stripe to see dashboards")).to_be_visible()
    shot(page, "dashboards-empty")


def test_failed_sign_ins_get_limited(page: Any, live_server: LiveServer) -> None:
    add_user(live_server, *ADMIN, Role.ADMIN)
    for _ in range(5):
        sign_in(page, ADMIN[0], "not the password")
        expect(page.get_by_role("alert")).to_contain_text("The name or password is not right.")
    shot(page, "signin-failed")
    sign_in(page, *ADMIN)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed sign-in attempts.")
    expect(alert).to_contain_text("Try again in 15 minutes.")
    expect(page).to_have_url(re.compile(r"/signin$"))
    shot(page, "signin-limited")


def test_a_viewer_cannot_reach_admin_actions(page: Any, live_server: LiveServer) -> None:
    add_user(live_server, *ADMIN, Role.ADMIN)
    add_user(live_server, *VIEWER, Role.VIEWER)
    sign_in(page, *VIEWER)
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    expect(page.get_by_text("Ask an admin of this Flitch to add a connection.")).to_be_visible()
    expect(page.get_by_role("button", name="Add")).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    shot(page, "data-viewer")
    for path in ("/data/new", "/users"):
        response = page.goto(path)
        assert response.status == 403
        expect(page.get_by_role("heading", name="Only an admin can do this.")).to_be_visible()
    shot(page, "forbidden")


def test_connect_stripe_from_the_data_page(page: Any, live_server: LiveServer) -> None:
    add_user(live_server, *ADMIN, Role.ADMIN)
    sign_in(page, *ADMIN)
    page.get_by_role("button", name="Add").click()
    page.get_by_role("link", name=re.compile("^Stripe")).click()
    expect(page.get_by_role("heading", name="Connect Stripe")).to_be_visible()

    key = page.get_by_label("Restricted API key")
    key.fill(SECRET_KEY)
    page.get_by_role("button", name="Test connection").click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("secret key")
    shot(page, "connect-refused")
    assert SECRET_KEY not in refusal.inner_text()

    key.fill(LIMITED_KEY)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status").filter(has_text="missing Read Subscriptions")).to_be_visible()
    expect(page.get_by_label("Subscriptions")).to_be_checked()
    expect(page.locator("[data-object=subscriptions]")).to_contain_text("No Read permission")

    key.fill(TEST_KEY)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("[data-object=subscriptions]")).to_contain_text("Readable")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Stripe test")
    page.get_by_label("Disputes").uncheck()
    page.get_by_label("Coupons").uncheck()
    page.get_by_label("Name", exact=True).fill("Main account")
    shot(page, "connect-stripe")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/data/conn_[a-z0-9]+$"))
    expect(page.get_by_role("heading", name="Main account")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("^Customers"))).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("^Disputes"))).to_have_count(0)
    shot(page, "connection")

    page.get_by_label("Refresh schedule").select_option("1h")
    # saving reloads the page once the setting is saved and the first refresh started: wait
    # for that reload, or a click on the next link races it (and the reload wins)
    with page.expect_navigation():
        page.get_by_role("button", name="Save refresh").click()
    expect(page.get_by_label("Refresh schedule")).to_have_value("1h")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Data").click()
    expect(page.get_by_role("link", name="Main account")).to_be_visible()
    expect(page.get_by_role("cell", name="Every 1h")).to_be_visible()
    shot(page, "data-list")
    assert TEST_KEY not in page.content()

    # a link followed while a save is still on its way is not undone by the page's reload: the
    # Data page is made slow to answer, so the save ends (and would reload) while it loads
    page.get_by_role("link", name="Main account").click()

    def slow(route: Any) -> None:
        time.sleep(1.5)
        route.continue_()

    page.route(re.compile(r".*/data$"), slow)
    # and the save itself takes a moment, so the link is followed before it ends
    page.evaluate(
        """() => {
          const send = window.fetch;
          window.fetch = (url, init) => init && init.method === "PATCH"
            ? new Promise((done) => setTimeout(done, 300)).then(() => send(url, init))
            : send(url, init);
        }"""
    )
    page.get_by_label("Refresh schedule").select_option("6h")
    page.get_by_role("button", name="Save refresh").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Data").click()
    expect(page).to_have_url(re.compile(r"/data$"))
    expect(page.get_by_role("link", name="Main account")).to_be_visible()
    page.unroute(re.compile(r".*/data$"))

    page.get_by_role("link", name="Main account").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Delete connection").click()
    expect(page).to_have_url(re.compile(r"/data\?deleted=Main"))
    expect(page.get_by_role("heading", name="No data connected yet")).to_be_visible()


def test_users_and_tokens_pages(page: Any, live_server: LiveServer) -> None:
    add_user(live_server, *ADMIN, Role.ADMIN)
    sign_in(page, *ADMIN)
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Name").fill(VIEWER[0])
    # Exact: each user's "Reset password" dialog has a password field too.
    page.get_by_label("Password", exact=True).fill(VIEWER[1])
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("cell", name=VIEWER[0], exact=True)).to_be_visible()
    expect(page.get_by_label(f"Role of {VIEWER[0]}")).to_have_value("viewer")
    shot(page, "users")

    page.goto("/account")
    page.get_by_label("Token label").fill("nightly-export")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("[data-new-token-value]")
    expect(secret).to_have_text(re.compile(r"^flt_"))
    shot(page, "account-token")
    page.reload()
    expect(page.get_by_text("nightly-export")).to_be_visible()
    assert secret.count() == 1
    expect(page.locator("[data-new-token-value]")).to_have_text("")
