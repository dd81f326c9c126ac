"""Keys and permissions over HTTP, as the stripe SDK sees them."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest
import stripe

from flitch.emulator.auth import READ_PERMISSIONS, mask_key
from flitch.emulator.server import Emulator
from tests.conftest import (
    LIMITED_KEY,
    PUBLISHABLE_KEY,
    REVOKED_KEY,
    SECRET_KEY,
    TEST_KEY,
    stripe_client,
    tiny_account,
)

UNKNOWN_KEY = "rk_test_51SomeoneElsesKeyNotConfiguredWxyz"


def test_invalid_key_is_a_401(tiny_emulator: Emulator) -> None:
    with pytest.raises(stripe.AuthenticationError) as info:
        stripe_client(tiny_emulator.url, UNKNOWN_KEY).v1.customers.list()
    error = info.value.error
    assert info.value.http_status == 401
    assert error is not None
    assert error.type == "invalid_request_error"
    assert error.code is None
    assert error.message == f"Invalid API Key provided: {mask_key(UNKNOWN_KEY)}"
    assert str(error.message).startswith("Invalid API Key provided: rk_test_***")
    assert str(error.message).endswith("Wxyz")
    assert UNKNOWN_KEY not in str(error.message)


def test_expired_key_is_a_401_api_key_expired(tiny_emulator: Emulator) -> None:
    with pytest.raises(stripe.AuthenticationError) as info:
        stripe_client(tiny_emulator.url, REVOKED_KEY).v1.charges.list()
    assert info.value.error is not None
    assert info.value.error.code == "api_key_expired"
    assert str(info.value.error.message).startswith("Expired API Key provided: rk_test_***")
    assert info.value.request_id is not None
    assert info.value.request_id.startswith("req_")


def test_revoking_a_key_while_running(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url, TEST_KEY)
    client.v1.customers.list({"limit": 1})
    tiny_emulator.config.revoked_keys.add(TEST_KEY)
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list({"limit": 1})


def test_no_key_is_a_401(tiny_emulator: Emulator) -> None:
    response = httpx.get(tiny_emulator.url + "/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You did not provide an API key.")


@pytest.mark.parametrize("endpoint", sorted(READ_PERMISSIONS))
def test_each_missing_permission_is_a_403_naming_it(
    make_emulator: Callable[..., Emulator], endpoint: str
) -> None:
    others = frozenset(READ_PERMISSIONS) - {endpoint}
    emu = make_emulator(tiny_account(), keys={UNKNOWN_KEY: others})
    client = stripe_client(emu.url, UNKNOWN_KEY)
    with pytest.raises(stripe.PermissionError) as info:
        getattr(client.v1, endpoint).list({"limit": 1})
    error = info.value.error
    assert info.value.http_status == 403
    assert error is not None
    assert error.type == "invalid_request_error"
    assert error.code is None
    assert error.message == (
        f"The provided key '{mask_key(UNKNOWN_KEY)}' does not have the required permissions for "
        f"this endpoint on account '{emu.account.id}'. Having the '{READ_PERMISSIONS[endpoint]}' "
        "permission would allow this request to continue."
    )
    other = next(iter(sorted(others)))
    getattr(client.v1, other).list({"limit": 1})  # what it was granted still works


def test_the_limited_demo_key(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url, LIMITED_KEY)
    assert client.v1.customers.list({"limit": 1}).data
    for endpoint, permission in [
        ("subscriptions", "rak_subscription_read"),
        ("events", "rak_event_read"),
    ]:
        with pytest.raises(stripe.PermissionError) as info:
            getattr(client.v1, endpoint).list()
        assert permission in str(info.value.user_message)
    with pytest.raises(stripe.PermissionError):
        client.v1.subscriptions.retrieve("sub_tiny0")


def test_secret_keys_work_as_full_keys(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url, SECRET_KEY)
    assert client.v1.subscriptions.list({"limit": 1}).data


def test_publishable_keys_cannot_list(tiny_emulator: Emulator) -> None:
    with pytest.raises(stripe.PermissionError) as info:
        stripe_client(tiny_emulator.url, PUBLISHABLE_KEY).v1.customers.list()
    assert "publishable API key" in str(info.value.user_message)


def test_basic_auth_with_the_key_as_user(tiny_emulator: Emulator) -> None:
    response = httpx.get(tiny_emulator.url + "/v1/customers?limit=1", auth=(TEST_KEY, ""))
    assert response.status_code == 200
    token = base64.b64encode(f"{LIMITED_KEY}:".encode()).decode()
    response = httpx.get(
        tiny_emulator.url + "/v1/events", headers={"Authorization": f"Basic {token}"}
    )
    assert response.status_code == 403


def test_every_response_has_a_request_id_and_version(tiny_emulator: Emulator) -> None:
    ok = httpx.get(tiny_emulator.url + "/v1/coupons", auth=(TEST_KEY, ""))
    refused = httpx.get(tiny_emulator.url + "/v1/coupons")
    pinned = httpx.get(
        tiny_emulator.url + "/v1/coupons",
        auth=(TEST_KEY, ""),
        headers={"Stripe-Version": "2025-03-31.basil"},
    )
    ids = {r.headers["request-id"] for r in (ok, refused, pinned)}
    assert len(ids) == 3
    assert all(i.startswith("req_") and len(i) == 18 for i in ids)
    assert ok.headers["stripe-version"] == tiny_emulator.config.api_version
    assert pinned.headers["stripe-version"] == "2025-03-31.basil"
    assert refused.headers["content-type"] == "application/json"


def test_the_log_keeps_only_the_last_four_of_a_key(tiny_emulator: Emulator) -> None:
    stripe_client(tiny_emulator.url, TEST_KEY).v1.customers.list()
    with pytest.raises(stripe.AuthenticationError):
        stripe_client(tiny_emulator.url, UNKNOWN_KEY).v1.customers.list()
    entries = tiny_emulator.log.entries
    assert [e.key_last4 for e in entries] == [TEST_KEY[-4:], "Wxyz"]
    assert [e.status for e in entries] == [200, 401]
    assert [e.mode for e in entries] == ["test", None]
    assert all(TEST_KEY not in repr(e) and UNKNOWN_KEY not in repr(e) for e in entries)
