"""Flattening objects into rows, in DuckDB: paths of the pinned API version and their fallbacks,
each type's reading, child tables, and the errors for values a column cannot hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pytest

from flitch import catalog
from flitch.catalog import Column, ColumnType, ObjectSpec
from flitch.store.flatten import json_path
from flitch.store.loading import Tables
from flitch.store.schema import RawJSON, RawObjects, table_name


def flatten(
    layout: ObjectSpec | catalog.ChildSpec, objects: list[dict[str, Any]] | RawJSON
) -> list[dict[str, Any]]:
    """The rows these objects make in a dataset — or, for a child table, the rows nested in
    these parent objects — written by the store's own write path into a scratch database."""
    spec = layout if isinstance(layout, ObjectSpec) else catalog.PARENT_OF[layout.name]
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = Tables(con)
        tables.create(spec, keyed=False)
        buffer = RawObjects()
        buffer.add(objects)
        tables.append(spec, buffer.take())
        order = " ORDER BY id" if layout is spec else ""
        cursor = con.execute(f"SELECT * FROM {table_name(layout)}{order}")
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def one(spec: Any, obj: dict[str, Any]) -> dict[str, Any]:
    (row,) = flatten(spec, [obj])
    return row


def probe(*columns: Column) -> ObjectSpec:
    """A dataset of just these columns (and an id), to test one reading at a time."""
    return ObjectSpec(
        name="probe",
        label="Probe",
        object_type="probe",
        list_path="/v1/probe",
        permission="rak_probe_read",
        permission_label="Read Probe",
        columns=(Column("id", ColumnType.TEXT, "id", ""), *columns),
    )


def test_json_paths() -> None:
    assert json_path("") == "$"
    assert json_path("created") == '$."created"'
    assert json_path("items.data.0.price.id") == '$."items"."data"[0]."price"."id"'


def test_column_paths_follow_the_pinned_api_version() -> None:
    invoice = {"id": "in_1", "parent": {"subscription_details": {"subscription": "sub_1"}}}
    assert one(catalog.get("invoices"), invoice)["subscription"] == "sub_1"
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
    row = one(catalog.get("subscriptions"), sub)
    assert (row["price"], row["product"], row["quantity"]) == ("price_1", "prod_1", 3)
    assert row["current_period_end"] == at(1700000000)
    assert orjson.loads(row["raw"]) == sub


def test_raw_is_the_whole_object_minified() -> None:
    obj = {"id": "ch_1", "metadata": {"order": "a: b"}, "description": "é ☃ \u2028", "n": 1.5}
    # Stripe indents its answers; the raw column keeps the object, not the layout
    pretty = orjson.dumps(obj, option=orjson.OPT_INDENT_2)
    (row,) = flatten(catalog.get("charges"), RawJSON([pretty]))
    assert orjson.loads(row["raw"]) == obj
    assert "\n" not in row["raw"]
    assert len(row["raw"]) == len(orjson.dumps(obj).decode())
    assert orjson.loads(row["metadata"]) == {"order": "a: b"}


def test_expanded_objects_become_ids() -> None:
    charge = {"id": "ch_1", "customer": {"id": "cus_1", "object": "customer"}}
    assert one(catalog.get("charges"), charge)["customer"] == "cus_1"


def test_a_column_tries_its_fallbacks_in_order() -> None:
    spec = probe(Column("price", ColumnType.TEXT, "a.b", "", fallbacks=("c", "d")))
    rows = flatten(
        spec,
        [
            {"id": "1", "a": {"b": "x"}, "c": "y"},
            {"id": "2", "c": {"id": "y"}, "d": "z"},
            {"id": "3", "a": {"b": None}, "d": "z"},
            {"id": "4"},
        ],
    )
    assert [r["price"] for r in rows] == ["x", "y", "z", None]


def test_each_type_is_read_as_the_catalog_says() -> None:
    spec = probe(
        Column("text", ColumnType.TEXT, "t", ""),
        Column("amount", ColumnType.AMOUNT, "a", ""),
        Column("count", ColumnType.INTEGER, "n", ""),
        Column("ratio", ColumnType.FLOAT, "f", ""),
        Column("flag", ColumnType.BOOLEAN, "b", ""),
        Column("when", ColumnType.TIMESTAMP, "w", ""),
        Column("extra", ColumnType.JSON, "j", ""),
    )
    rows = flatten(
        spec,
        [
            {"id": "1", "t": "s", "a": 1999, "n": 3.0, "f": 2, "b": True, "w": 1700000000,
             "j": {"k": [1, "v"]}},
            {"id": "2", "t": True, "a": -5, "n": None, "f": 0.25, "b": False, "w": 0,
             "j": "text"},
            {"id": "3", "t": 42, "a": 9007199254740993, "b": None, "j": None},
            {"id": "4", "t": ["a", 1], "j": [1, 2]},
        ],
    )  # fmt: skip
    assert [r["text"] for r in rows] == ["s", "true", "42", '["a",1]']
    assert [r["amount"] for r in rows] == [1999, -5, 9007199254740993, None]
    assert [r["count"] for r in rows] == [3, None, None, None]
    assert [r["ratio"] for r in rows] == [2.0, 0.25, None, None]
    assert [r["flag"] for r in rows] == [True, False, None, None]
    assert [r["when"] for r in rows] == [at(1700000000), at(0), None, None]
    assert [r["extra"] for r in rows] == ['{"k":[1,"v"]}', '"text"', None, "[1,2]"]


@pytest.mark.parametrize("bad", [12.5, {"id": "x"}, [1]])
def test_a_value_the_type_cannot_hold_is_an_error_naming_the_column(bad: Any) -> None:
    spec = probe(Column("amount", ColumnType.AMOUNT, "a", ""))
    with pytest.raises(ValueError, match="of probe cannot hold") as info:
        flatten(spec, [{"id": "1", "a": bad}])
    assert "catalog" in str(info.value)
    if bad == 12.5:
        assert "column amount of probe" in str(info.value)


# -- child tables --------------------------------------------------------------------------------
def test_invoice_lines_read_the_pinned_api_version() -> None:
    """Field paths of ``2026-10-28.endive`` (the SDK's ``InvoiceLineItem``): the price under
    ``pricing.price_details``, subscription and proration under ``parent``."""
    line = {
        "id": "il_1",
        "amount": 2900,
        "currency": "usd",
        "quantity": 1,
        "quantity_decimal": "1.5",  # a decimal string; quantity is it with decimals cut off
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
    (row,) = flatten(catalog.INVOICE_LINES, [invoice])
    assert row == {
        "invoice": "in_1",
        "invoice_created": at(1700000100),
        "id": "il_1",
        "type": "subscription_item_details",
        "subscription": "sub_1",
        "subscription_item": "si_1",
        "price": "price_1",
        "product": "prod_1",
        "amount": 2900,
        "currency": "usd",
        "quantity": 1,
        "quantity_decimal": 1.5,
        "period_start": at(1700000000),
        "period_end": at(1702592000),
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
    (row,) = flatten(catalog.INVOICE_LINES, [{"id": "in_1", "lines": {"data": [old]}}])
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
            7,  # neither an object nor an id: skipped
        ],
    }
    (item,) = flatten(catalog.SUBSCRIPTION_ITEMS, [sub])
    assert item["subscription"] == "sub_1"
    assert (item["price"], item["product"], item["currency"]) == ("price_1", "prod_1", "eur")
    assert (item["billing_scheme"], item["tiers_mode"], item["unit_amount"]) == (
        "tiered",
        "graduated",
        None,
    )
    assert (item["recurring_interval"], item["recurring_interval_count"]) == ("month", 3)
    assert (item["quantity"], item["truncated"]) == (4, False)
    discounts = flatten(catalog.SUBSCRIPTION_DISCOUNTS, [sub])
    assert sorted((d["id"], d["coupon"]) for d in discounts) == [
        ("di_1", "co_1"),
        ("di_2", "co_2"),
        ("di_3", None),
    ]
    assert next(d for d in discounts if d["id"] == "di_1")["started_at"] == at(5)
    assert flatten(catalog.SUBSCRIPTION_ITEMS, [{"id": "sub_2"}]) == []
    assert flatten(catalog.SUBSCRIPTION_DISCOUNTS, [{"id": "sub_2", "discounts": None}]) == []


def test_child_rows_of_several_parents_keep_their_parent() -> None:
    subs = [
        {"id": f"sub_{i}", "items": {"data": [{"id": f"si_{i}_{j}"} for j in range(i)]}}
        for i in range(4)
    ]
    rows = flatten(catalog.SUBSCRIPTION_ITEMS, subs)
    assert sorted((r["subscription"], r["id"]) for r in rows) == [
        (f"sub_{i}", f"si_{i}_{j}") for i in range(4) for j in range(i)
    ]
