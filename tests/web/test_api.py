"""The JSON API: users, tokens, objects, and how every error is answered."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI

from flitch import catalog
from flitch.web import access
from tests.web.conftest import ADMIN, VIEWER, Web

ERROR_KEYS = {"error", "message", "fix"}


def test_openapi_document_describes_the_api(admin_web: Web) -> None:
    doc = admin_web.api("GET", "/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "Flitch API"
    paths = set(doc["paths"])
    assert {"/api/v1/me", "/api/v1/users", "/api/v1/connections", "/api/v1/objects"} <= paths
    assert all(p.startswith("/api/v1/") for p in paths), "pages are not part of the API"
    errors = doc["paths"]["/api/v1/users"]["post"]["responses"]
    assert errors["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")


def test_objects_are_the_catalog(viewer_web: Web) -> None:
    objects = viewer_web.api("GET", "/api/v1/objects").json()
    assert [o["name"] for o in objects] == list(catalog.NAMES)
    assert objects[0]["permission_label"] == catalog.OBJECTS[0].permission_label


def test_users_lifecycle(admin_web: Web) -> None:
    made = admin_web.api("POST", "/api/v1/users", {"name": "bea", "password": "b" * 12})
    assert made.status_code == 201
    assert made.json()["role"] == "viewer"
    names = [u["name"] for u in admin_web.api("GET", "/api/v1/users").json()]
    assert names == ["ada", "bea"]
    taken = admin_web.api("POST", "/api/v1/users", {"name": "BEA", "password": "b" * 12})
    assert taken.status_code == 409
    promoted = admin_web.api("PATCH", "/api/v1/users/bea", {"role": "admin"})
    assert promoted.json()["role"] == "admin"
    assert admin_web.api("DELETE", "/api/v1/users/bea").status_code == 204
    assert admin_web.api("DELETE", "/api/v1/users/bea").status_code == 404


def test_the_last_admin_stays(admin_web: Web) -> None:
    demote = admin_web.api("PATCH", f"/api/v1/users/{ADMIN[0]}", {"role": "viewer"})
    assert demote.status_code == 409
    assert "only admin" in demote.json()["message"]
    assert admin_web.api("DELETE", f"/api/v1/users/{ADMIN[0]}").status_code == 409


def test_bad_input_is_explained(admin_web: Web) -> None:
    bad_name = admin_web.api("POST", "/api/v1/users", {"name": "no spaces", "password": "p" * 12})
    assert bad_name.status_code == 400
    body = bad_name.json()
    assert set(body) >= ERROR_KEYS
    assert "letters, digits" in body["fix"]
    bad_role = admin_web.api(
        "POST", "/api/v1/users", {"name": "x", "password": "p" * 12, "role": "god"}
    )
    assert bad_role.status_code == 422
    assert set(bad_role.json()) >= ERROR_KEYS


def test_invalid_requests_never_echo_what_was_sent(admin_web: Web) -> None:
    secret = "rk_live_" + "S3cr3t" * 10
    response = admin_web.api("POST", "/api/v1/users", {"name": ["x"], "password": [secret]})
    assert response.status_code == 422
    assert set(response.json()) >= ERROR_KEYS
    assert secret not in response.text
    assert "password" in response.json()["message"]
    not_json = admin_web.client.post(
        "/api/v1/connections/test",
        content=secret.encode(),
        headers={"X-CSRF-Token": admin_web.csrf, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422
    assert secret not in not_json.text


def test_unknown_addresses_and_methods(admin_web: Web) -> None:
    missing = admin_web.api("GET", "/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"] == "NotFound"
    wrong = admin_web.api("PUT", "/api/v1/me")
    assert wrong.status_code == 405
    assert set(wrong.json()) >= ERROR_KEYS
    page = admin_web.page("/no/such/page")
    assert page.status_code == 404
    assert "There is nothing at this address." in page.text


def test_unexpected_errors_show_no_traceback_and_log_no_key(
    make_app: Callable[..., FastAPI],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app()
    secret = "rk_live_" + "a1B2c3D4" * 12

    def boom() -> None:
        raise RuntimeError(f"something broke while holding {secret}")

    monkeypatch.setitem(access.ROUTES, "boom", access.Access.SIGNED_IN)
    app.add_api_route("/api/v1/boom", boom, name="boom")
    app.add_api_route("/boom", boom, name="boom")
    web = Web(app)
    web.setup()
    with caplog.at_level(logging.ERROR, logger="flitch.web.app"):
        api = web.api("GET", "/api/v1/boom")
        page = web.page("/boom")
    assert api.status_code == 500
    assert api.json()["error"] == "ServerFault"
    assert set(api.json()) >= ERROR_KEYS
    assert page.status_code == 500
    assert "Something went wrong inside Flitch." in page.text
    for text in (api.text, page.text):
        assert "Traceback" not in text
        assert secret not in text
        assert "RuntimeError" not in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged
    assert secret not in logged
    assert "rk_live_…" in logged


def test_tokens_are_per_user_and_admins_see_all(admin_web: Web, viewer_web: Web) -> None:
    mine = viewer_web.api("POST", "/api/v1/tokens", {"label": "viewer-script"}).json()
    admin_web.api("POST", "/api/v1/tokens", {"label": "admin-script"})
    assert [t["label"] for t in viewer_web.api("GET", "/api/v1/tokens").json()] == ["viewer-script"]
    assert len(admin_web.api("GET", "/api/v1/tokens").json()) == 2
    others = [t for t in admin_web.api("GET", "/api/v1/tokens").json() if t["user"] == ADMIN[0]]
    refused = viewer_web.api("DELETE", f"/api/v1/tokens/{others[0]['id']}")
    assert refused.status_code == 404
    assert viewer_web.api("DELETE", f"/api/v1/tokens/{mine['token']['id']}").status_code == 204
    token_for_viewer = admin_web.app.state.flitch.users.create_token(VIEWER[0], "cli")[1]
    bearer = {"Authorization": f"Bearer {token_for_viewer}"}
    assert viewer_web.client.get("/api/v1/users", headers=bearer).status_code == 403
