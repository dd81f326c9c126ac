"""Rate limits, the concurrency limit, latency and injected faults, seen through the SDK.

No timing assertions: the rate limiter is given a clock the test moves by hand (the server is
otherwise untouched), and latency is checked against the floor the server must respect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
import stripe

from flitch.emulator.limits import RateLimiter
from flitch.emulator.server import Emulator
from tests.conftest import LIVE_KEY, TEST_KEY, stripe_client, tiny_account


class HandClock:
    """Time for the rate limiter that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited(make_emulator: Callable[..., Emulator], **rates: float) -> tuple[Emulator, HandClock]:
    emu = make_emulator(tiny_account(), **rates)
    clock = HandClock()
    emu.app.limiter = RateLimiter(clock=clock)
    return emu, clock


def hammer(emu: Emulator, path: str, count: int, key: str = TEST_KEY) -> list[int]:
    with httpx.Client(base_url=emu.url, auth=(key, "")) as client:
        return [client.get(path).status_code for _ in range(count)]


def test_global_test_mode_limit_answers_429_rate_limit(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu, _ = limited(make_emulator, test_rps=2)
    client = stripe_client(emu.url)
    client.v1.customers.list({"limit": 1})
    client.v1.charges.list({"limit": 1})
    with pytest.raises(stripe.RateLimitError) as info:
        client.v1.coupons.list({"limit": 1})
    error = info.value.error
    assert info.value.http_status == 429
    assert error is not None
    assert (error.type, error.code) == ("invalid_request_error", "rate_limit")
    assert str(error.message).startswith("Request rate limit exceeded.")
    assert info.value.request_id is not None
    # the live mode has its own budget
    assert stripe_client(emu.url, LIVE_KEY).v1.customers.list({"limit": 1}) is not None


def test_a_burst_gets_one_seconds_worth_then_the_rate(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu, clock = limited(make_emulator, test_rps=5)
    assert hammer(emu, "/v1/customers?limit=1", 8) == [200] * 5 + [429] * 3
    clock.now += 0.5  # two and a half tokens
    assert hammer(emu, "/v1/customers?limit=1", 3) == [200, 200, 429]
    clock.now += 60  # never more than one second's worth
    assert hammer(emu, "/v1/customers?limit=1", 6) == [200] * 5 + [429]
    emu.config.test_rps = None  # changed at run time: unlimited
    assert hammer(emu, "/v1/customers?limit=1", 3) == [200] * 3


def test_per_endpoint_limit(make_emulator: Callable[..., Emulator]) -> None:
    emu, _ = limited(make_emulator, endpoint_rps=2)
    assert hammer(emu, "/v1/charges?limit=1", 4) == [200, 200, 429, 429]
    assert hammer(emu, "/v1/charges/ch_tiny1", 1) == [200]  # retrieve is another endpoint
    assert hammer(emu, "/v1/customers?limit=1", 1) == [200]  # so is another list
    assert hammer(emu, "/v1/charges?limit=1", 1, LIVE_KEY) == [200]  # and the other mode


def test_rate_limited_requests_are_logged(make_emulator: Callable[..., Emulator]) -> None:
    emu, _ = limited(make_emulator, test_rps=1)
    hammer(emu, "/v1/customers", 3)
    assert [(e.status, e.note) for e in emu.log.entries] == [
        (200, None),
        (429, "rate_limited"),
        (429, "rate_limited"),
    ]


def test_latency_is_added_and_requests_still_overlap(tiny_emulator: Emulator) -> None:
    tiny_emulator.config.latency_ms = 1000

    async def scenario() -> tuple[list[int], int]:
        async with httpx.AsyncClient(base_url=tiny_emulator.url, auth=(TEST_KEY, "")) as client:
            tasks = [asyncio.create_task(client.get("/v1/customers?limit=1")) for _ in range(3)]
            most = 0
            while not all(t.done() for t in tasks):
                most = max(most, tiny_emulator.app.in_flight.count)
                await asyncio.sleep(0.005)
            return [t.result().status_code for t in tasks], most

    statuses, most_at_once = asyncio.run(scenario())
    assert statuses == [200] * 3
    assert all(e.duration_ms >= 1000 for e in tiny_emulator.log.entries)
    assert most_at_once >= 2  # the sleep does not hold the server: others are answered meanwhile


def test_concurrency_limit(tiny_emulator: Emulator) -> None:
    tiny_emulator.config.latency_ms = 1500
    tiny_emulator.config.max_in_flight = 2

    async def scenario() -> tuple[list[int], httpx.Response]:
        async with httpx.AsyncClient(base_url=tiny_emulator.url, auth=(TEST_KEY, "")) as client:
            first = [asyncio.create_task(client.get("/v1/coupons")) for _ in range(2)]
            while tiny_emulator.app.in_flight.count < 2:  # both are being answered (sleeping)
                await asyncio.sleep(0.01)
            third = await client.get("/v1/coupons")
            return [r.status_code for r in await asyncio.gather(*first)], third

    admitted, refused = asyncio.run(scenario())
    assert admitted == [200, 200]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert [e.note for e in tiny_emulator.log.entries if e.status == 429] == ["concurrency_limited"]
    assert tiny_emulator.app.in_flight.count == 0


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
