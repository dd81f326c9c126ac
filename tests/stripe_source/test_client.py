"""The read-only client: pinned version, GET-only seam, error translation."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import stripe

from flitch import catalog
from flitch.config import Settings
from flitch.emulator.auth import DEMO_LIMITED_KEY, DEMO_REVOKED_KEY, DEMO_TEST_KEY
from flitch.emulator.store import Account
from flitch.errors import (
    AuthenticationFailed,
    PermissionMissing,
    RateLimited,
    StripeRequestFailed,
    StripeUnavailable,
    WriteRefused,
)
from flitch.keys import parse_key
from flitch.stripe_source.client import (
    API_VERSION,
    GetOnlyHTTPClient,
    SourceClient,
    advise,
    endpoint_of,
    open_client,
    refuse_unless_get,
    translate,
)
from flitch.stripe_source.pacing import RetryAdvice, RetryKind
from tests.stripe_source.emulated import FAST_BACKOFF, client_for, put_customers, run, serving

KEY = "rk_test_51FlitchUnitTestKeyThatIsLongEnough0001"
# Nothing listens on port 9: were a write to get past the guard, it would fail differently.
NOWHERE = Settings(stripe_api_base="http://127.0.0.1:9", max_retries=0)


def test_api_version_is_pinned_to_the_installed_sdk() -> None:
    assert stripe.api_version == API_VERSION


def test_only_get_passes_the_guard() -> None:
    refuse_unless_get("GET", "/v1/customers")
    refuse_unless_get("get", "https://api.stripe.com/v1/customers?limit=1")
    for method in ("POST", "post", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", " POST "):
        with pytest.raises(WriteRefused) as info:
            refuse_unless_get(method, "https://api.stripe.com/v1/customers?email=x")
        assert "nothing was sent" in info.value.message
        assert info.value.fix


def test_endpoint_buckets() -> None:
    assert endpoint_of("/v1/customers") == "/v1/customers"
    assert endpoint_of("/v1/customers/") == "/v1/customers"
    assert endpoint_of("/v1/customers/cus_123") == "/v1/customers/{id}"
    assert endpoint_of("/v1/charges?limit=1") == "/v1/charges"


def test_repr_masks_the_key() -> None:
    client = open_client(parse_key(KEY), NOWHERE)
    try:
        assert KEY not in repr(client)
        assert KEY[-4:] in repr(client)
    finally:
        asyncio.run(client.aclose())


def test_sdk_client_is_configured_without_globals() -> None:
    client = open_client(parse_key(KEY), NOWHERE)
    try:
        assert stripe.api_key is None
        options = client.sdk._requestor._options
        assert options.stripe_version == API_VERSION
        assert options.max_network_retries == 0
        assert options.base_addresses["api"] == NOWHERE.stripe_api_base
        assert isinstance(client.sdk._requestor._client, GetOnlyHTTPClient)
    finally:
        asyncio.run(client.aclose())


async def call(attempt: Any) -> None:
    result = attempt()
    if asyncio.iscoroutine(result):
        await result


def write_attempts(client: Any, base: str = NOWHERE.stripe_api_base) -> list[tuple[str, Any]]:
    """Every public way to ask for a write, as (name, callable returning a value or awaitable)."""
    sdk = client.sdk
    http = client.http_client
    url = base + "/v1/customers"
    headers = {"Authorization": f"Bearer {KEY}"}
    attempts: list[tuple[str, Any]] = [
        ("sdk.v1.customers.create", lambda: sdk.v1.customers.create({"email": "a@b.c"})),
        ("sdk.v1.customers.create_async", lambda: sdk.v1.customers.create_async({})),
        ("sdk.v1.customers.delete", lambda: sdk.v1.customers.delete("cus_1")),
        ("sdk.v1.customers.delete_async", lambda: sdk.v1.customers.delete_async("cus_1")),
        ("sdk.v1.customers.update", lambda: sdk.v1.customers.update("cus_1", {"name": "x"})),
        ("sdk.v1.refunds.create_async", lambda: sdk.v1.refunds.create_async({"charge": "ch_1"})),
        ("sdk.raw_request post", lambda: sdk.raw_request("post", "/v1/customers", name="x")),
        ("sdk.raw_request delete", lambda: sdk.raw_request("delete", "/v1/customers/cus_1")),
        ("sdk.raw_request_async post", lambda: sdk.raw_request_async("post", "/v1/customers")),
        ("sdk.raw_request_async delete", lambda: sdk.raw_request_async("delete", "/v1/c/1")),
    ]
    for method in ("POST", "DELETE", "PUT", "PATCH"):
        attempts += [
            (f"http.request {method}", lambda m=method: http.request(m, url, headers, "a=1")),
            (f"http.request_async {method}", lambda m=method: http.request_async(m, url, headers)),
            (f"http.request_stream {method}", lambda m=method: http.request_stream(m, url, {})),
            (
                f"http.request_stream_async {method}",
                lambda m=method: http.request_stream_async(m, url, headers),
            ),
            (
                f"http.request_with_retries {method}",
                lambda m=method: http.request_with_retries(m, url, headers, None, 3),
            ),
            (
                f"http.request_with_retries_async {method}",
                lambda m=method: http.request_with_retries_async(m, url, headers, None, 3),
            ),
            (
                f"http.request_stream_with_retries {method}",
                lambda m=method: http.request_stream_with_retries(m, url, headers),
            ),
            (
                f"http.request_stream_with_retries_async {method}",
                lambda m=method: http.request_stream_with_retries_async(m, url, headers),
            ),
            (
                f"aiohttp session {method}",
                lambda m=method: http.session().request(m, url, data=b"x"),
            ),
            (
                f"aiohttp session under the SDK {method}",
                lambda m=method: http._session.request(m, url),
            ),
        ]
    return attempts


def test_every_write_path_is_refused_before_sending() -> None:
    client = open_client(parse_key(KEY), NOWHERE)

    async def main() -> None:
        attempts = write_attempts(client)
        assert len(attempts) == 50
        for name, attempt in attempts:
            with pytest.raises(WriteRefused):
                await call(attempt)
            print("refused:", name)

    try:
        asyncio.run(main())
    finally:
        asyncio.run(client.aclose())


def test_a_get_is_let_through_to_the_network() -> None:
    # The counterpart of the test above: a GET reaches the (absent) server and fails there.
    client = open_client(parse_key(KEY), NOWHERE)

    async def main() -> None:
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.http_client.session().get(NOWHERE.stripe_api_base + "/v1/customers")

    try:
        asyncio.run(main())
    finally:
        asyncio.run(client.aclose())


# -- over HTTP, against the emulator -----------------------------------------------------------
def get_once(client: SourceClient, path: str, **params: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with client:
            return await client.get(path, params)

    return run(go)


def test_get_returns_the_parsed_page() -> None:
    account = Account()
    put_customers(account, [1_700_000_000 - i for i in range(5)])
    with serving(account) as emulator:
        page = get_once(client_for(emulator, DEMO_TEST_KEY), "/v1/customers", limit=2)
        [record] = emulator.log.entries
    assert page["object"] == "list"
    assert [o["id"] for o in page["data"]] == ["cus_T000000000", "cus_T000000001"]
    assert page["has_more"] is True
    assert type(page["data"][0]) is dict  # plain dicts (orjson), not OrderedDicts
    assert record.method == "GET"
    assert record.query == "limit=2"


def test_writes_through_every_path_reach_no_server() -> None:
    with serving(Account()) as emulator:
        client = client_for(emulator, DEMO_TEST_KEY)

        async def go() -> None:
            for name, attempt in write_attempts(client, emulator.url):
                with pytest.raises(WriteRefused):
                    await call(attempt)
                print("refused:", name)
            await client.aclose()

        run(go)
        assert emulator.log.entries == []


def test_invalid_key_says_it_is_not_recognised() -> None:
    unknown = "rk_test_51FlitchUnknownKeyNotOnTheEmulator0"
    with serving(Account()) as emulator:
        with pytest.raises(AuthenticationFailed) as info:
            get_once(client_for(emulator, unknown), "/v1/customers", limit=1)
        assert len(emulator.log.entries) == 1  # not retried
    error = info.value
    assert not error.expired
    assert "does not recognise" in error.message
    assert "rk_test_" in error.fix
    assert error.request_id
    assert error.request_id.startswith("req_")
    assert unknown not in str(error)
    assert unknown not in repr(error.to_dict())


def test_expired_key_says_to_create_a_new_one() -> None:
    with serving(Account()) as emulator, pytest.raises(AuthenticationFailed) as info:
        get_once(client_for(emulator, DEMO_REVOKED_KEY), "/v1/customers", limit=1)
    error = info.value
    assert error.expired
    assert error.fix == (
        "The key was deleted or rolled in Stripe. Create a new restricted key and update the "
        "connection."
    )
    assert DEMO_REVOKED_KEY not in str(error)


@pytest.mark.parametrize(
    ("path", "name", "permission", "label"),
    [
        ("/v1/subscriptions", "subscriptions", "rak_subscription_read", "Read Subscriptions"),
        ("/v1/events", "events", "rak_event_read", "Read Events"),
    ],
)
def test_missing_permission_names_the_object_and_the_label(
    path: str, name: str, permission: str, label: str
) -> None:
    with serving(Account()) as emulator:
        with pytest.raises(PermissionMissing) as info:
            get_once(client_for(emulator, DEMO_LIMITED_KEY), path, limit=1)
        assert len(emulator.log.entries) == 1
    error = info.value
    assert error.object_name == name
    assert (error.permission, error.permission_label) == (permission, label)
    assert f"grant {label} on" in error.fix
    assert error.request_id
    assert DEMO_LIMITED_KEY not in str(error)


def test_each_catalog_permission_maps_to_its_label() -> None:
    for spec in catalog.OBJECTS:
        exc = stripe.PermissionError(
            f"The provided key 'rk_test_***abcd' does not have the required permissions for "
            f"this endpoint on account 'acct_1'. Having the '{spec.permission}' permission would "
            "allow this request to continue.",
            http_status=403,
        )
        error = translate(
            exc, path="/v1/whatever", secret=KEY, attempts=1, settings=NOWHERE, mode="test"
        )
        assert isinstance(error, PermissionMissing)
        assert (error.object_name, error.permission_label) == (spec.name, spec.permission_label)


def test_a_429_storm_is_retried_then_raises_rate_limited_with_a_fix() -> None:
    with serving(Account(), test_rps=0.001) as emulator:
        client = client_for(emulator, DEMO_TEST_KEY, max_retries=4)

        async def go() -> None:
            async with client:
                await client.get("/v1/customers", {"limit": 1})  # the bucket's one token
                await client.get("/v1/customers", {"limit": 1})

        with pytest.raises(RateLimited) as info:
            run(go)
        statuses = [r.status for r in emulator.log.entries]
    # then a bucket of 0.001 requests per second has no whole token again: only 429s
    assert statuses == [200] + [429] * 5
    assert client.stats.retries == 4
    assert client.stats.rate_limited == 5
    assert "4 retries" in info.value.message
    assert "FLITCH_TEST_RPS" in info.value.fix
    assert info.value.retriable


def test_server_errors_are_retried_then_raise_unavailable() -> None:
    with serving(Account(), fault_rate=1.0, fault_kinds=("error",)) as emulator:
        with pytest.raises(StripeUnavailable) as info:
            get_once(client_for(emulator, DEMO_TEST_KEY, max_retries=2), "/v1/charges")
        assert len(emulator.log.entries) == 3
    assert "could not be reached" in info.value.message
    assert "HTTP 500" in info.value.message
    assert info.value.fix


def test_cut_connections_are_retried_then_raise_unavailable() -> None:
    with serving(Account(), fault_rate=1.0, fault_kinds=("drop",)) as emulator:
        with pytest.raises(StripeUnavailable):
            get_once(client_for(emulator, DEMO_TEST_KEY, max_retries=1), "/v1/charges")
        assert len(emulator.log.entries) == 2


def test_unreachable_server_raises_unavailable() -> None:
    client = open_client(parse_key(KEY), NOWHERE, backoff=FAST_BACKOFF)
    with pytest.raises(StripeUnavailable) as info:
        get_once(client, "/v1/customers")
    assert "no answer" in info.value.message


def test_a_bad_request_is_reported_as_a_bug_with_its_request_id() -> None:
    with serving(Account()) as emulator:
        with pytest.raises(StripeRequestFailed) as info:
            get_once(client_for(emulator, DEMO_TEST_KEY), "/v1/customers", limit=1000)
        assert len(emulator.log.entries) == 1
    assert "HTTP 400" in info.value.message
    assert info.value.request_id
    assert "report" in info.value.fix


def test_should_retry_false_is_honoured() -> None:
    exc = stripe.RateLimitError(
        "Too many", http_status=429, headers={"Stripe-Should-Retry": "false"}
    )
    assert advise(exc).kind is None
    error = translate(
        exc, path="/v1/charges", secret=KEY, attempts=1, settings=NOWHERE, mode="live"
    )
    assert isinstance(error, RateLimited)
    assert "asked not to retry" in error.message
    assert "FLITCH_LIVE_RPS" in error.fix


def test_should_retry_true_makes_other_errors_retriable() -> None:
    conflict = stripe.APIError("lock", http_status=409, headers={"Stripe-Should-Retry": "true"})
    assert advise(conflict).kind is RetryKind.UNAVAILABLE
    plain = stripe.InvalidRequestError("bad", param=None, http_status=400)
    assert advise(plain).kind is None
    limited = stripe.RateLimitError("slow", http_status=429, headers={"Retry-After": "2"})
    assert advise(limited) == RetryAdvice(RetryKind.RATE_LIMITED, 2.0)
