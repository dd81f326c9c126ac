"""The catalog is the one registry of objects: these tests iterate over it."""

from __future__ import annotations

import pytest

from flitch import catalog
from flitch.catalog import OBJECTS, ColumnType

SEED_OBJECTS = [
    "Customers",
    "Charges",
    "Payment Intents",
    "Invoices",
    "Subscriptions",
    "Products",
    "Prices",
    "Payouts",
    "Balance Transactions",
    "Disputes",
    "Credit Notes",
    "Coupons",
]
SEED_PERMISSIONS = [
    "Read Customers",
    "Read Charges",
    "Read PaymentIntents",
    "Read Invoices",
    "Read Subscriptions",
    "Read Products",
    "Read Prices",
    "Read Payouts",
    "Read Balance",
    "Read Disputes",
    "Read Credit notes",
    "Read Coupons",
]


def test_the_twelve_objects_of_the_seed_in_order() -> None:
    assert [o.label for o in OBJECTS] == SEED_OBJECTS
    assert [o.permission_label for o in OBJECTS] == SEED_PERMISSIONS


@pytest.mark.parametrize("spec", OBJECTS, ids=lambda o: o.name)
def test_every_object_is_complete(spec: catalog.ObjectSpec) -> None:
    assert spec.list_path == f"/v1/{spec.name}"
    assert spec.permission.startswith("rak_")
    assert spec.permission.endswith("_read")
    names = spec.column_names
    assert len(names) == len(set(names)), "duplicate column"
    assert names[:3] == ("id", "created", "livemode")
    assert names[-1] == "raw"
    for f in spec.filters:
        assert f.column in names
    for event_type in spec.event_types:
        assert catalog.BY_EVENT_TYPE[event_type] is spec
    if spec.deleted_event:
        assert spec.deleted_event in spec.event_types
    # every amount column sits beside the currency it is counted in
    if any(c.type is ColumnType.AMOUNT for c in spec.columns):
        assert "currency" in names
    # the seed's field words are all columns (Records and timestamps are implied)
    for word in spec.seed_fields:
        if word in ("Records", "timestamps"):
            continue
        wanted = {"plan": "price", "arrival date": "arrival_date", "amount": None}.get(
            word, word.replace(" ", "_")
        )
        if wanted is None:  # "amount" is amount, unit_amount or amount_off
            assert any(c.type is ColumnType.AMOUNT for c in spec.columns)
        else:
            assert wanted in names, f"{spec.name} lacks the seed's {word!r}"


def test_hidden_data_needs_explicit_parameters() -> None:
    assert catalog.get("subscriptions").list_variants == ({"status": "all"},)
    assert catalog.get("prices").list_variants == ({"active": "true"}, {"active": "false"})
    assert not catalog.get("balance_transactions").mutable
    assert catalog.get("balance_transactions").event_types == ()


def test_column_paths_follow_the_pinned_api_version() -> None:
    invoice = {"id": "in_1", "parent": {"subscription_details": {"subscription": "sub_1"}}}
    assert catalog.get("invoices").row(invoice)["subscription"] == "sub_1"
    sub = {
        "id": "sub_1",
        "items": {
            "data": [
                {
                    "price": {"id": "price_1", "product": "prod_1"},
                    "quantity": 3,
                    "current_period_end": 1700000000,
                }
            ]
        },
    }
    row = catalog.get("subscriptions").row(sub)
    assert (row["price"], row["product"], row["quantity"]) == ("price_1", "prod_1", 3)
    assert row["current_period_end"] == 1700000000
    assert row["raw"] is sub


def test_expanded_objects_become_ids() -> None:
    charge = {"id": "ch_1", "customer": {"id": "cus_1", "object": "customer"}}
    assert catalog.get("charges").row(charge)["customer"] == "cus_1"


def test_unknown_object_names_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="customers"):
        catalog.get("refunds")


# -- child tables --------------------------------------------------------------------------------
@pytest.mark.parametrize("child", catalog.CHILDREN, ids=lambda c: c.name)
def test_every_child_table_is_complete(child: catalog.ChildSpec) -> None:
    parent = catalog.PARENT_OF[child.name]
    assert child in parent.children
    assert child.name not in catalog.BY_NAME, "a child table is not a dataset"
    assert catalog.dataset_of(child.name) is parent
    names = child.column_names
    assert len(names) == len(set(names)), "duplicate column"
    assert names[0] == child.key
    assert child.key == parent.object_type, "the key column is named after the parent"
    assert ("truncated" in names) is child.paged
    assert names[1 : 1 + len(child.parent_fields)] == tuple(c.name for c in child.parent_fields)
    assert all(c.description for c in child.columns)
    assert not {"raw", "metadata"} & set(names), "child tables hold typed columns only"


def test_child_tables_cover_the_billing_lists() -> None:
    assert [c.name for c in catalog.get("subscriptions").children] == [
        "subscription_items",
        "subscription_discounts",
    ]
    assert [c.name for c in catalog.get("invoices").children] == [
        "invoice_lines",
        "invoice_discount_amounts",
    ]
    assert catalog.dataset_of("charges") is catalog.get("charges")
    assert catalog.dataset_of("refunds") is None


def test_invoice_lines_read_the_pinned_api_version() -> None:
    """Field paths of ``2026-10-28.endive`` (the SDK's ``InvoiceLineItem``): the price under
    ``pricing.price_details``, subscription and proration under ``parent``."""
    line = {
        "id": "il_1",
        "amount": 2900,
        "currency": "usd",
        "quantity": 1,
        "period": {"start": 1700000000, "end": 1702592000},
        "parent": {
            "type": "subscription_item_details",
            "subscription_item_details": {
                "proration": False,
                "subscription": "sub_1",
                "subscription_item": "si_1",
            },
        },
        "pricing": {"price_details": {"price": "price_1", "product": "prod_1"}},
    }
    invoice = {
        "id": "in_1",
        "created": 1700000100,
        "lines": {"object": "list", "data": [line], "has_more": True},
    }
    (row,) = catalog.INVOICE_LINES.rows(invoice)
    assert row == {
        "invoice": "in_1",
        "invoice_created": 1700000100,
        "id": "il_1",
        "type": "subscription_item_details",
        "subscription": "sub_1",
        "subscription_item": "si_1",
        "price": "price_1",
        "product": "prod_1",
        "amount": 2900,
        "currency": "usd",
        "quantity": 1,
        "period_start": 1700000000,
        "period_end": 1702592000,
        "proration": False,
        "description": None,
        "truncated": True,
    }


def test_invoice_lines_fall_back_to_older_api_versions() -> None:
    """Before 2025-03-31 a line carried ``price`` (an object), ``proration``, ``subscription``
    and ``type`` at its top level."""
    old = {
        "id": "il_1",
        "type": "subscription",
        "price": {"id": "price_1", "product": "prod_1"},
        "proration": True,
        "subscription": "sub_1",
    }
    (row,) = catalog.INVOICE_LINES.rows({"id": "in_1", "lines": {"data": [old]}})
    assert (row["price"], row["product"], row["proration"]) == ("price_1", "prod_1", True)
    assert (row["subscription"], row["type"], row["truncated"]) == ("sub_1", "subscription", False)


def test_subscription_items_and_discounts() -> None:
    price = {
        "id": "price_1",
        "currency": "eur",
        "unit_amount": None,
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "type": "recurring",
        "recurring": {"interval": "month", "interval_count": 3, "usage_type": "licensed"},
        "product": {"id": "prod_1", "object": "product"},
    }
    sub = {
        "id": "sub_1",
        "items": {"data": [{"id": "si_1", "price": price, "quantity": 4}], "has_more": False},
        "discounts": [
            {"id": "di_1", "source": {"type": "coupon", "coupon": {"id": "co_1"}}, "start": 5},
            {"id": "di_2", "coupon": {"id": "co_2", "object": "coupon"}},  # before source
            "di_3",  # not expanded: only its id is known
        ],
    }
    (item,) = catalog.SUBSCRIPTION_ITEMS.rows(sub)
    assert item["subscription"] == "sub_1"
    assert (item["price"], item["product"], item["currency"]) == ("price_1", "prod_1", "eur")
    assert (item["billing_scheme"], item["tiers_mode"], item["unit_amount"]) == (
        "tiered",
        "graduated",
        None,
    )
    assert (item["recurring_interval"], item["recurring_interval_count"]) == ("month", 3)
    assert (item["quantity"], item["truncated"]) == (4, False)
    discounts = catalog.SUBSCRIPTION_DISCOUNTS.rows(sub)
    assert [(d["id"], d["coupon"]) for d in discounts] == [
        ("di_1", "co_1"),
        ("di_2", "co_2"),
        ("di_3", None),
    ]
    assert discounts[0]["started_at"] == 5
    assert catalog.SUBSCRIPTION_ITEMS.rows({"id": "sub_2"}) == []
    assert catalog.SUBSCRIPTION_DISCOUNTS.rows({"id": "sub_2", "discounts": None}) == []


def test_a_column_tries_its_fallbacks_in_order() -> None:
    col = catalog.Column("price", ColumnType.TEXT, "a.b", "", fallbacks=("c", "d"))
    assert col.extract({"a": {"b": "x"}, "c": "y"}) == "x"
    assert col.extract({"c": {"id": "y"}, "d": "z"}) == "y"
    assert col.extract({"d": "z"}) == "z"
    assert col.extract({}) is None
    flag = catalog.Column("p", ColumnType.BOOLEAN, "a", "", fallbacks=("b",))
    assert flag.extract({"a": False, "b": True}) is False
