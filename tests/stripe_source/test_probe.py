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
from flitch.errors import StripeUnavailable
from flitch.keys import Mode, parse_key
from flitch.stripe_source.probe import (
    AuthState,
    Outcome,
    ReadState,
    probe,
)


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
