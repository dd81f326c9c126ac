"""``expand[]`` over HTTP: ids become objects, hidden fields appear, both query syntaxes work."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest
import stripe

from flitch.emulator.server import Emulator
from tests.conftest import LIMITED_KEY, TEST_KEY, stripe_client, tiny_account


def get(emu: Emulator, path: str, key: str = TEST_KEY) -> httpx.Response:
    return httpx.get(emu.url + path, headers={"Authorization": f"Bearer {key}"})


def test_expanding_the_customer_of_charges(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    charges = client.v1.charges.list({"limit": 100, "expand": ["data.customer"]}).data
    assert charges
    for charge in charges:
        stored = tiny_emulator.account.test.get(charge.id)
        assert stored is not None
        store = tiny_emulator.account.test
        customer = store.get(stored["customer"]) or store.tombstones[stored["customer"]]
        assert charge.customer.to_dict() == customer


def test_expanding_discounts_and_latest_invoice(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    subs = client.v1.subscriptions.list(
        {"status": "all", "expand": ["data.discounts", "data.latest_invoice"]}
    ).data
    by_id = {s.id: s for s in subs}
    discount = by_id["sub_tiny0"].discounts[0]
    assert discount.id == "di_tiny1"
    assert discount.object == "discount"
    assert discount.coupon == "coupon_tinyA"
    for sub in subs:
        assert sub.latest_invoice.object == "invoice"
        assert sub.latest_invoice.parent.subscription_details.subscription == sub.id
    # the stored objects are untouched: a plain list still has ids
    plain = get(tiny_emulator, "/v1/subscriptions?status=all&limit=100").json()["data"]
    assert next(s for s in plain if s["id"] == "sub_tiny0")["discounts"] == ["di_tiny1"]


def test_price_tiers_only_when_expanded(tiny_emulator: Emulator) -> None:
    plain = get(tiny_emulator, "/v1/prices?limit=100").json()["data"]
    assert all("tiers" not in p for p in plain)
    expanded = get(tiny_emulator, "/v1/prices?limit=100&expand[]=data.tiers").json()["data"]
    tiered = next(p for p in expanded if p["id"] == "price_tiny2")
    assert tiered["tiers"] == [{"up_to": 10, "unit_amount": 500}]
    retrieved = get(tiny_emulator, "/v1/prices/price_tiny2").json()
    assert "tiers" not in retrieved
    assert get(tiny_emulator, "/v1/prices/price_tiny2?expand[]=tiers").json()["tiers"]


def test_both_array_syntaxes_give_the_same_bytes(tiny_emulator: Emulator) -> None:
    path = "/v1/subscriptions?status=all&limit=100&"
    empty = get(tiny_emulator, path + "expand[]=data.customer&expand[]=data.discounts")
    indexed = get(tiny_emulator, path + "expand[0]=data.customer&expand[1]=data.discounts")
    encoded = get(tiny_emulator, path + "expand%5B%5D=data.customer&expand%5B%5D=data.discounts")
    assert empty.status_code == 200
    assert empty.content == indexed.content == encoded.content


def test_nested_expansion_through_hashes_and_lists(tiny_emulator: Emulator) -> None:
    invoices = get(
        tiny_emulator,
        "/v1/invoices?limit=100&expand[]=data.parent.subscription_details.subscription",
    ).json()["data"]
    for invoice in invoices:
        sub = invoice["parent"]["subscription_details"]["subscription"]
        assert sub["object"] == "subscription"
    subs = get(
        tiny_emulator, "/v1/subscriptions?status=all&expand[]=data.items.data.price.product"
    ).json()["data"]
    for sub in subs:
        assert sub["items"]["data"][0]["price"]["product"]["object"] == "product"


def test_retrieve_expands_without_the_data_prefix(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    charge = client.v1.charges.retrieve("ch_tiny1", {"expand": ["customer", "payment_intent"]})
    assert charge.customer.id == "cus_tiny01"
    assert charge.payment_intent.amount == 2000


def test_expanding_a_deleted_customer_gives_its_tombstone(
    make_emulator: Callable[..., Emulator],
) -> None:
    from tests.conftest import tiny_account

    account = tiny_account()
    account.test.delete("cus_tiny01")
    emu = make_emulator(account)
    charge = get(emu, "/v1/charges/ch_tiny1?expand[]=customer").json()
    assert charge["customer"] == {"id": "cus_tiny01", "object": "customer", "deleted": True}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers?expand[]=data.email",
        "/v1/customers?expand[]=customer",  # a list's paths start with data.
        "/v1/charges?expand[]=data.nothing_here",
        "/v1/charges?expand[]=data.customer.a.b.c.d",
        "/v1/charges?expand=data.customer",
    ],
)
def test_what_cannot_be_expanded_is_refused(tiny_emulator: Emulator, path: str) -> None:
    response = get(tiny_emulator, path)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_expanding_into_an_object_the_key_cannot_read_is_a_403(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url, LIMITED_KEY)
    assert client.v1.invoices.list({"limit": 1}).data
    with pytest.raises(stripe.PermissionError) as info:
        client.v1.invoices.list(
            {"limit": 100, "expand": ["data.parent.subscription_details.subscription"]}
        )
    assert "rak_subscription_read" in str(info.value.user_message)


def test_a_page_without_expand_is_the_stored_json(tiny_emulator: Emulator) -> None:
    body = get(tiny_emulator, "/v1/charges?limit=100").content
    stored = tiny_emulator.account.test.ordered("charge").objects
    assert orjson.loads(body)["data"] == stored


def test_a_cached_expansion_follows_changes(make_emulator: Callable[..., Emulator]) -> None:
    account = tiny_account()
    emu = make_emulator(account)
    path = "/v1/subscriptions?status=all&limit=100&expand[]=data.discounts&expand[]=data.customer"
    first = get(emu, path).json()["data"]
    assert get(emu, path).json()["data"] == first  # served again, from the cache
    discount = dict(account.test.get("di_tiny1") or {})
    discount["coupon"] = "coupon_tinyB"
    account.test.put(discount)  # a dependency changed: the cached expansion is stale
    customer = dict(account.test.get("cus_tiny06") or {})
    customer["email"] = "changed@example.com"
    account.test.put(customer)
    again = {s["id"]: s for s in get(emu, path).json()["data"]}
    assert again["sub_tiny0"]["discounts"][0]["coupon"] == "coupon_tinyB"
    assert again["sub_tiny0"]["customer"]["email"] == "changed@example.com"
    invoices = "/v1/invoices?limit=100&expand[]=data.parent.subscription_details.subscription"
    assert get(emu, invoices).status_code == 200  # cached for a key that may read it all…
    limited = get(emu, invoices, LIMITED_KEY)  # …and still refused to a key that may not
    assert limited.status_code == 403
    assert "rak_subscription_read" in limited.json()["error"]["message"]
