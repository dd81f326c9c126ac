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
    assert names[:2] == ("id", "created")
    assert names[-1] == "raw"
    # livemode and metadata where Stripe's object has them (tests/test_catalog_sdk.py)
    if "livemode" in names:
        assert names[2] == "livemode"
    if "metadata" in names:
        assert names[-2] == "metadata"
    for f in spec.filters:
        assert f.column in names
        assert f.values is None or all(v == v.strip() and v for v in f.values)
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


def test_objects_without_livemode_or_metadata_have_no_such_columns() -> None:
    """Balance transactions have neither field in Stripe: the columns would always be NULL."""
    names = catalog.get("balance_transactions").column_names
    assert "livemode" not in names
    assert "metadata" not in names
    assert {"livemode", "metadata"} <= set(catalog.get("payouts").column_names)


def test_invoice_lines_keep_the_full_precision_quantity() -> None:
    lines = {c.name: c for c in catalog.INVOICE_LINES.columns}
    assert lines["quantity_decimal"].type is ColumnType.FLOAT
    assert lines["quantity"].type is ColumnType.INTEGER  # still in the pinned API version


def test_enumerated_filters_push_only_values_stripe_takes() -> None:
    status = next(f for f in catalog.get("subscriptions").filters if f.param == "status")
    assert status.accepts("active")
    assert not status.accepts("Active")
    assert not status.accepts("all")  # takes every subscription, holds none
    payouts = next(f for f in catalog.get("payouts").filters if f.param == "status")
    assert not payouts.accepts("in_transit")
    customer = next(f for f in catalog.get("charges").filters if f.param == "customer")
    assert customer.accepts("anything at all")


def test_hidden_data_needs_explicit_parameters() -> None:
    assert catalog.get("subscriptions").list_variants == ({"status": "all"},)
    assert catalog.get("prices").list_variants == ({"active": "true"}, {"active": "false"})
    assert not catalog.get("balance_transactions").mutable
    assert catalog.get("balance_transactions").event_types == ()


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
