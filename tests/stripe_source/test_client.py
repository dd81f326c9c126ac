"""The read-only client: pinned version, GET-only seam, error translation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import stripe

from flitch.config import Settings
from flitch.errors import WriteRefused
from flitch.keys import parse_key
from flitch.stripe_source.client import (
    API_VERSION,
    GetOnlyHTTPClient,
    endpoint_of,
    open_client,
    refuse_unless_get,
)

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


def write_attempts(client: Any) -> list[tuple[str, Any]]:
    """Every public way to ask for a write, as (name, callable returning a value or awaitable)."""
    sdk = client.sdk
    http = client.http_client
    url = NOWHERE.stripe_api_base + "/v1/customers"
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
                f"httpx async client {method}",
                lambda m=method: http._client_async.request(m, url, content=b"x"),
            ),
            (f"httpx sync client {method}", lambda m=method: http._client.request(m, url)),
        ]
    return attempts


def test_every_write_path_is_refused_before_sending() -> None:
    client = open_client(parse_key(KEY), NOWHERE)

    async def main() -> None:
        async def call(attempt: Any) -> None:
            result = attempt()
            if asyncio.iscoroutine(result):
                await result

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
        with pytest.raises(httpx.ConnectError):
            await client.http_client._client_async.get(NOWHERE.stripe_api_base + "/v1/customers")

    try:
        asyncio.run(main())
    finally:
        asyncio.run(client.aclose())
