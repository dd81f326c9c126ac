"""The connection test (probe): what a key can read, object by object, over real HTTP.

Most tests run the probe through the real client against the emulator. Two properties of the
probe itself — that every request is in flight at once, and which parameters it sends — are
checked with a small in-process ``Getter`` that records calls, because they are about the
probe's own scheduling rather than about Stripe's answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from flitch import catalog
from flitch.config import Settings
from flitch.emulator.server import Emulator
from flitch.errors import StripeUnavailable
from flitch.keys import Mode, parse_key
from flitch.stripe_source.client import open_client
from flitch.stripe_source.pacing import Backoff
from flitch.stripe_source.probe import (
    AuthState,
    Outcome,
    ProbeReport,
    ReadState,
    probe,
    run_probe,
)
from tests.conftest import LIMITED_KEY, LIVE_KEY, REVOKED_KEY, TEST_KEY


class Gate:
    """A getter that answers nobody until ``expected`` requests are waiting at once."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.waiting = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.open = asyncio.Event()

    async def get(self, path: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append((path, dict(params)))
        self.waiting += 1
        if self.waiting == self.expected:
            self.open.set()
        # A probe that asked one at a time would wait here forever: fail after 5 s instead.
        await asyncio.wait_for(self.open.wait(), timeout=5)
        return {"object": "list", "data": [], "has_more": False}


def test_every_request_is_in_flight_at_once() -> None:
    gate = Gate(len(catalog.OBJECTS) + 1)
    report = asyncio.run(probe(gate, catalog.OBJECTS))
    assert report.requests == len(gate.calls) == 13
    assert report.ok


def test_one_record_per_object_with_the_first_list_variant() -> None:
    gate = Gate(len(catalog.OBJECTS) + 1)
    asyncio.run(probe(gate, catalog.OBJECTS))
    sent = dict(gate.calls)
    assert set(sent) == {o.list_path for o in catalog.OBJECTS} | {catalog.EVENTS_PATH}
    assert all(params["limit"] == 1 for params in sent.values())
    assert sent["/v1/subscriptions"] == {"limit": 1, "status": "all"}
    assert sent["/v1/prices"] == {"limit": 1, "active": "true"}
    assert sent["/v1/customers"] == {"limit": 1}


def test_without_events_one_request_per_object() -> None:
    chosen = (catalog.get("customers"), catalog.get("charges"))
    gate = Gate(2)
    report = asyncio.run(probe(gate, chosen, include_events=False))
    assert [path for path, _ in gate.calls] == ["/v1/customers", "/v1/charges"]
    assert report.events.state is ReadState.NOT_CHECKED
    assert [o.name for o in report.objects] == ["customers", "charges"]


class Unreachable:
    async def get(self, path: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        raise StripeUnavailable(f"Stripe could not be reached for {path}.", "Check the network.")


def test_mode_comes_from_the_key_and_json_round_trips() -> None:
    key = parse_key("rk_live_" + "a1B2" * 10)
    report = asyncio.run(probe(Gate(1), (catalog.get("coupons"),), include_events=False, key=key))
    assert report.mode is Mode.LIVE
    assert report.key == key.masked
    data = json.loads(json.dumps(report.to_dict()))
    assert data["mode"] == "live"
    assert data["objects"][0]["state"] == "empty"
    assert "rk_test_" in data["objects"][0]["fix"]
    assert key.secret not in json.dumps(data)


def test_fake_unreachable_server_is_told_apart_from_a_refused_key() -> None:
    report = asyncio.run(probe(Unreachable(), catalog.OBJECTS[:2]))
    assert report.authentication.state is AuthState.UNKNOWN
    assert report.outcome is Outcome.UNREACHABLE
    assert not report.ok


# -- over real HTTP, against the emulator ------------------------------------------------------

FAST = Backoff(base=0.01, cap=0.05, floor=0.0)


def probe_over_http(emu: Emulator, key: str, **kw: Any) -> ProbeReport:
    settings = Settings(stripe_api_base=emu.url)
    return asyncio.run(run_probe(parse_key(key), settings, **kw))


def test_a_full_key_on_the_tiny_account(tiny_emulator: Emulator) -> None:
    report = probe_over_http(tiny_emulator, TEST_KEY)
    assert report.ok
    assert report.outcome is Outcome.OK
    assert report.mode is Mode.TEST
    assert report.key == parse_key(TEST_KEY).masked
    assert all(o.state is ReadState.READABLE for o in report.objects), report.summary
    assert report.events.readable
    entries = tiny_emulator.log.entries
    assert len(entries) == report.requests == len(catalog.OBJECTS) + 1
    assert {e.method for e in entries} == {"GET"}
    json.dumps(report.to_dict())


def test_live_key_sees_only_live_data(tiny_emulator: Emulator) -> None:
    report = probe_over_http(tiny_emulator, LIVE_KEY)
    states = {o.name: o.state for o in report.objects}
    assert states["customers"] is ReadState.READABLE
    assert states["charges"] is ReadState.READABLE
    assert states["invoices"] is ReadState.EMPTY
    invoices = next(o for o in report.objects if o.name == "invoices")
    assert "no invoices in live mode" in invoices.message
    assert "rk_test_" in invoices.fix
    assert report.ok  # empty is readable: the key itself is fine


def test_limited_key(tiny_emulator: Emulator) -> None:
    report = probe_over_http(tiny_emulator, LIMITED_KEY)
    assert report.outcome is Outcome.PERMISSION_MISSING
    assert [o.name for o in report.missing] == ["subscriptions"]
    missing = report.missing[0]
    assert missing.permission_label == "Read Subscriptions"
    assert missing.fix == (
        "Grant Read Subscriptions on the key: in Stripe, edit the key and add the permission."
    )
    assert missing.request_id
    assert report.events.state is ReadState.MISSING_PERMISSION
    assert "incremental" in report.events.fix
    assert len(tiny_emulator.log.entries) == 13


def test_revoked_and_unknown_keys(tiny_emulator: Emulator) -> None:
    revoked = probe_over_http(tiny_emulator, REVOKED_KEY)
    assert revoked.outcome is Outcome.AUTHENTICATION_FAILED
    assert revoked.authentication.expired
    assert revoked.authentication.fix == (
        "The key was deleted or rolled in Stripe. Create a new restricted key and update the "
        "connection."
    )
    assert all(o.state is ReadState.NOT_CHECKED for o in revoked.objects)
    unknown = probe_over_http(tiny_emulator, "rk_live_" + "Z9" * 20)
    assert unknown.outcome is Outcome.AUTHENTICATION_FAILED
    assert not unknown.authentication.expired
    assert unknown.authentication.message != revoked.authentication.message


def test_a_failing_server_is_unreachable_not_unauthorised(tiny_emulator: Emulator) -> None:
    tiny_emulator.config.fault_rate = 1.0
    tiny_emulator.config.fault_kinds = ("error",)
    settings = Settings(stripe_api_base=tiny_emulator.url, max_retries=1)

    async def go() -> ProbeReport:
        async with open_client(parse_key(TEST_KEY), settings, backoff=FAST) as client:
            return await probe(client, catalog.OBJECTS[:3], include_events=False)

    report = asyncio.run(go())
    assert report.authentication.state is AuthState.UNKNOWN
    assert report.outcome is Outcome.UNREACHABLE
    assert all(o.state is ReadState.ERROR and o.retriable for o in report.objects)
    # one request per object, each tried twice (once plus one retry) by the client
    assert len(tiny_emulator.log.entries) == 3 * 2


def test_nothing_listening() -> None:
    settings = Settings(stripe_api_base="http://127.0.0.1:9", max_retries=0)

    async def go() -> ProbeReport:
        async with open_client(parse_key(TEST_KEY), settings, backoff=FAST) as client:
            return await probe(client, catalog.OBJECTS[:2])

    report = asyncio.run(go())
    assert report.outcome is Outcome.UNREACHABLE
    assert "could not be reached" in report.summary


def test_testing_nothing_claims_nothing() -> None:
    report = asyncio.run(probe(Gate(0), (), include_events=False))
    assert report.requests == 0
    assert report.authentication.state is AuthState.UNKNOWN
    assert not report.ok
