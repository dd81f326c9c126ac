"""Listing over HTTP, driven by the official stripe SDK: order, paging, filters, defaults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from flitch.emulator.server import Emulator
from flitch.emulator.store import Account
from tests.conftest import LIVE_KEY, TEST_KEY, TINY_NOW, stripe_client

DAY = 86400

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
OBJECT_TYPE = {
    "customers": "customer",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "invoices": "invoice",
    "subscriptions": "subscription",
    "products": "product",
    "prices": "price",
    "payouts": "payout",
    "balance_transactions": "balance_transaction",
    "disputes": "dispute",
    "credit_notes": "credit_note",
    "coupons": "coupon",
    "events": "event",
}


def visible_by_default(endpoint: str, obj: dict[str, Any], now: int) -> bool:
    """The test's own statement of what Stripe lists when no filter is given."""
    if endpoint in ("customers", "subscriptions") and obj.get("test_clock"):
        return False
    if endpoint == "subscriptions" and obj["status"] in ("canceled", "incomplete_expired"):
        return False
    if endpoint == "prices" and not obj["active"]:
        return False
    return not (endpoint == "events" and obj["created"] < now - 30 * DAY)


def stored_ids(account: Account, endpoint: str, now: int, livemode: bool = False) -> list[str]:
    objects = account.mode(livemode).ordered(OBJECT_TYPE[endpoint]).objects
    return [o["id"] for o in objects if visible_by_default(endpoint, o, now)]


def list_ids(client: stripe.StripeClient, endpoint: str, **params: Any) -> list[str]:
    service = getattr(client.v1, endpoint)
    return [o.id for o in service.list(params).auto_paging_iter()]


def raw(emu: Emulator, path: str, key: str = TEST_KEY) -> httpx.Response:
    return httpx.get(emu.url + path, headers={"Authorization": f"Bearer {key}"})


# -- every record once, in Stripe's order -------------------------------------------------------
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_paging_reads_every_record_once_in_order(emulator: Emulator, endpoint: str) -> None:
    client = stripe_client(emulator.url)
    expected = stored_ids(emulator.account, endpoint, emulator.app.event_now())
    got = list_ids(client, endpoint, limit=7)
    assert got == expected
    assert len(set(got)) == len(got)
    assert len(got) > 0, f"the generated account has no {endpoint}"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_tiny_account_paging_matches_the_store(tiny_emulator: Emulator, endpoint: str) -> None:
    client = stripe_client(tiny_emulator.url)
    expected = stored_ids(tiny_emulator.account, endpoint, TINY_NOW)
    assert list_ids(client, endpoint, limit=2) == expected
    assert list_ids(client, endpoint, limit=100) == expected


def test_objects_created_in_the_same_second_come_by_id_descending(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    ids = list_ids(client, "customers", limit=1)
    assert ids.index("cus_tiny05") == ids.index("cus_tiny04") - 1


def test_ending_before_pages_backwards(tiny_emulator: Emulator) -> None:
    expected = stored_ids(tiny_emulator.account, "customers", TINY_NOW)
    oldest = expected[-1]
    page = raw(tiny_emulator, f"/v1/customers?limit=3&ending_before={oldest}").json()
    assert [o["id"] for o in page["data"]] == expected[-4:-1]
    assert page["has_more"] is True
    client = stripe_client(tiny_emulator.url)
    backwards = [
        o.id
        for o in client.v1.customers.list({"limit": 3, "ending_before": oldest}).auto_paging_iter()
    ]
    assert backwards == list(reversed(expected[:-1]))


def test_has_more_and_url(tiny_emulator: Emulator) -> None:
    total = len(stored_ids(tiny_emulator.account, "customers", TINY_NOW))
    page = raw(tiny_emulator, f"/v1/customers?limit={total}").json()
    assert page["object"] == "list"
    assert page["url"] == "/v1/customers"
    assert page["has_more"] is False
    assert len(page["data"]) == total
    page = raw(tiny_emulator, f"/v1/customers?limit={total - 1}").json()
    assert page["has_more"] is True
    assert len(raw(tiny_emulator, "/v1/customers").json()["data"]) == min(10, total)


# -- created -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"created": "P"}, lambda c, p: c == p),
        ({"created[gt]": "P"}, lambda c, p: c > p),
        ({"created[gte]": "P"}, lambda c, p: c >= p),
        ({"created[lt]": "P"}, lambda c, p: c < p),
        ({"created[lte]": "P"}, lambda c, p: c <= p),
        (
            {"created[gte]": "P-3d", "created[lt]": "P+2d"},
            lambda c, p: p - 3 * DAY <= c < p + 2 * DAY,
        ),
    ],
)
def test_created_filters(tiny_emulator: Emulator, params: dict[str, str], keep: Any) -> None:
    pivot = tiny_emulator.account.test.get("cus_tiny05")
    assert pivot is not None
    p = int(pivot["created"])
    values = {"P": p, "P-3d": p - 3 * DAY, "P+2d": p + 2 * DAY}
    query = "&".join(f"{k}={values[v]}" for k, v in params.items())
    objects = tiny_emulator.account.test.ordered("customer").objects
    expected = [o["id"] for o in objects if not o.get("test_clock") and keep(int(o["created"]), p)]
    assert expected, "the pivot should leave something to list"
    got = [o["id"] for o in raw(tiny_emulator, f"/v1/customers?limit=100&{query}").json()["data"]]
    assert got == expected


def test_created_range_through_the_sdk(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    all_ids = list_ids(client, "charges")
    first = client.v1.charges.retrieve(all_ids[1])
    newer = list_ids(client, "charges", created={"gt": first.created}, limit=1)
    assert newer == all_ids[:1]


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_out_of_range_is_refused(tiny_emulator: Emulator, limit: int) -> None:
    client = stripe_client(tiny_emulator.url)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.list({"limit": limit})
    assert info.value.http_status == 400
    assert info.value.param == "limit"
    assert info.value.error is not None
    assert info.value.error.type == "invalid_request_error"


def test_limit_must_be_an_integer(tiny_emulator: Emulator) -> None:
    response = raw(tiny_emulator, "/v1/customers?limit=ten")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid integer: ten"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unknown_parameter_is_refused_in_stripes_shape(
    tiny_emulator: Emulator, endpoint: str
) -> None:
    client = stripe_client(tiny_emulator.url)
    with pytest.raises(stripe.InvalidRequestError) as info:
        getattr(client.v1, endpoint).list({"limit": 1, "colour": "blue"})  # type: ignore[typeddict-unknown-key]
    error = info.value.error
    assert info.value.http_status == 400
    assert error is not None
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        "parameter_unknown",
        "colour",
    )
    assert error.message == "Received unknown parameter: colour"


def test_unknown_range_key_is_an_unknown_parameter(tiny_emulator: Emulator) -> None:
    body = raw(tiny_emulator, "/v1/customers?created[after]=5").json()["error"]
    assert (body["code"], body["param"]) == ("parameter_unknown", "created[after]")


def test_unknown_cursor_is_refused(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.list({"starting_after": "cus_doesnotexist"})
    assert info.value.param == "starting_after"
    assert info.value.error is not None
    assert info.value.error.code == "resource_missing"
    assert "No such customer: 'cus_doesnotexist'" in str(info.value.user_message)
    with pytest.raises(stripe.InvalidRequestError):  # an id of another type is no cursor either
        client.v1.customers.list({"ending_before": "ch_tiny1"})


def test_both_cursors_are_refused(tiny_emulator: Emulator) -> None:
    response = raw(
        tiny_emulator, "/v1/customers?starting_after=cus_tiny01&ending_before=cus_tiny09"
    )
    assert response.status_code == 400
    assert "only one" in response.json()["error"]["message"]


# -- defaults that hide data -------------------------------------------------------------------
def test_canceled_subscriptions_are_hidden_without_status(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    default = list_ids(client, "subscriptions")
    assert "sub_tiny3" not in default  # canceled
    assert "sub_tiny4" not in default  # incomplete_expired
    everything = list_ids(client, "subscriptions", status="all")
    assert {"sub_tiny3", "sub_tiny4"} <= set(everything)
    assert list_ids(client, "subscriptions", status="canceled") == ["sub_tiny3"]
    assert list_ids(client, "subscriptions", status="ended") == ["sub_tiny4", "sub_tiny3"]
    assert list_ids(client, "subscriptions", status="past_due") == ["sub_tiny2"]


def test_inactive_prices_are_hidden_without_active(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    assert "price_tiny3" not in list_ids(client, "prices")
    assert list_ids(client, "prices", active=False) == ["price_tiny3"]
    assert "price_tiny3" not in list_ids(client, "prices", active=True)


def test_deleted_customers_are_not_listed_but_retrieve_as_deleted(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    assert "cus_tiny03" not in list_ids(client, "customers")
    body = raw(tiny_emulator, "/v1/customers/cus_tiny03").json()
    assert body == {"id": "cus_tiny03", "object": "customer", "deleted": True}
    assert client.v1.customers.retrieve("cus_tiny03").to_dict()["deleted"] is True


def test_test_clock_objects_need_the_test_clock_filter(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    assert "cus_tiny07" not in list_ids(client, "customers")
    assert list_ids(client, "customers", test_clock="clock_tiny") == ["cus_tiny07"]
    assert "sub_tiny1" not in list_ids(client, "subscriptions", status="all")
    assert list_ids(client, "subscriptions", test_clock="clock_tiny") == ["sub_tiny1"]


# -- each endpoint's filters -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("endpoint", "query", "expected"),
    [
        ("subscriptions", "customer=cus_tiny08", ["sub_tiny2"]),
        ("subscriptions", "price=price_tiny4", ["sub_tiny2"]),
        (
            "subscriptions",
            "status=all&price=price_tiny1",
            ["sub_tiny5", "sub_tiny4", "sub_tiny3", "sub_tiny0"],
        ),
        ("invoices", "status=open", ["in_tiny2"]),
        ("invoices", "subscription=sub_tiny3", ["in_tiny3"]),
        ("invoices", "customer=cus_tiny06", ["in_tiny0"]),
        ("charges", "customer=cus_tiny01", ["ch_tiny1"]),
        ("charges", "payment_intent=pi_tiny2", ["ch_tiny2"]),
        ("payment_intents", "customer=cus_tiny00", ["pi_tiny0"]),
        ("payouts", "status=pending", ["po_tiny1"]),
        ("payouts", f"arrival_date[gt]={TINY_NOW}", ["po_tiny1"]),
        ("payouts", f"arrival_date[lte]={TINY_NOW}", ["po_tiny0"]),
        ("balance_transactions", "type=payout", ["txn_tinypo1", "txn_tinypo0"]),
        ("balance_transactions", "payout=po_tiny0", ["txn_tinypo0", "txn_tiny1", "txn_tiny0"]),
        ("prices", "product=prod_tinyB&active=false", ["price_tiny3"]),
        ("products", "active=false", ["prod_tinyB"]),
        ("products", "active=true", ["prod_tinyA"]),
        ("credit_notes", "invoice=in_tiny0", ["cn_tiny1"]),
        ("credit_notes", "customer=cus_tiny01", []),
        ("disputes", "charge=ch_tiny4", ["dp_tiny1"]),
        ("disputes", "payment_intent=pi_tiny4", ["dp_tiny1"]),
        ("customers", "email=person2%40example.com", ["cus_tiny02"]),
        ("events", "type=charge.*", ["evt_tiny3", "evt_tiny2"]),
        ("events", "type=customer.subscription.deleted", ["evt_tiny5"]),
        ("events", "types[]=invoice.paid&types[]=customer.created", ["evt_tiny4", "evt_tiny1"]),
        ("events", "types[0]=invoice.paid", ["evt_tiny4"]),
    ],
)
def test_list_filters(
    tiny_emulator: Emulator, endpoint: str, query: str, expected: list[str]
) -> None:
    response = raw(tiny_emulator, f"/v1/{endpoint}?limit=100&{query}")
    assert response.status_code == 200, response.text
    assert [o["id"] for o in response.json()["data"]] == expected


def test_filters_page_like_the_rest(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    assert list_ids(client, "balance_transactions", type="charge", limit=1) == [
        f"txn_tiny{i}" for i in reversed(range(6))
    ]


def test_invalid_filter_values_are_refused(tiny_emulator: Emulator) -> None:
    for query in ("status=gone", "price[x]=1"):
        response = raw(tiny_emulator, f"/v1/subscriptions?{query}")
        assert response.status_code == 400, query
    assert raw(tiny_emulator, "/v1/prices?active=maybe").json()["error"]["message"] == (
        "Invalid boolean: maybe"
    )


def test_events_older_than_thirty_days_are_gone(tiny_emulator: Emulator) -> None:
    ids = [o["id"] for o in raw(tiny_emulator, "/v1/events?limit=100").json()["data"]]
    assert "evt_tiny0" not in ids
    assert "evt_tiny1" in ids
    tiny_emulator.config.event_retention_days = None
    ids = [o["id"] for o in raw(tiny_emulator, "/v1/events?limit=100").json()["data"]]
    assert "evt_tiny0" in ids


# -- modes and retrieve ------------------------------------------------------------------------
def test_the_keys_mode_picks_the_data(tiny_emulator: Emulator) -> None:
    live = stripe_client(tiny_emulator.url, LIVE_KEY)
    assert list_ids(live, "customers") == ["cus_tinylive2", "cus_tinylive1", "cus_tinylive0"]
    assert list_ids(live, "charges") == ["ch_tinylive0"]
    assert list_ids(live, "subscriptions") == []
    with pytest.raises(stripe.InvalidRequestError) as info:
        live.v1.customers.retrieve("cus_tiny01")
    assert info.value.http_status == 404
    assert "a similar object exists in test mode" in str(info.value.user_message)


def test_retrieve_by_id(tiny_emulator: Emulator) -> None:
    client = stripe_client(tiny_emulator.url)
    for endpoint, object_id in [
        ("customers", "cus_tiny01"),
        ("charges", "ch_tiny1"),
        ("subscriptions", "sub_tiny3"),
        ("events", "evt_tiny2"),
        ("balance_transactions", "txn_tiny1"),
    ]:
        obj = getattr(client.v1, endpoint).retrieve(object_id)
        stored = tiny_emulator.account.test.get(object_id)
        assert obj.to_dict() == stored
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.retrieve("ch_tiny1")
    assert info.value.http_status == 404
    assert info.value.error is not None
    assert info.value.error.code == "resource_missing"
    assert raw(tiny_emulator, "/v1/customers/cus_tiny01?limit=3").status_code == 400


def test_unknown_paths_are_stripes_404(tiny_emulator: Emulator) -> None:
    for path in ("/v1/refunds", "/v1/customers/cus_tiny01/sources", "/v2/customers", "/"):
        response = raw(tiny_emulator, path)
        assert response.status_code == 404, path
        assert response.json()["error"]["message"].startswith("Unrecognized request URL (GET: ")
