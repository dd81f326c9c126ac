"""Signing in, sessions, the sign-in limit, anti-forgery tokens and API tokens."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace

from fastapi import FastAPI

from flitch.config import Settings
from flitch.web.throttle import Limits
from flitch.web.userdb import db_path
from tests.web.conftest import ADMIN, VIEWER, Web


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_first_run_creates_the_admin_then_closes(make_app: Callable[..., FastAPI]) -> None:
    web = Web(make_app())
    assert web.page("/signin").headers["location"] == "/setup"
    setup = web.page("/setup")
    assert "Create the admin account" in setup.text
    done = web.setup()
    assert (done.status_code, done.headers["location"]) == (303, "/data")
    assert web.api("GET", "/api/v1/me").json()["role"] == "admin"
    # Setup is closed now, for everyone.
    other = Web(web.app)
    assert other.page("/setup").headers["location"] == "/signin"
    other.page("/signin")
    again = other.form(
        "/setup", {"name": "mallory", "password": "x" * 12, "password_again": "x" * 12}
    )
    assert again.status_code == 409
    assert [u.name for u in web.app.state.flitch.users.list_users()] == [ADMIN[0]]


def test_setup_says_what_is_wrong(make_app: Callable[..., FastAPI]) -> None:
    web = Web(make_app())
    web.page("/setup")
    code = web.app.state.flitch.setup_code()
    short = web.form(
        "/setup",
        {"name": "ada", "password": "short", "password_again": "short", "setup_code": code},
    )
    assert short.status_code == 400
    assert "at least 10 characters" in short.text
    differ = web.form(
        "/setup",
        {"name": "ada", "password": "a" * 12, "password_again": "b" * 12, "setup_code": code},
    )
    assert "not the same" in differ.text
    assert web.app.state.flitch.users.count() == 0


def test_sign_in_and_out(admin_web: Web) -> None:
    web = Web(admin_web.app)
    web.page("/signin?next=/dashboards")
    wrong = web.form("/signin", {"name": ADMIN[0], "password": "not it at all"})
    assert wrong.status_code == 401
    assert "The name or password is not right." in wrong.text
    ok = web.form("/signin", {"name": ADMIN[0], "password": ADMIN[1], "next": "/dashboards"})
    assert (ok.status_code, ok.headers["location"]) == (303, "/dashboards")
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert web.page("/data").status_code == 200
    out = web.form("/signout", {})
    assert out.headers["location"] == "/signin"
    assert web.page("/data").headers["location"].startswith("/signin")


def test_next_never_leaves_the_site(admin_web: Web) -> None:
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        web = Web(admin_web.app)
        web.page("/signin")
        response = web.form("/signin", {"name": ADMIN[0], "password": ADMIN[1], "next": target})
        assert response.headers["location"] == "/data", target


def test_failed_sign_ins_are_limited_per_user(make_app: Callable[..., FastAPI]) -> None:
    clock = Clock()
    app = make_app(clock=clock, signin_limits=Limits(per_user=3, per_address=100, window=600))
    Web(app).setup()
    web = Web(app)
    web.page("/signin")
    for _ in range(3):
        assert web.form("/signin", {"name": "ADA", "password": "wrong password"}).status_code == 401
    locked = web.form("/signin", {"name": ADMIN[0], "password": ADMIN[1]})
    assert locked.status_code == 429
    assert "Try again in 10 minutes." in locked.text
    assert int(locked.headers["retry-after"]) > 590
    clock.now += 301
    assert "Try again in 5 minutes." in web.form("/signin", {"name": "ada", "password": "x"}).text
    clock.now += 300
    assert web.form("/signin", {"name": ADMIN[0], "password": ADMIN[1]}).status_code == 303


def test_failed_sign_ins_are_limited_per_address(make_app: Callable[..., FastAPI]) -> None:
    clock = Clock()
    app = make_app(clock=clock, signin_limits=Limits(per_user=100, per_address=4, window=900))
    Web(app).setup()
    web = Web(app)
    web.page("/signin")
    for n in range(4):
        web.form("/signin", {"name": f"guess{n}", "password": "wrong password"})
    # Even the right password of another account is refused from this address now.
    refused = web.form("/signin", {"name": ADMIN[0], "password": ADMIN[1]})
    assert refused.status_code == 429
    assert "Try again in 15 minutes." in refused.text
    # The lock survives a restart: it is stored with the users.
    restarted = Web(make_app(clock=clock, signin_limits=Limits(per_user=100, per_address=4)))
    restarted.page("/signin")
    assert restarted.form("/signin", {"name": "ada", "password": ADMIN[1]}).status_code == 429


def test_a_success_clears_the_accounts_failures(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(signin_limits=Limits(per_user=3, per_address=100))
    Web(app).setup()
    web = Web(app)
    web.page("/signin")
    for _ in range(2):
        web.form("/signin", {"name": "ada", "password": "wrong password"})
    assert web.form("/signin", {"name": "ada", "password": ADMIN[1]}).status_code == 303
    web = Web(app)
    web.page("/signin")
    for _ in range(2):
        web.form("/signin", {"name": "ada", "password": "wrong password"})
    assert web.form("/signin", {"name": "ada", "password": ADMIN[1]}).status_code == 303


def test_cookies_are_secure_behind_a_trusted_https_proxy(
    make_app: Callable[..., FastAPI], web_settings: Settings
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    public = replace(web_settings, allowed_hosts="flitch.example")
    trusted = Web(make_app(public, trust_proxy=True))
    first = trusted.page("/setup", headers=https)
    assert "Secure" in first.headers["set-cookie"]
    # The test client speaks plain HTTP to the app, so it holds back Secure cookies: send the
    # anti-forgery cookie by hand, as the browser would over HTTPS to the proxy.
    done = trusted.client.post(
        "/setup",
        data={
            "csrf_token": trusted.csrf,
            "name": "ada",
            "password": ADMIN[1],
            "password_again": ADMIN[1],
            "setup_code": trusted.app.state.flitch.setup_code(),
        },
        headers={
            **https,
            "Cookie": f"flitch_csrf={trusted.csrf}",
            "Origin": "https://flitch.example",
            "X-Forwarded-Host": "flitch.example",
        },
    )
    assert done.status_code == 303
    assert "Secure" in done.headers["set-cookie"]
    untrusted = Web(make_app())
    untrusted.page("/signin", headers=https)
    response = untrusted.form("/signin", {"name": "ada", "password": ADMIN[1]}, headers=https)
    assert response.status_code == 303
    assert "Secure" not in response.headers["set-cookie"]


def test_session_is_served_over_https_with_secure_cookie(
    make_app: Callable[..., FastAPI], web_settings: Settings
) -> None:
    public = replace(web_settings, allowed_hosts="flitch.example")
    web = Web(make_app(public), base_url="https://flitch.example")
    assert "Secure" in web.setup().headers["set-cookie"]


def test_changes_need_the_pages_token(admin_web: Web) -> None:
    body = {"label": "x"}
    assert admin_web.api("POST", "/api/v1/tokens", body).status_code == 201
    missing = admin_web.client.post("/api/v1/tokens", json=body)
    assert missing.status_code == 403
    assert missing.json()["error"] == "CsrfRejected"
    wrong = admin_web.client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    foreign = admin_web.api(
        "POST", "/api/v1/tokens", body, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    same = admin_web.api("POST", "/api/v1/tokens", body, headers={"Origin": "http://localhost"})
    assert same.status_code == 201
    # Behind a proxy that terminates TLS the browser says https; the host is what counts.
    tls = admin_web.api("POST", "/api/v1/tokens", body, headers={"Origin": "https://localhost"})
    assert tls.status_code == 201
    # A plain form post without the field is refused too (signing out here).
    assert admin_web.client.post("/signout", data={}).status_code == 403
    assert admin_web.page("/data").status_code == 200


def test_sign_in_form_needs_its_cookie_token(admin_web: Web) -> None:
    web = Web(admin_web.app)
    response = web.client.post("/signin", data={"name": "ada", "password": ADMIN[1]})
    assert response.status_code == 403
    web.page("/signin")
    forged = web.client.post(
        "/signin", data={"name": "ada", "password": ADMIN[1], "csrf_token": "guess"}
    )
    assert forged.status_code == 403


def test_api_tokens(admin_web: Web) -> None:
    created = admin_web.api("POST", "/api/v1/tokens", {"label": "nightly"}).json()
    secret = created["secret"]
    assert secret.startswith("flt_")
    assert created["token"]["prefix"] == secret[:8]
    script = Web(admin_web.app)
    bearer = {"Authorization": f"Bearer {secret}"}
    me = script.client.get("/api/v1/me", headers=bearer).json()
    assert (me["name"], me["via"]) == (ADMIN[0], "token")
    # Exempt from the anti-forgery token (a script has no cookie to forge), but a token cannot
    # make tokens: that takes a signed-in person (test_hardening_tokens).
    made = script.client.post("/api/v1/tokens", json={"label": "two"}, headers=bearer)
    assert made.status_code == 403
    listed = script.client.get("/api/v1/tokens", headers=bearer).json()
    assert all("secret" not in t for t in listed)
    # Stored hashed: the secret is nowhere in the database.
    raw = db_path(admin_web.app.state.flitch.settings.home).read_bytes()
    assert secret.encode() not in raw
    revoked = script.client.delete(f"/api/v1/tokens/{created['token']['id']}", headers=bearer)
    assert revoked.status_code == 204
    assert script.client.get("/api/v1/me", headers=bearer).status_code == 401


def test_passwords_are_argon2_hashes(admin_web: Web) -> None:
    path = db_path(admin_web.app.state.flitch.settings.home)
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM web_users").fetchone()
    assert stored.startswith("$argon2id$")
    assert ADMIN[1] not in stored
    assert (path.stat().st_mode & 0o777) == 0o600


def test_changing_a_password_ends_other_sessions(admin_web: Web, viewer_web: Web) -> None:
    changed = admin_web.api("PATCH", f"/api/v1/users/{VIEWER[0]}", {"password": "brand new pass"})
    assert changed.status_code == 200
    assert viewer_web.page("/data").status_code == 303
    viewer_web.sign_in(VIEWER[0], "brand new pass")
    assert viewer_web.page("/data").status_code == 200


def test_deleting_a_user_ends_their_sessions(admin_web: Web, viewer_web: Web) -> None:
    assert admin_web.api("DELETE", f"/api/v1/users/{VIEWER[0]}").status_code == 204
    assert viewer_web.api("GET", "/api/v1/me").status_code == 401


def test_sessions_expire_when_idle(make_app: Callable[..., FastAPI]) -> None:
    clock = Clock()
    web = Web(make_app(clock=clock))
    web.setup()
    assert web.api("GET", "/api/v1/me").status_code == 200
    clock.now += 6 * 24 * 3600
    assert web.api("GET", "/api/v1/me").status_code == 200
    clock.now += 8 * 24 * 3600
    assert web.api("GET", "/api/v1/me").status_code == 401


def test_own_password_change(admin_web: Web) -> None:
    wrong = admin_web.api(
        "POST", "/api/v1/me/password", {"current_password": "nope", "new_password": "z" * 12}
    )
    assert wrong.status_code == 400
    assert "current password" in wrong.json()["message"]
    ok = admin_web.api(
        "POST", "/api/v1/me/password", {"current_password": ADMIN[1], "new_password": "z" * 12}
    )
    assert ok.status_code == 204
    fresh = Web(admin_web.app)
    assert fresh.sign_in(ADMIN[0], "z" * 12).status_code == 303
