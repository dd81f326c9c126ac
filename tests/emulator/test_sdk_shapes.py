"""Every object the emulator serves fits the typed shapes the stripe SDK ships for the pinned
version: no field Stripe does not send, none it always sends missing, no value outside an
enumeration. The rules are ``sdk_shapes``' docstring; the objects come over real HTTP."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import httpx
import pytest
from stripe._subscription import Subscription

from flitch.emulator.changes import KINDS
from flitch.emulator.generator import REFERENCE_NOW
from flitch.emulator.server import Emulator
from flitch.emulator.shapes import API_VERSION
from tests.conftest import LIVE_KEY, TEST_KEY, fresh_account, generous_config
from tests.emulator.sdk_shapes import check, check_object, class_for, fields_of

Obj = dict[str, Any]

ENDPOINTS = (
    "customers",
    "charges",
    "payment_intents",
    "invoices",
    "subscriptions",
    "products",
    "prices",
    "payouts",
    "balance_transactions",
    "disputes",
    "credit_notes",
    "coupons",
    "events",
)
#: What a list hides unless asked: every object is read with and without it.
UNHIDE = {"subscriptions": "status=all", "prices": "active=false", "products": "active=false"}


def read_all(client: httpx.Client, endpoint: str, query: str = "") -> Iterator[Obj]:
    """Every object of a list, page by page (100 at a time)."""
    cursor = ""
    while True:
        response = client.get(f"/v1/{endpoint}?limit=100{'&' + query if query else ''}{cursor}")
        assert response.status_code == 200, response.text
        body = response.json()
        yield from body["data"]
        if not body["has_more"]:
            return
        cursor = f"&starting_after={body['data'][-1]['id']}"


def served(client: httpx.Client, endpoint: str) -> list[Obj]:
    objects = list(read_all(client, endpoint))
    if endpoint in UNHIDE:
        objects += read_all(client, endpoint, UNHIDE[endpoint])
    return objects


def event_problems(event: Obj, where: str) -> list[str]:
    """An event, its ``data.object`` (in the pinned version) and its previous attributes."""
    problems = check_object(event, where)
    if event.get("api_version") != API_VERSION:
        return problems  # rendered in an older version on purpose (``versions.py``)
    obj = event["data"]["object"]
    problems += check_object(obj, f"{where}.data.object")
    fields = fields_of(class_for(obj["object"]))
    for key in event["data"].get("previous_attributes") or {}:
        if key not in fields:
            problems.append(f"{where}.data.previous_attributes.{key}: unknown field")
    return problems


def problems_of(objects: list[Obj], endpoint: str) -> list[str]:
    problems: list[str] = []
    for obj in objects:
        where = f"{endpoint}:{obj['id']}"
        if obj.get("object") == "event":
            problems += event_problems(obj, where)
        else:
            problems += check_object(obj, where)
    return problems


def first(problems: list[str], n: int = 15) -> str:
    """The first few problems, one a line (the full list can run to thousands)."""
    return "\n".join(problems[:n]) + (f"\n… {len(problems) - n} more" if len(problems) > n else "")


class Changed(NamedTuple):
    url: str
    #: The events the changes created, as the admin API answered them.
    events: list[Obj]


@pytest.fixture(scope="module")
def changed() -> Iterator[Changed]:
    """An emulator on a fresh account after two changes of every kind (at a fixed "now")."""
    now = REFERENCE_NOW + 3600
    with Emulator(fresh_account(seed=11, customers=25), generous_config(now=now)) as emu:
        events: list[Obj] = []
        with httpx.Client(base_url=emu.url) as admin:
            for kind in KINDS:
                if kind == "mix":
                    continue
                response = admin.post("/_emulator/changes", json={"kind": kind, "count": 2})
                assert response.status_code == 200, response.text
                events += response.json()["data"]
        yield Changed(emu.url, events)


# -- the checker itself --------------------------------------------------------------------------
GOOD_COUPON: Obj = {
    "id": "coupon_x",
    "object": "coupon",
    "amount_off": None,
    "created": 1,
    "currency": None,
    "duration": "forever",
    "duration_in_months": None,
    "livemode": False,
    "max_redemptions": None,
    "metadata": {},
    "name": None,
    "percent_off": 10.0,
    "redeem_by": None,
    "times_redeemed": 0,
    "valid": True,
}


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        obj[path] = value

    return change


@pytest.mark.parametrize(
    ("change", "found"),
    [
        (_set("total_count", 3), "$.total_count: unknown field"),
        (lambda o: o.pop("valid"), "$.valid: missing (required)"),
        (lambda o: o.pop("name"), "$.name: missing (Stripe sends it, null or not)"),
        (_set("valid", None), "$.valid: null, but the field is not nullable"),
        (_set("duration", "sometimes"), "$.duration: 'sometimes' is not one of"),
        (_set("times_redeemed", True), "$.times_redeemed: expected an integer"),
        (_set("metadata", {"a": 1}), "$.metadata.a: expected a string"),
    ],
)
def test_the_checker_finds_each_kind_of_mistake(change: Callable[[Obj], None], found: str) -> None:
    assert check_object(GOOD_COUPON) == []
    obj = copy.deepcopy(GOOD_COUPON)
    change(obj)
    assert any(p.startswith(found) for p in check_object(obj)), check_object(obj)


def test_a_deleted_object_needs_only_its_id() -> None:
    assert check_object({"id": "coupon_x", "object": "coupon", "deleted": True}) == []
    assert check_object({"id": "coupon_x", "object": "coupon", "deleted": True, "x": 1}) == [
        "$.x: unknown field (not declared on Coupon)"
    ]


def test_the_checker_reads_nested_lists_and_objects() -> None:
    """An embedded list carries no ``total_count``; an embedded object is checked as one."""
    items = fields_of(Subscription)["items"]
    listing = {"object": "list", "data": [], "has_more": False, "url": "/v1/x", "total_count": 0}
    assert check(listing, items) == [
        "$.total_count: unknown field (a list carries object, data, has_more, url)"
    ]
    listing.pop("total_count")
    assert check(listing, items) == []
    listing["data"] = [{"object": "subscription_item", "id": "si_1"}]
    assert any(p.startswith("$.data[0].price: missing") for p in check(listing, items))


# -- what the emulator serves --------------------------------------------------------------------
@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY], ids=["test", "live"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_listed_object_fits_the_sdk(emulator: Emulator, endpoint: str, key: str) -> None:
    with httpx.Client(base_url=emulator.url, auth=(key, "")) as client:
        objects = served(client, endpoint)
    assert objects, f"the seeded account should have {endpoint}"
    problems = problems_of(objects, endpoint)
    assert not problems, first(problems)


def test_retrieved_objects_fit_the_sdk(emulator: Emulator) -> None:
    """The newest of each list, and what others name but lists leave out (a deleted customer,
    a test clock's subscription): retrieved one by one."""
    problems: list[str] = []
    with httpx.Client(base_url=emulator.url, auth=(TEST_KEY, "")) as client:
        listed = {ep: served(client, ep) for ep in ENDPOINTS}
        wanted = {(ep, objs[0]["id"]) for ep, objs in listed.items() if objs}
        ids = {o["id"] for objs in listed.values() for o in objs}
        for inv in listed["invoices"]:
            details = (inv["parent"] or {}).get("subscription_details") or {}
            for ep, named in (
                ("customers", inv["customer"]),
                ("subscriptions", details.get("subscription")),
            ):
                if named and named not in ids:
                    wanted.add((ep, named))
        assert any(ep == "customers" for ep, oid in wanted if oid not in ids), "none unlisted"
        for ep, oid in sorted(wanted):
            response = client.get(f"/v1/{ep}/{oid}")
            assert response.status_code == 200, response.text
            problems += problems_of([response.json()], ep)
    assert not problems, first(problems)


@pytest.mark.parametrize(
    ("endpoint", "expand"),
    [
        ("subscriptions", ["data.discounts"]),
        ("prices", ["data.tiers"]),
        ("invoices", ["data.discounts", "data.total_discount_amounts.discount"]),
        ("charges", ["data.balance_transaction", "data.payment_intent"]),
        ("subscriptions", ["data.items.data.price.product", "data.customer"]),
    ],
)
def test_expanded_objects_fit_the_sdk(emulator: Emulator, endpoint: str, expand: list[str]) -> None:
    """The expansions the connector asks for on every read, and a few deeper ones."""
    query = "&".join(f"expand[]={e}" for e in expand)
    unhide = UNHIDE.get(endpoint, "")
    with httpx.Client(base_url=emulator.url, auth=(TEST_KEY, "")) as client:
        objects = list(read_all(client, endpoint, f"{query}&{unhide}" if unhide else query))
        first_id = objects[0]["id"]
        single = [e.removeprefix("data.") for e in expand]
        response = client.get(
            f"/v1/{endpoint}/{first_id}?" + "&".join(f"expand[]={e}" for e in single)
        )
        assert response.status_code == 200, response.text
    problems = problems_of([*objects, response.json()], endpoint)
    assert not problems, first(problems)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_objects_changed_while_serving_fit_the_sdk(changed: Changed, endpoint: str) -> None:
    """After every kind of change the admin API makes (refunds, cancellations, voids…)."""
    with httpx.Client(base_url=changed.url, auth=(TEST_KEY, "")) as client:
        objects = served(client, endpoint)
    problems = problems_of(objects, endpoint)
    assert not problems, first(problems)


def test_events_changes_return_fit_the_sdk(changed: Changed) -> None:
    made = {e["type"] for e in changed.events}
    assert made >= {"charge.refunded", "charge.dispute.updated", "payment_intent.payment_failed"}
    problems = problems_of(changed.events, "changes")
    assert not problems, first(problems)
