"""The read-only rule, the request log and the loopback admin API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe

from flitch.emulator.server import Emulator
from tests.conftest import SECRET_KEY, TEST_KEY, fresh_account, stripe_client, tiny_account


def admin(emu: Emulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, emu.url + "/_emulator/" + path, **kwargs)


# -- read-only ---------------------------------------------------------------------------------
def test_writes_are_refused_and_logged(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    with pytest.raises(stripe.PermissionError) as info:
        client.v1.customers.create({"email": "new@example.com"})
    assert "rak_customer_write" in str(info.value.user_message)
    assert tiny_emulator.account.test.count("customer") == 11  # nothing was written
    secret = httpx.delete(tiny_emulator.url + "/v1/customers/cus_tiny01", auth=(SECRET_KEY, ""))
    assert secret.status_code == 405
    assert "read-only" in secret.json()["error"]["message"]
    put = httpx.put(tiny_emulator.url + "/v1/charges", auth=(TEST_KEY, ""))
    assert put.status_code == 403
    entries = tiny_emulator.log.entries
    assert [(e.method, e.path, e.note) for e in entries] == [
        ("POST", "/v1/customers", "read_only"),
        ("DELETE", "/v1/customers/cus_tiny01", "read_only"),
        ("PUT", "/v1/charges", "read_only"),
    ]
    assert tiny_emulator.log.methods() == {"POST", "DELETE", "PUT"}


def test_a_reading_client_leaves_only_gets_in_the_log(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    list(client.v1.invoices.list({"limit": 2}).auto_paging_iter())
    client.v1.customers.retrieve("cus_tiny01")
    assert tiny_emulator.log.methods() == {"GET"}
    assert tiny_emulator.log.paths()[-1] == "/v1/customers/cus_tiny01"
    assert "limit=2" in tiny_emulator.log.entries[0].query


# -- the request log over HTTP -----------------------------------------------------------------
def test_request_log_over_http(tiny_emulator: Emulator) -> None:
    stripe_client(tiny_emulator.url).v1.coupons.list()
    httpx.get(tiny_emulator.url + "/v1/coupons")
    entries = admin(tiny_emulator, "GET", "requests").json()["data"]
    assert [(e["path"], e["status"], e["key_last4"]) for e in entries] == [
        ("/v1/coupons", 200, TEST_KEY[-4:]),
        ("/v1/coupons", 401, None),
    ]
    assert entries[0]["request_id"].startswith("req_")
    assert admin(tiny_emulator, "GET", "requests").json()["data"] == entries  # admin not logged
    assert admin(tiny_emulator, "DELETE", "requests").json() == {"cleared": 2}
    assert tiny_emulator.log.entries == []


def test_summary_counts_what_is_served(tiny_emulator: Emulator) -> None:
    summary = admin(tiny_emulator, "GET", "summary").json()
    assert summary["account"] == tiny_emulator.account.id
    assert summary["modes"]["test"]["customer"] == 11
    assert summary["modes"]["live"] == {"charge": 1, "customer": 3}
    assert all("*" in k["key"] for k in summary["keys"])
    assert TEST_KEY not in str(summary)


def test_config_can_be_changed_over_http(tiny_emulator: Emulator) -> None:
    changed = admin(tiny_emulator, "POST", "config", json={"latency_ms": 5, "test_rps": 3})
    assert changed.status_code == 200
    assert changed.json()["latency_ms"] == 5
    assert tiny_emulator.config.test_rps == 3
    assert admin(tiny_emulator, "POST", "config", json={"speed": 1}).status_code == 400
    assert admin(tiny_emulator, "POST", "config", json={"fault_rate": "x"}).status_code == 400
    admin(tiny_emulator, "POST", "config", json={"revoke": [TEST_KEY]})
    with pytest.raises(stripe.AuthenticationError):
        stripe_client(tiny_emulator.url).v1.coupons.list()


def test_unknown_admin_routes_say_what_exists(tiny_emulator: Emulator) -> None:
    response = admin(tiny_emulator, "GET", "nothing")
    assert response.status_code == 404
    assert "/_emulator/summary" in response.json()["error"]["message"]


def test_the_admin_api_only_answers_this_machine(tiny_emulator: Emulator) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/_emulator/requests",
        "query_string": b"",
        "headers": [],
        "client": ("192.0.2.7", 50000),
    }
    asyncio.run(tiny_emulator.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 403


# -- changes while it runs ---------------------------------------------------------------------
@pytest.fixture
def changing(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator(fresh_account(customers=20))


def change(emu: Emulator, kind: str, count: int) -> list[dict[str, Any]]:
    response = admin(emu, "POST", "changes", json={"mode": "test", "kind": kind, "count": count})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


def test_admin_changes_appear_in_lists_and_events(changing: Emulator) -> None:
    client = stripe_client(changing.url)
    before = {e.id for e in client.v1.events.list({"limit": 100}).auto_paging_iter()}
    events = change(changing, "new_charge", 3)
    charges = [e["data"]["object"]["id"] for e in events if e["type"] == "charge.succeeded"]
    assert len(charges) == 3
    newest = [c.id for c in client.v1.charges.list({"limit": 3}).data]
    assert sorted(newest) == sorted(charges)  # made now: at the top of the list
    listed = [e.id for e in client.v1.events.list({"limit": 100}).auto_paging_iter()]
    assert set(listed) - before == {e["id"] for e in events}
    succeeded = client.v1.events.list({"type": "charge.succeeded", "limit": 3})
    assert {e.id for e in succeeded} == {e["id"] for e in events if e["type"] == "charge.succeeded"}

    refunded = change(changing, "refund", 1)
    charge_id = next(e for e in refunded if e["type"] == "charge.refunded")["data"]["object"]["id"]
    assert client.v1.charges.retrieve(charge_id).refunded is True

    deleted = change(changing, "delete_customer", 1)
    gone = next(e for e in deleted if e["type"] == "customer.deleted")["data"]["object"]["id"]
    assert gone not in {c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()}
    assert client.v1.customers.retrieve(gone).to_dict() == {
        "id": gone,
        "object": "customer",
        "deleted": True,
    }


def test_admin_changes_refuse_unknown_kinds(changing: Emulator) -> None:
    response = admin(changing, "POST", "changes", json={"kind": "earthquake"})
    assert response.status_code == 400
    assert "choose one of" in response.json()["error"]["message"]
    assert admin(changing, "POST", "changes", json={"kind": "mix", "mode": "x"}).status_code == 400


def test_python_api_changes(changing: Emulator) -> None:
    events = changing.apply_changes("mix", 3)
    assert events
    ids = {e.id for e in stripe_client(changing.url).v1.events.list({"limit": 100}).data}
    assert {e["id"] for e in events} <= ids


def test_tiny_account_is_served_read_only_by_default() -> None:
    account = tiny_account()
    with Emulator(account) as emu:  # Stripe's default limits and the demo keys
        assert emu.config.test_rps == 25
        assert httpx.get(emu.url + "/v1/coupons", auth=(TEST_KEY, "")).status_code == 200
