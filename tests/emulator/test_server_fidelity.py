"""The generated account read over HTTP: relations hold across objects, and a seed is a promise."""

from __future__ import annotations

import ast
import importlib
import re
import typing
from collections.abc import Callable, Iterator
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


# -- errors as Stripe words them -----------------------------------------------------------------
OBJECT_TYPE = {endpoint: endpoint.removesuffix("s") for endpoint in ENDPOINTS}
#: Every error ``code`` the pinned version has (the SDK's enumeration of ``last_payment_error``
#: codes is Stripe's list of API error codes).
STRIPE_ERROR_CODES = frozenset(
    value
    for option in typing.get_args(stripe.PaymentIntent.LastPaymentError.__annotations__["code"])
    if typing.get_origin(option) is typing.Literal
    for value in typing.get_args(option)
)


def sdk_enum_filters(endpoint: str) -> dict[str, tuple[str, ...]]:
    """The list parameters the SDK types as enumerations (``stripe/params/_<x>_list_params.py``),
    nested ones as Stripe names them (``recurring[interval]``)."""
    singular = OBJECT_TYPE[endpoint]
    module = importlib.import_module(f"stripe.params._{singular}_list_params")
    name = "".join(part.title() for part in singular.split("_")) + "ListParams"
    return dict(_enums(module, getattr(module, name), "{}"))


def _enums(module: Any, params: Any, pattern: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    for name, hint in params.__annotations__.items():
        (inner,) = typing.get_args(hint) or (hint,)
        text = inner.__forward_arg__ if isinstance(inner, typing.ForwardRef) else ""
        literal = re.fullmatch(r"Literal\[(.*)\]\|str", text)
        nested = getattr(module, text, None) if text.isidentifier() else None
        if literal:
            yield pattern.format(name), tuple(ast.literal_eval(f"({literal[1]},)"))
        elif isinstance(nested, type) and issubclass(nested, dict):
            yield from _enums(module, nested, pattern.format(name) + "[{}]")


ENUM_FILTERS = [
    (endpoint, param, values)
    for endpoint in ENDPOINTS
    for param, values in sdk_enum_filters(endpoint).items()
]


def test_the_sdk_names_the_enumerated_filters() -> None:
    assert ("subscriptions", "status") in {(e, p) for e, p, _ in ENUM_FILTERS}
    assert ("prices", "recurring[interval]") in {(e, p) for e, p, _ in ENUM_FILTERS}


@pytest.mark.parametrize(("endpoint", "param", "values"), ENUM_FILTERS)
def test_an_enumerated_filter_takes_its_values_and_refuses_others(
    tiny_emulator: Emulator, endpoint: str, param: str, values: tuple[str, ...]
) -> None:
    """Stripe answers a value outside the enumeration with a 400 naming the values, and no
    ``code``: none of its error codes is for that."""
    with httpx.Client(base_url=tiny_emulator.url, auth=(TEST_KEY, "")) as client:
        for value in values:
            assert client.get(f"/v1/{endpoint}", params={param: value}).status_code == 200, value
        response = client.get(f"/v1/{endpoint}", params={param: "sometimes"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "code" not in error
    assert error["message"].startswith(f"Invalid {param}: must be one of ")
    assert all(value in error["message"] for value in values)


def test_events_take_type_or_types_never_both(tiny_emulator: Emulator) -> None:
    with httpx.Client(base_url=tiny_emulator.url, auth=(TEST_KEY, "")) as client:
        assert client.get("/v1/events?type=invoice.paid").status_code == 200
        assert client.get("/v1/events?types[]=invoice.paid").status_code == 200
        response = client.get("/v1/events?type=invoice.paid&types[]=charge.succeeded")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "parameters_exclusive",
        "types",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/charges?limit=abc",
        "/v1/charges?colour=red",
        "/v1/charges?created[soon]=1",
        "/v1/charges?customer[]=cus_1",
        "/v1/charges?starting_after=ch_nope",
        "/v1/charges?starting_after=a&ending_before=b",
        "/v1/charges?expand[]=data.nothing",
        "/v1/charges/ch_nope",
        "/v1/prices?active=maybe",
        "/v1/prices?recurring=month",
        "/v1/products?ids=prod_1",
        "/v1/invoices?status=late",
        "/v1/events?type=a&types[]=b",
    ],
)
def test_every_error_code_is_one_stripe_has(tiny_emulator: Emulator, path: str) -> None:
    response = httpx.get(tiny_emulator.url + path, auth=(TEST_KEY, ""))
    assert response.status_code in (400, 404)
    error = response.json()["error"]
    assert error.get("code") is None or error["code"] in STRIPE_ERROR_CODES, error
