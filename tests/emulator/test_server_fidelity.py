"""The generated account read over HTTP: relations hold across objects, and a seed is a promise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe

from flitch.emulator.server import Emulator
from tests.conftest import TEST_KEY, fresh_account, stripe_client

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


def read_all(client: stripe.StripeClient, endpoint: str, **params: Any) -> dict[str, Any]:
    service = getattr(client.v1, endpoint)
    return {o.id: o for o in service.list({"limit": 100, **params}).auto_paging_iter()}


def ref(value: Any) -> Any:
    return value.id if hasattr(value, "id") else value


def test_relations_hold_across_objects(emulator: Emulator) -> None:
    client = stripe_client(emulator.url)
    charges = read_all(client, "charges")
    intents = read_all(client, "payment_intents")
    invoices = read_all(client, "invoices")
    subs = read_all(client, "subscriptions", status="all")
    prices = {**read_all(client, "prices", active=True), **read_all(client, "prices", active=False)}
    products = {
        **read_all(client, "products", active=True),
        **read_all(client, "products", active=False),
    }
    txns = read_all(client, "balance_transactions")
    payouts = read_all(client, "payouts")
    disputes = read_all(client, "disputes")
    notes = read_all(client, "credit_notes")
    customers = read_all(client, "customers")

    def retrievable(endpoint: str, object_id: str) -> bool:
        # deleted customers and test-clock objects are not listed, yet retrievable
        response = httpx.get(f"{emulator.url}/v1/{endpoint}/{object_id}", auth=(TEST_KEY, ""))
        return response.status_code == 200

    def customer_exists(cus: str) -> bool:
        return cus in customers or retrievable("customers", cus)

    assert all((charges, invoices, subs, txns)), "the generated account should have these"
    for charge in charges.values():
        if charge.customer:
            assert customer_exists(ref(charge.customer)), charge.id
        if charge.payment_intent:
            assert ref(charge.payment_intent) in intents, charge.id
        if charge.balance_transaction:
            assert ref(charge.balance_transaction) in txns, charge.id
    for intent in intents.values():
        if intent.latest_charge:
            assert ref(intent.latest_charge) in charges, intent.id
    for invoice in invoices.values():
        assert customer_exists(ref(invoice.customer)), invoice.id
        parent = invoice.to_dict().get("parent") or {}
        details = parent.get("subscription_details") or {}
        if details.get("subscription"):
            sub_id = ref(details["subscription"])
            assert sub_id in subs or retrievable("subscriptions", sub_id), invoice.id
    for sub in subs.values():
        assert customer_exists(ref(sub.customer)), sub.id
        for item in sub["items"].data:
            assert item.price.id in prices, sub.id
    for price in prices.values():
        assert ref(price.product) in products, price.id
    for dispute in disputes.values():
        assert charges[ref(dispute.charge)].disputed is True, dispute.id
    for note in notes.values():
        assert ref(note.invoice) in invoices, note.id
    for payout in payouts.values():
        if payout.balance_transaction:
            assert ref(payout.balance_transaction) in txns, payout.id
    for txn in txns.values():
        assert txn.net == txn.amount - txn.fee, txn.id
        if txn.type == "charge":
            assert ref(txn.source) in charges, txn.id


def pages(url: str, endpoint: str) -> list[bytes]:
    """Every page of one list, as the server's bytes."""
    out: list[bytes] = []
    query = f"/v1/{endpoint}?limit=100"
    with httpx.Client(base_url=url, auth=(TEST_KEY, "")) as client:
        cursor = ""
        while True:
            response = client.get(query + cursor)
            assert response.status_code == 200
            out.append(response.content)
            body = response.json()
            if not body["has_more"]:
                return out
            cursor = f"&starting_after={body['data'][-1]['id']}"


def test_same_seed_same_bytes_over_http(make_emulator: Callable[..., Emulator]) -> None:
    first = make_emulator(fresh_account(seed=7, customers=15))
    second = make_emulator(fresh_account(seed=7, customers=15))
    other = make_emulator(fresh_account(seed=8, customers=15))
    for endpoint in ENDPOINTS:
        assert pages(first.url, endpoint) == pages(second.url, endpoint), endpoint
    assert pages(first.url, "customers") != pages(other.url, "customers")


@pytest.mark.parametrize("endpoint", ["subscriptions", "prices"])
def test_the_expansions_every_read_asks_for(emulator: Emulator, endpoint: str) -> None:
    """The catalog asks for ``data.discounts`` and ``data.tiers`` on every read."""
    expand = "data.discounts" if endpoint == "subscriptions" else "data.tiers"
    response = httpx.get(
        f"{emulator.url}/v1/{endpoint}?limit=100&expand[]={expand}", auth=(TEST_KEY, "")
    )
    assert response.status_code == 200
    for obj in response.json()["data"]:
        if endpoint == "subscriptions":
            assert all(isinstance(d, dict) for d in obj["discounts"])
        elif obj["billing_scheme"] == "tiered":
            assert obj["tiers"]
