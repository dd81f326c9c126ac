"""Rate limits, the concurrency limit, latency and injected faults, seen through the SDK.

No timing assertions: rates are set so low that the outcome does not depend on how fast the
machine is (a bucket of 2 tokens refilling at 0.01/s), and latency is checked against the
lower bound the server itself must respect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
import stripe

from flitch.emulator.server import Emulator
from tests.conftest import LIVE_KEY, TEST_KEY, stripe_client, tiny_account

SLOW = 0.01  # one token per hundred seconds: no refill within a test


def hammer(emu: Emulator, path: str, count: int, key: str = TEST_KEY) -> list[int]:
    with httpx.Client(base_url=emu.url, auth=(key, "")) as client:
        return [client.get(path).status_code for _ in range(count)]


def test_global_test_mode_limit_answers_429_rate_limit(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(tiny_account(), test_rps=2)
    client = stripe_client(emu.url)
    client.v1.customers.list({"limit": 1})
    client.v1.charges.list({"limit": 1})
    emu.config.test_rps = SLOW
    with pytest.raises(stripe.RateLimitError) as info:
        client.v1.coupons.list({"limit": 1})
    error = info.value.error
    assert info.value.http_status == 429
    assert error is not None
    assert (error.type, error.code) == ("invalid_request_error", "rate_limit")
    assert str(error.message).startswith("Request rate limit exceeded.")
    # the live mode has its own budget
    assert stripe_client(emu.url, LIVE_KEY).v1.customers.list({"limit": 1}) is not None


def test_a_burst_gets_one_seconds_worth(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(tiny_account(), test_rps=5)
    emu.app.limiter.reset()
    emu.config.test_rps = 5
    statuses = hammer(emu, "/v1/customers?limit=1", 5)
    emu.config.test_rps = SLOW  # the bucket is empty; nothing refills during the rest
    statuses += hammer(emu, "/v1/customers?limit=1", 3)
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3


def test_per_endpoint_limit(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(tiny_account(), endpoint_rps=2)
    emu.config.endpoint_rps = 2
    statuses = hammer(emu, "/v1/charges?limit=1", 2)
    emu.config.endpoint_rps = SLOW
    statuses += hammer(emu, "/v1/charges?limit=1", 2)
    assert statuses == [200, 200, 429, 429]
    assert hammer(emu, "/v1/customers?limit=1", 1) == [200]  # a fresh endpoint has its tokens


def test_rate_limited_requests_are_logged(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(tiny_account(), test_rps=1)
    hammer(emu, "/v1/customers", 1)
    emu.config.test_rps = SLOW
    hammer(emu, "/v1/customers", 2)
    assert [(e.status, e.note) for e in emu.log.entries] == [
        (200, None),
        (429, "rate_limited"),
        (429, "rate_limited"),
    ]


def test_latency_is_added_and_requests_still_overlap(tiny_emulator: Emulator) -> None:
    tiny_emulator.config.latency_ms = 800

    async def many() -> list[int]:
        async with httpx.AsyncClient(base_url=tiny_emulator.url, auth=(TEST_KEY, "")) as client:
            responses = await asyncio.gather(
                *(client.get("/v1/customers?limit=1") for _ in range(6))
            )
        return [r.status_code for r in responses]

    assert asyncio.run(many()) == [200] * 6
    entries = sorted(tiny_emulator.log.entries, key=lambda e: e.time)
    assert all(e.duration_ms >= 800 for e in entries)
    # the sleep does not block the server: the second request arrived before the first was done
    assert entries[1].time < entries[0].time + entries[0].duration_ms / 1000


def test_concurrency_limit(tiny_emulator: Emulator) -> None:
    tiny_emulator.config.latency_ms = 1000
    tiny_emulator.config.max_in_flight = 2

    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=tiny_emulator.url, auth=(TEST_KEY, "")) as client:
            return list(await asyncio.gather(*(client.get("/v1/coupons") for _ in range(5))))

    responses = asyncio.run(many())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) >= 2  # two admitted while they sleep…
    assert statuses.count(429) >= 1  # …and whoever came meanwhile refused
    assert set(statuses) == {200, 429}
    refused = next(r for r in responses if r.status_code == 429).json()["error"]
    assert (refused["type"], refused["code"]) == ("invalid_request_error", "rate_limit")
    notes = {e.note for e in tiny_emulator.log.entries if e.status == 429}
    assert notes == {"concurrency_limited"}


def test_injected_500s_are_api_errors(tiny_emulator: Emulator) -> None:
    tiny_emulator.config.fault_rate = 1.0
    tiny_emulator.config.fault_kinds = ("error",)
    with pytest.raises(stripe.APIError) as info:
        stripe_client(tiny_emulator.url).v1.customers.list()
    assert info.value.http_status == 500
    assert info.value.error is not None
    assert info.value.error.type == "api_error"
    assert tiny_emulator.log.entries[-1].note == "fault:error"


def test_dropped_connections_are_network_errors(tiny_emulator: Emulator) -> None:
    tiny_emulator.config.fault_rate = 1.0
    tiny_emulator.config.fault_kinds = ("drop",)
    with pytest.raises(stripe.APIConnectionError):
        stripe_client(tiny_emulator.url).v1.customers.list({"limit": 100})
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(tiny_emulator.url + "/v1/customers?limit=100", auth=(TEST_KEY, ""))
    assert {e.note for e in tiny_emulator.log.entries} == {"fault:drop"}
    tiny_emulator.config.fault_rate = 0.0
    assert stripe_client(tiny_emulator.url).v1.customers.list().data  # and it serves on


def outcomes(emu: Emulator, seed: int) -> list[int | str]:
    emu.config.fault_rate = 0.3
    emu.config.seed = seed
    results: list[int | str] = []
    with httpx.Client(base_url=emu.url, auth=(TEST_KEY, "")) as client:
        for _ in range(40):
            try:
                results.append(client.get("/v1/coupons").status_code)
            except httpx.TransportError:
                results.append("drop")
    return results


def test_faults_are_deterministic_under_a_seed(make_emulator: Callable[..., Emulator]) -> None:
    first = outcomes(make_emulator(tiny_account()), seed=7)
    again = outcomes(make_emulator(tiny_account()), seed=7)
    other = outcomes(make_emulator(tiny_account()), seed=8)
    assert first == again
    assert first != other
    assert {200, 500, "drop"} <= set(first)
