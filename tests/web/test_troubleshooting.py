"""The seed's troubleshooting, shown in place when a test, a refresh or a live query fails.

Each failure is made real on the emulator: a key revoked after it was saved (Stripe answers 401
``api_key_expired``), a permission removed from the key (403 naming the ``rak_…`` permission),
and a live key on an account with no live data in most objects. The connection or the dataset
then carries the seed's explanation and fix, in the API and on the pages. No key is ever sent
back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flitch import catalog
from flitch.emulator.server import Emulator
from flitch.web.troubleshoot import AUTH_FAILED_FIX, NO_DATA_EXPLAINED
from tests.conftest import LIMITED_KEY, LIVE_KEY, TEST_KEY
from tests.web.conftest import Web
from tests.web.test_datasets_api import connect, refresh_now, rows

#: A second key the emulator accepts after the first was "rolled".
NEW_KEY = "rk_test_51FlitchRolledReplacementKeyNew1"
KEYS = (TEST_KEY, LIVE_KEY, LIMITED_KEY, NEW_KEY)


@pytest.fixture(autouse=True)
def _stop_background_work(admin_web: Web) -> Iterator[None]:
    yield
    admin_web.app.state.flitch.refreshes.close()
    admin_web.app.state.flitch.queries.close()


class Seen:
    """Every answer of a test, to check at the end that none carries a key."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.texts: list[str] = []

    def keep(self, response: Any) -> Any:
        self.texts.append(response.text)
        return response

    def api(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.keep(self.web.api(method, path, json, **kwargs))

    def page(self, path: str) -> Any:
        return self.keep(self.web.page(path))

    def assert_no_key(self) -> None:
        for text in self.texts:
            for key in KEYS:
                assert key not in text
                assert key[12:] not in text


def problems_of(seen: Seen, conn: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = seen.api("GET", f"/api/v1/connections/{conn}/datasets").json()[
        "problems"
    ]
    return listed


def test_a_key_revoked_in_stripe_shows_authentication_failed_and_the_fix(
    admin_web: Web, tiny_emulator: Emulator
) -> None:
    seen = Seen(admin_web)
    conn = connect(admin_web, objects=["customers", "charges"])
    assert problems_of(seen, conn) == []
    tiny_emulator.config.revoked_keys.add(TEST_KEY)

    failed = seen.keep(rows(admin_web, conn, "charges"))
    assert failed.status_code == 422
    assert failed.json()["error"] == "AuthenticationFailed"
    assert failed.json()["fix"] == AUTH_FAILED_FIX

    # The live query's failure is now the connection's, everywhere it is shown.
    problems = problems_of(seen, conn)
    assert problems[0]["kind"] == "authentication_failed"
    assert problems[0]["title"] == "Authentication failed"
    assert problems[0]["fix"] == AUTH_FAILED_FIX
    assert problems[0]["link"] == "https://dashboard.stripe.com/apikeys"
    datasets = seen.api("GET", f"/api/v1/connections/{conn}/datasets").json()["datasets"]
    assert all(d["problem"]["kind"] == "authentication_failed" for d in datasets)
    page = seen.page(f"/data/{conn}").text
    assert "Authentication failed" in page
    assert AUTH_FAILED_FIX in page
    listing = seen.page("/data").text
    assert "Authentication failed" in listing
    assert "Create a new restricted key and update the connection." in listing
    dataset_page = seen.page(f"/data/{conn}/datasets/charges").text
    assert AUTH_FAILED_FIX in dataset_page

    # The fix: a new key, tested before it replaces the old one.
    tiny_emulator.config.keys[NEW_KEY] = None
    updated = seen.api("PATCH", f"/api/v1/connections/{conn}", {"key": NEW_KEY})
    assert updated.status_code == 200, updated.text
    assert problems_of(seen, conn) == []
    assert seen.keep(rows(admin_web, conn, "charges")).status_code == 200
    seen.assert_no_key()


def test_a_refresh_with_a_revoked_key_fails_with_the_fix(
    admin_web: Web, tiny_emulator: Emulator
) -> None:
    seen = Seen(admin_web)
    conn = connect(admin_web, objects=["customers"], refresh="1h")
    tiny_emulator.config.revoked_keys.add(TEST_KEY)
    job = refresh_now(admin_web, conn)
    assert job["state"] == "failed"
    assert job["error"]["fix"] == AUTH_FAILED_FIX
    assert job["datasets"][0]["status"] == "failed"
    assert problems_of(seen, conn)[0]["kind"] == "authentication_failed"
    state = seen.api("GET", f"/api/v1/connections/{conn}/refresh").json()
    assert state["last_run"]["outcome"] == "failed"
    seen.keep(admin_web.api("GET", f"/api/v1/refreshes/{job['id']}"))
    seen.assert_no_key()


def test_a_permission_removed_from_the_key_names_the_permission_to_grant(
    admin_web: Web, tiny_emulator: Emulator
) -> None:
    seen = Seen(admin_web)
    conn = connect(admin_web, objects=["customers", "subscriptions"])
    everything_but_subscriptions = frozenset(catalog.NAMES) - {"subscriptions"} | {"events"}
    tiny_emulator.config.keys[TEST_KEY] = everything_but_subscriptions

    refused = seen.keep(rows(admin_web, conn, "subscriptions"))
    assert refused.status_code == 422
    assert refused.json()["error"] == "PermissionMissing"
    assert "grant Read Subscriptions" in refused.json()["fix"]
    assert seen.keep(rows(admin_web, conn, "customers")).status_code == 200

    listed = seen.api("GET", f"/api/v1/connections/{conn}/datasets").json()
    subscriptions = listed["datasets"][1]
    assert subscriptions["status"] == "missing_permission"
    assert subscriptions["problem"]["kind"] == "missing_resource"
    assert "grant Read Subscriptions on it" in subscriptions["problem"]["fix"]
    assert listed["datasets"][0]["problem"] is None
    assert listed["problems"][0]["title"] == "Missing resources"
    page = seen.page(f"/data/{conn}").text
    assert "Missing resources" in page
    assert "A resource returns nothing if you did not grant it Read on the key." in page
    seen.assert_no_key()


def test_a_key_saved_without_a_permission_blocks_that_dataset_only(admin_web: Web) -> None:
    seen = Seen(admin_web)
    conn = connect(admin_web, key=LIMITED_KEY, objects=["customers", "subscriptions"])
    blocked = seen.keep(rows(admin_web, conn, "subscriptions"))
    assert blocked.status_code == 422
    assert "Read Subscriptions" in blocked.json()["fix"]
    assert seen.keep(rows(admin_web, conn, "customers")).json()["total"] > 0
    assert problems_of(seen, conn)[0]["kind"] == "missing_resource"
    seen.assert_no_key()


def test_no_data_in_one_mode_is_explained(admin_web: Web) -> None:
    seen = Seen(admin_web)
    # The tiny account's live mode has three customers and one charge, nothing else.
    conn = connect(admin_web, name="Live", key=LIVE_KEY, objects=["customers", "invoices"])
    empty = seen.keep(rows(admin_web, conn, "invoices")).json()
    assert empty["total"] == 0
    assert empty["problem"]["kind"] == "no_data_in_mode"
    assert empty["problem"]["message"] == "This dataset has no records in live mode."
    assert empty["problem"]["fix"] == NO_DATA_EXPLAINED
    some = seen.keep(rows(admin_web, conn, "customers")).json()
    assert some["total"] == 3
    assert some["problem"] is None

    seen.api("PATCH", f"/api/v1/connections/{conn}", {"refresh": "1h"})
    assert refresh_now(admin_web, conn)["state"] == "ok"
    datasets = seen.api("GET", f"/api/v1/connections/{conn}/datasets").json()["datasets"]
    by_name = {d["name"]: d for d in datasets}
    assert by_name["invoices"]["rows"] == 0
    assert by_name["invoices"]["problem"]["kind"] == "no_data_in_mode"
    assert by_name["customers"]["problem"] is None
    assert "No data in one mode" in seen.page(f"/data/{conn}").text
    seen.assert_no_key()
