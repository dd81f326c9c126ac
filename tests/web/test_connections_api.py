"""The Data page's flow through the JSON API, against the emulator over real HTTP.

Add → Stripe → key → Test connection → tick objects → Name → Save; then the list, the
connection's page, a refresh setting, a replaced key, and delete. No answer ever carries a key.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import LIMITED_KEY, REVOKED_KEY, SECRET_KEY, TEST_KEY
from tests.web.conftest import Web

KEYS = (TEST_KEY, LIMITED_KEY, REVOKED_KEY, SECRET_KEY)


class Recorder:
    """Wraps a ``Web`` and keeps every answer, to check none of them carries a key."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.texts: list[str] = []

    def api(self, method: str, path: str, json: Any = None) -> Any:
        response = self.web.api(method, path, json)
        self.texts.append(response.text)
        return response

    def page(self, path: str) -> Any:
        response = self.web.page(path)
        self.texts.append(response.text)
        return response

    def assert_no_key_leaked(self) -> None:
        for text in self.texts:
            for key in KEYS:
                assert key not in text
                assert key[12:] not in text  # not even the key's body without its prefix


def test_the_connect_flow(admin_web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    web = Recorder(admin_web)
    empty = web.page("/data")
    assert "No data connected yet" in empty.text
    assert "Connect Stripe" in empty.text
    form = web.page("/data/new?source=stripe")
    assert 'for="key">Restricted API key</label>' in form.text

    report = web.api("POST", "/api/v1/connections/test", {"key": TEST_KEY}).json()
    assert report["ok"]
    assert report["mode"] == "test"
    assert len(report["objects"]) == 12
    assert all(o["readable"] for o in report["objects"])

    picked = ["customers", "charges", "subscriptions"]
    saved = web.api(
        "POST",
        "/api/v1/connections",
        {"name": "Stripe test", "key": TEST_KEY, "objects": picked, "refresh": "off"},
    )
    assert saved.status_code == 201, saved.text
    connection = saved.json()["connection"]
    assert connection["objects"] == picked
    assert connection["refresh"] == "off"
    assert connection["key"]["masked"].startswith("rk_test_")

    listed = web.api("GET", "/api/v1/connections").json()
    assert [c["name"] for c in listed] == ["Stripe test"]
    data_page = web.page("/data")
    assert "Stripe test" in data_page.text
    assert connection["key"]["masked"] in data_page.text
    detail = web.page(f"/data/{connection['id']}")
    assert "Customers" in detail.text
    assert "Update key" in detail.text

    refresh = web.api("PATCH", f"/api/v1/connections/{connection['id']}", {"refresh": "1h"})
    assert refresh.json()["connection"]["refresh"] == "1h"

    limited = web.api("PATCH", f"/api/v1/connections/{connection['id']}", {"key": LIMITED_KEY})
    assert limited.status_code == 200, limited.text
    assert limited.json()["connection"]["blocked"] == ["subscriptions"]
    assert "Missing permissions" in web.page("/data").text

    retest = web.api("POST", f"/api/v1/connections/{connection['id']}/test")
    assert retest.json()["probe"]["outcome"] == "permission_missing"

    gone = web.api("DELETE", f"/api/v1/connections/{connection['id']}").json()
    assert gone["deleted"]
    assert "delete the restricted key" in gone["reminder"]
    assert web.api("GET", "/api/v1/connections").json() == []
    web.texts.extend(record.getMessage() for record in caplog.records)
    web.assert_no_key_leaked()


def test_refused_keys_say_what_to_do(admin_web: Web) -> None:
    web = Recorder(admin_web)
    secret = web.api("POST", "/api/v1/connections/test", {"key": SECRET_KEY})
    assert secret.status_code == 400
    assert secret.json()["error"] in ("KeyRejected", "KeyRefused")
    assert secret.json()["fix"]
    revoked = web.api("POST", "/api/v1/connections/test", {"key": REVOKED_KEY}).json()
    assert revoked["outcome"] == "authentication_failed"
    refused = web.api("POST", "/api/v1/connections", {"name": "Old", "key": REVOKED_KEY})
    assert refused.status_code == 422
    assert refused.json()["error"] == "AuthenticationFailed"
    assert "Create a new restricted key" in refused.json()["fix"]
    assert web.api("GET", "/api/v1/connections").json() == []
    web.assert_no_key_leaked()


def test_viewers_see_connections_but_cannot_change_them(admin_web: Web, viewer_web: Web) -> None:
    made = admin_web.api("POST", "/api/v1/connections", {"name": "Main", "key": TEST_KEY})
    assert made.status_code == 201
    conn_id = made.json()["connection"]["id"]
    web = Recorder(viewer_web)
    assert [c["name"] for c in web.api("GET", "/api/v1/connections").json()] == ["Main"]
    page = web.page(f"/data/{conn_id}")
    assert page.status_code == 200
    assert "Update key" not in page.text
    assert "Delete" not in page.text
    assert 'href="/data/new' not in web.page("/data").text
    assert web.api("DELETE", f"/api/v1/connections/{conn_id}").status_code == 403
    assert web.api("POST", "/api/v1/connections/test", {"key": TEST_KEY}).status_code == 403
    assert web.page("/data/new").status_code == 403
    web.assert_no_key_leaked()
