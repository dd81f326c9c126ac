"""API tokens never outlive what made them: only a signed-in person (or the terminal) makes one,
a password reset or a role change by an admin ends the user's tokens unless told not to, and
each token shows when and from where it was last used."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result
from playwright.sync_api import expect
from typer.testing import CliRunner

from flitch.cli import app as cli
from flitch.web.userdb import db_path
from flitch.web.users import Role, UserStore
from tests.web.conftest import ADMIN, VIEWER, LiveServer, Web, cheap_hasher, shot


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_token(web: Web, label: str = "script") -> tuple[int, str]:
    made = web.api("POST", "/api/v1/tokens", {"label": label})
    assert made.status_code == 201, made.text
    return int(made.json()["token"]["id"]), str(made.json()["secret"])


def works(web: Web, secret: str) -> bool:
    return int(Web(web.app).client.get("/api/v1/me", headers=bearer(secret)).status_code) == 200


def test_a_token_cannot_make_tokens(admin_web: Web) -> None:
    parent_id, parent = make_token(admin_web)
    script = Web(admin_web.app).client
    child = script.post("/api/v1/tokens", json={"label": "child"}, headers=bearer(parent))
    assert child.status_code == 403, child.text
    assert "signed-in person" in child.json()["message"]
    assert "flitch tokens create" in child.json()["fix"]
    assert [t["id"] for t in admin_web.api("GET", "/api/v1/tokens").json()] == [parent_id]
    # The token still does what its user may do, reading its tokens and revoking them included.
    assert script.get("/api/v1/tokens", headers=bearer(parent)).status_code == 200
    assert script.delete(f"/api/v1/tokens/{parent_id}", headers=bearer(parent)).status_code == 204
    assert not works(admin_web, parent)


def test_a_password_reset_ends_the_users_tokens(admin_web: Web, viewer_web: Web) -> None:
    _, first = make_token(viewer_web, "first")
    _, second = make_token(viewer_web, "second")
    _, admins = make_token(admin_web, "admin's")
    reset = admin_web.api("PATCH", f"/api/v1/users/{VIEWER[0]}", {"password": "a new password 2"})
    assert reset.status_code == 200, reset.text
    assert reset.json()["tokens_revoked"] == 2
    assert not works(admin_web, first)
    assert not works(admin_web, second)
    assert works(admin_web, admins), "only that user's tokens end"


def test_an_admin_may_keep_the_tokens_on_a_reset(admin_web: Web, viewer_web: Web) -> None:
    _, secret = make_token(viewer_web)
    body = {"password": "a new password 2", "revoke_tokens": False}
    kept = admin_web.api("PATCH", f"/api/v1/users/{VIEWER[0]}", body)
    assert (kept.status_code, kept.json()["tokens_revoked"]) == (200, 0)
    assert works(admin_web, secret)
    assert viewer_web.api("GET", "/api/v1/me").status_code == 401, "sessions end all the same"


def test_a_role_change_ends_the_users_tokens(admin_web: Web, viewer_web: Web) -> None:
    _, secret = make_token(viewer_web)
    same = admin_web.api("PATCH", f"/api/v1/users/{VIEWER[0]}", {"role": "viewer"})
    assert same.json()["tokens_revoked"] == 0, "no change, nothing ended"
    assert works(admin_web, secret)
    promoted = admin_web.api("PATCH", f"/api/v1/users/{VIEWER[0]}", {"role": "admin"})
    assert (promoted.json()["role"], promoted.json()["tokens_revoked"]) == ("admin", 1)
    # A token made to read dashboards does not become an admin's token.
    assert not works(admin_web, secret)


def test_each_token_shows_its_last_use(admin_web: Web) -> None:
    token_id, secret = make_token(admin_web, "nightly")
    before = admin_web.api("GET", "/api/v1/tokens").json()[0]
    assert (before["last_used_at"], before["last_used_from"]) == (None, None)
    assert "never used" in admin_web.page("/account").text
    script = Web(admin_web.app).client
    assert script.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    used = admin_web.api("GET", "/api/v1/tokens").json()[0]
    assert used["id"] == token_id
    assert used["last_used_at"] is not None
    assert used["last_used_from"] == "testclient"
    account = admin_web.page("/account").text
    row = re.search(r"nightly.*?</li>", account, re.S)
    assert row, account
    assert "Last used" in row.group(0)
    assert "testclient" in row.group(0)


# -- the Users page offers it ------------------------------------------------------------------


def test_the_users_page_offers_to_end_tokens(admin_web: Web, viewer_web: Web) -> None:
    make_token(viewer_web)
    page = admin_web.page("/users").text
    # A password reset per user, with the choice to end their tokens (ticked).
    reset = re.search(r'<form[^>]*data-reset-password="vic".*?</form>', page, re.S)
    assert reset, page
    box = re.search(r"<input[^>]*name=\"revoke_tokens\"[^>]*>", reset.group(0))
    assert box
    assert "checked" in box.group(0)
    assert "1 API token" in reset.group(0)
    # A role change asks too, for a user who has tokens.
    assert re.search(r'data-user-role="vic"[^>]*data-tokens="1"', page)


@pytest.mark.browser
def test_the_users_page_revokes_or_keeps_tokens_as_ticked(
    page: Any, live_server: LiveServer
) -> None:
    users = live_server.app.state.flitch.users
    users.add(*ADMIN, Role.ADMIN)
    users.add(*VIEWER, Role.VIEWER)
    users.create_token(VIEWER[0], "dashboards-reader")
    page.goto("/signin")
    page.get_by_label("Name").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    page.goto("/users")

    # A role change asks first; Cancel leaves the role as it was.
    page.get_by_label(f"Role of {VIEWER[0]}").select_option("admin")
    dialog = page.get_by_role("dialog", name=f"Make {VIEWER[0]} an admin?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label(f"Also revoke {VIEWER[0]}'s 1 API token")).to_be_checked()
    shot(page, "users-role-tokens")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_label(f"Role of {VIEWER[0]}")).to_have_value("viewer")
    assert users.get(VIEWER[0]).role is Role.VIEWER

    page.get_by_label(f"Role of {VIEWER[0]}").select_option("admin")
    dialog.get_by_role("button", name="Change role").click()
    expect(page.get_by_role("status")).to_contain_text("1 API token was revoked")
    assert users.get(VIEWER[0]).role is Role.ADMIN
    assert users.list_tokens() == []

    # A password reset, with the box unticked: the new token is kept.
    users.create_token(VIEWER[0], "nightly-export")
    page.reload()
    page.get_by_role("button", name=f"Reset the password of {VIEWER[0]}").click()
    reset = page.get_by_role("dialog", name=f"New password for {VIEWER[0]}")
    reset.get_by_label("New password").fill("a new password 2")
    box = reset.get_by_label(re.compile("Also revoke their API tokens"))
    expect(box).to_be_checked()
    box.uncheck()
    shot(page, "users-reset-password")
    reset.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text(f"Password of {VIEWER[0]} changed")
    assert users.verify(VIEWER[0], "a new password 2") is not None
    assert [t.label for t in users.list_tokens()] == ["nightly-export"]


# -- the terminal --------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("FLITCH_HOME", str(path))
    return path


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def live_tokens(home: Path) -> list[dict[str, Any]]:
    listed = run("tokens", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows: list[dict[str, Any]] = orjson.loads(listed.output)
    return rows


def test_the_terminal_ends_tokens_on_a_reset_or_a_role_change(home: Path) -> None:
    run("users", "add", ADMIN[0], "--role", "admin", stdin=f"{ADMIN[1]}\n")
    run("users", "add", VIEWER[0], stdin=f"{VIEWER[1]}\n")
    for _ in range(2):
        assert run("tokens", "create", VIEWER[0]).exit_code == 0
    kept = run("users", "password", VIEWER[0], "--keep-tokens", stdin="a new password 2\n")
    assert kept.exit_code == 0, kept.output
    assert len(live_tokens(home)) == 2
    reset = run("users", "password", VIEWER[0], stdin="a new password 3\n")
    assert reset.exit_code == 0, reset.output
    assert "2 API tokens were revoked" in reset.output
    assert live_tokens(home) == []
    run("tokens", "create", VIEWER[0])
    promoted = run("users", "role", VIEWER[0], "admin")
    assert "1 API token was revoked" in promoted.output
    assert live_tokens(home) == []


def test_tokens_list_shows_the_last_use(home: Path) -> None:
    run("users", "add", ADMIN[0], "--role", "admin", stdin=f"{ADMIN[1]}\n")
    secret = run("tokens", "create", ADMIN[0], "--label", "nightly").output.splitlines()[0]
    assert "never used" in run("tokens", "list").output
    users = UserStore(db_path(home), hasher=cheap_hasher())
    assert users.user_for_token(secret, address="192.0.2.7") is not None
    [row] = live_tokens(home)
    assert row["last_used_from"] == "192.0.2.7"
    assert row["last_used_at"] is not None
    line = run("tokens", "list").output
    assert "last used" in line
    assert "from 192.0.2.7" in line
