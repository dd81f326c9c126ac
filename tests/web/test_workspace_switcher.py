"""The workspace switcher: shown in the sidebar only to a user in more than one workspace; a
switch changes what every page and API call of the session sees; in Chromium too."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import expect

from flitch.config import Settings
from flitch.web.users import Role
from tests.conftest import TEST_KEY
from tests.web.conftest import ADMIN, LiveServer, Web, shot


def test_the_switcher_appears_with_a_second_workspace_and_switches(admin_web: Web) -> None:
    ada = admin_web
    assert "data-workspace-switcher" not in ada.page("/data").text
    assert "data-workspace-name>default<" in ada.page("/data").text
    made = ada.api("POST", "/api/v1/connections", {"name": "Home shop", "key": TEST_KEY})
    assert made.status_code == 201, made.text
    beta = ada.api("POST", "/api/v1/workspaces", {"name": "Beta"})
    assert beta.status_code == 201, beta.text
    page = ada.page("/data")
    assert "data-workspace-switcher" in page.text
    assert "Home shop" in page.text
    switched = ada.form("/workspace", {"workspace": beta.json()["id"]})
    assert (switched.status_code, switched.headers["location"]) == (303, "/data")
    assert ada.api("GET", "/api/v1/me").json()["workspace"]["name"] == "Beta"
    assert "Home shop" not in ada.page("/data").text
    assert ada.api("GET", "/api/v1/connections").json() == []
    listed = {w["name"]: w["current"] for w in ada.api("GET", "/api/v1/workspaces").json()}
    assert listed == {"default": False, "Beta": True}
    # a workspace you do not belong to cannot be switched to: 404, as if it did not exist
    ctx = ada.app.state.flitch
    other = ctx.workspaces.create("Gamma")
    refused = ada.api("PUT", "/api/v1/workspace", {"workspace": other.id})
    assert refused.status_code == 404, refused.text
    back = ada.api("PUT", "/api/v1/workspace", {"workspace": "default"})
    assert back.status_code == 200, back.text
    assert [c["name"] for c in ada.api("GET", "/api/v1/connections").json()] == ["Home shop"]


def test_a_token_stays_in_its_workspace(admin_web: Web) -> None:
    ada = admin_web
    secret = ada.api("POST", "/api/v1/tokens", {"label": "script"}).json()["secret"]
    bearer = {"Authorization": f"Bearer {secret}"}
    ada.api("POST", "/api/v1/workspaces", {"name": "Beta"})
    refused = ada.client.put("/api/v1/workspace", json={"workspace": "Beta"}, headers=bearer)
    assert refused.status_code == 400
    assert "cannot switch" in refused.json()["message"]
    me = ada.client.get("/api/v1/me", headers=bearer).json()
    assert me["workspace"]["name"] == "default"


@pytest.mark.browser
def test_switching_workspaces_in_chromium(page: Any, live_server: LiveServer) -> None:
    ctx = live_server.app.state.flitch
    ada = ctx.users.add(*ADMIN, Role.ADMIN)
    ctx.workspaces.create("Beta", owner_id=ada.id)
    page.goto("/signin")
    page.get_by_label("Name").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    switcher = page.get_by_label("Workspace")
    expect(switcher).to_have_value("ws_default")
    shot(page, "workspace-switcher")
    switcher.select_option(label="Beta")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    expect(page.get_by_label("Workspace")).to_have_value(
        next(w.id for w in ctx.workspaces.all() if w.name == "Beta")
    )


def test_a_newcomer_joins_with_an_invitation_link(admin_web: Web) -> None:
    ada = admin_web
    beta = ada.api("POST", "/api/v1/workspaces", {"name": "Beta"}).json()
    ada.api("PUT", "/api/v1/workspace", {"workspace": beta["id"]})
    invite = ada.api("POST", "/api/v1/workspace/invitations", {"role": "viewer"}).json()
    assert invite["link"] == f"/join?code={invite['code']}"
    newcomer = Web(ada.app)
    page = newcomer.page(invite["link"])
    assert page.status_code == 200
    assert invite["code"] in page.text
    form = {"name": "carl", "password": "carl's password", "password_again": "carl's password"}
    wrong = newcomer.form("/join", {**form, "code": "inv_not-a-code"})
    assert wrong.status_code == 400
    assert "not valid" in wrong.text
    joined = newcomer.form("/join", {**form, "code": invite["code"]})
    assert (joined.status_code, joined.headers["location"]) == (303, "/data")
    newcomer.page("/data")
    me = newcomer.api("GET", "/api/v1/me").json()
    assert (me["workspace"]["name"], me["role"], me["instance_admin"]) == ("Beta", "viewer", False)
    # the code worked once: a second newcomer is refused and no account is made
    late = Web(ada.app)
    late.page("/join")
    again = late.form("/join", {**form, "name": "dora", "code": invite["code"]})
    assert again.status_code == 400
    assert "dora" not in [u["name"] for u in ada.api("GET", "/api/v1/users").json()]


@pytest.mark.browser
def test_an_owner_invites_from_the_account_page(page: Any, live_server: LiveServer) -> None:
    ctx = live_server.app.state.flitch
    ctx.users.add(*ADMIN, Role.ADMIN)
    ctx.users.add("vic", "viewer password 1", Role.VIEWER)
    page.goto("/signin")
    page.get_by_label("Name").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    page.goto("/account")
    expect(page.get_by_text("You act in default as admin and owner")).to_be_visible()
    expect(page.get_by_label("Role of vic")).to_have_value("viewer")
    page.get_by_label("Invite someone as").select_option("admin")
    page.get_by_role("button", name="Make invitation").click()
    code = page.locator("[data-new-invite-code]")
    expect(code).to_have_text(re.compile(r"^inv_"))
    expect(page.locator("[data-new-invite-link]")).to_contain_text("/join?code=inv_")
    shot(page, "workspace-invitation")
    assert ctx.workspaces.is_valid(code.inner_text())


@pytest.mark.browser
def test_create_switch_and_delete_a_workspace_from_pages(
    page: Any, live_server: LiveServer
) -> None:
    ctx = live_server.app.state.flitch
    ctx.users.add(*ADMIN, Role.ADMIN)
    page.goto("/signin")
    page.get_by_label("Name").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    page.goto("/account")
    expect(page.get_by_label("Type default to delete this workspace")).to_have_count(0)
    page.get_by_label("New workspace").fill("Gamma")
    page.get_by_role("button", name="Create workspace").click()
    switcher = page.get_by_role("combobox", name="Workspace", exact=True)
    expect(switcher).to_be_visible()
    switcher.select_option(label="Gamma")
    page.get_by_role("button", name="Switch").click()
    page.goto("/account")
    expect(page.get_by_text("You act in Gamma as admin and owner")).to_be_visible()
    page.get_by_label("Type Gamma to delete this workspace").fill("Gamma")
    page.get_by_role("button", name="Delete workspace").click()
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    assert [w.name for w in ctx.workspaces.all()] == ["default"]
    expect(page.locator("[data-workspace-name]")).to_have_text("default")


def test_sign_up_makes_an_account_with_its_own_workspace_when_allowed(
    web_settings: Settings, make_app: Callable[..., FastAPI]
) -> None:
    closed = Web(make_app())
    assert closed.page("/signup").status_code == 404
    app = make_app(dataclasses.replace(web_settings, signup=True))
    admin = Web(app)
    assert admin.setup().status_code == 303
    admin.page("/data")
    made = admin.api("POST", "/api/v1/connections", {"name": "Admin shop", "key": TEST_KEY})
    assert made.status_code == 201, made.text
    newcomer = Web(app)
    assert newcomer.page("/signup").status_code == 200
    form = {"name": "erin", "password": "erin's password", "password_again": "erin's password"}
    taken = newcomer.form("/signup", {**form, "workspace": "default"})
    assert taken.status_code == 409
    assert "erin" not in [u.name for u in app.state.flitch.users.list_users()]
    done = newcomer.form("/signup", {**form, "workspace": "Erin shop"})
    assert (done.status_code, done.headers["location"]) == (303, "/data")
    newcomer.page("/data")
    me = newcomer.api("GET", "/api/v1/me").json()
    assert me["workspace"]["name"] == "Erin shop"
    assert (me["workspace"]["owner"], me["instance_admin"]) == (True, False)
    assert newcomer.api("GET", "/api/v1/connections").json() == []
