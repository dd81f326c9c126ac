"""Stripe objects in, typed rows out: the values a dashboard computes with."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from flitch import catalog
from flitch.catalog import ColumnType
from flitch.store import DuckDBStore, MemoryDatasets, QueryFailed
from flitch.store.loading import ArrowDatasetWriter, Tables
from flitch.store.schema import DUCKDB_TYPES, create_table_sql, schema_version
from tests.store import factories
from tests.store.conftest import CHARGES, CUSTOMERS, count, fill


def test_every_catalog_type_has_a_duckdb_type() -> None:
    assert set(DUCKDB_TYPES) == set(ColumnType)
    assert DUCKDB_TYPES[ColumnType.TIMESTAMP] == "TIMESTAMPTZ"
    assert DUCKDB_TYPES[ColumnType.AMOUNT] == "BIGINT"


@pytest.mark.parametrize("spec", catalog.OBJECTS, ids=lambda s: s.name)
def test_every_object_becomes_a_typed_table_keyed_by_id_without_an_index(
    spec: catalog.ObjectSpec,
) -> None:
    ddl = create_table_sql(spec)
    assert '"id" VARCHAR' in ddl
    assert "PRIMARY KEY" not in ddl  # ids kept unique by the writer (see loading)
    minimal = {
        "id": f"{spec.object_type}_1",
        "object": spec.object_type,
        "created": 1_700_000_000,
        "livemode": True,
        "metadata": {"k": "v"},
    }
    with MemoryDatasets() as mem:
        assert mem.load(spec, [minimal]) == 1
        result = mem.query(f"SELECT * FROM {spec.name}")
        assert result.column_names == spec.column_names
        row = result.dicts()[0]
        assert row["id"] == minimal["id"]
        assert row["created"] == "2023-11-14T22:13:20Z"
        if "livemode" in spec.column_names:  # balance transactions have neither field
            assert row["livemode"] is True
            assert row["metadata"] == {"k": "v"}
        assert row["raw"] == minimal
        types = {c.name: c.type for c in result.columns}
        for col in spec.columns:
            expected = DUCKDB_TYPES[col.type].replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")
            assert types[col.name] == expected, col.name


def test_charges_round_trip_with_types(store: DuckDBStore) -> None:
    fill(store, 300)
    with store.reader() as reader:
        result = reader.query(
            "SELECT id, amount, amount_refunded, currency, paid, disputed, created, metadata, "
            "raw, customer FROM charges WHERE id = ?",
            ["ch_000000000000000000000011"],
        )
    row = result.dicts()[0]
    original = factories.charge(11)
    assert row["amount"] == 1011
    assert isinstance(row["amount"], int)
    assert row["amount_refunded"] == 0
    assert row["paid"] is False  # failed charge
    assert row["disputed"] is False
    assert row["currency"] == "usd"
    assert row["created"] == datetime.fromtimestamp(original["created"], UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert row["metadata"] == {"order": "11", "channel": "web"}
    assert row["raw"] == original
    assert row["customer"] == "cus_00000000000011"
    assert [c.type for c in result.columns][:3] == ["VARCHAR", "BIGINT", "BIGINT"]


def test_timestamps_are_utc_whatever_the_sql_does(store: DuckDBStore) -> None:
    fill(store, 3)
    with store.reader() as reader:
        result = reader.query(
            "SELECT date_trunc('day', created) AS day, created::DATE AS d, "
            "epoch(created)::BIGINT AS secs, current_setting('TimeZone') AS tz "
            "FROM charges ORDER BY created LIMIT 1"
        )
    assert result.rows == [("2023-11-14T00:00:00Z", "2023-11-14", 1_700_000_000, "UTC")]


def test_nested_paths_json_lists_and_floats() -> None:
    subs = catalog.get("subscriptions")
    coupons = catalog.get("coupons")
    with MemoryDatasets() as mem:
        mem.load(subs, [factories.subscription(1), factories.subscription(2, status="canceled")])
        mem.load(
            coupons,
            [
                factories.coupon(0),
                factories.coupon(1, percent_off=None, amount_off=500, currency="usd"),
            ],
        )
        sub = mem.query(
            "SELECT price, product, quantity, current_period_end, items, discounts, cancel_at "
            "FROM subscriptions ORDER BY id"
        ).dicts()[0]
        assert sub["price"] == "price_basic"
        assert sub["product"] == "prod_basic"
        assert sub["quantity"] == 2
        assert sub["current_period_end"] == "2023-12-14T23:13:20Z"
        assert sub["items"][0]["id"] == "si_00000000000001"
        assert sub["discounts"] == []
        assert sub["cancel_at"] is None
        rows = mem.query("SELECT percent_off, amount_off FROM coupons ORDER BY id").rows
        assert rows == [(10.5, None), (None, 500)]


def test_values_of_another_type_are_converted_at_the_boundary() -> None:
    odd = factories.charge(1, amount=1500.0, description=42, paid=1, created=1_700_000_000.0)
    with MemoryDatasets() as mem:
        mem.load(CHARGES, [odd])
        row = mem.query("SELECT amount, description, paid, created FROM charges").rows[0]
    assert row == (1500, "42", True, "2023-11-14T22:13:20Z")


def test_a_value_that_cannot_fit_its_column_names_the_column() -> None:
    bad = factories.charge(1, amount="a lot")
    with MemoryDatasets() as mem, pytest.raises(ValueError, match="column amount of charges"):
        mem.load(CHARGES, [bad])


def test_a_page_stream_with_repeated_objects_keeps_the_last_copy(store: DuckDBStore) -> None:
    first = factories.charges(250)
    again = [factories.charge(5, status="refunded"), factories.charge(240, amount=1)]
    with store.begin_refresh(full=True) as txn:
        writer = txn.replace_dataset(CHARGES)
        for page in factories.pages(first + again + [factories.charge(5, amount=7)], 100):
            writer.add_page(page)
        writer.finish()
        txn.commit()
    assert count(store) == 250
    with store.reader() as reader:
        rows = reader.query(
            "SELECT id, status, amount FROM charges WHERE id IN (?, ?) ORDER BY id",
            ["ch_000000000000000000000005", "ch_000000000000000000000240"],
        ).rows
    assert rows == [
        ("ch_000000000000000000000005", "succeeded", 7),
        ("ch_000000000000000000000240", "succeeded", 1),
    ]


def test_the_writer_holds_no_objects_between_batches(store: DuckDBStore) -> None:
    with store.begin_refresh(full=True) as txn:
        writer = txn.replace_dataset(CHARGES)
        writer.add_page(factories.charges(150))
        assert writer.rows_written == 0  # still buffered: below the 200-row batch
        writer.add_page(factories.charges(100, start=150))
        assert writer.rows_written == 250  # one batch written
        assert writer.finish() == 250
        assert writer.finish() == 250
        with pytest.raises(RuntimeError):
            writer.add_page([factories.charge(1)])
        txn.commit()


def test_datasets_describe_rows_columns_state(filled: DuckDBStore) -> None:
    infos = {d.name: d for d in filled.datasets()}
    assert set(infos) == {"charges", "customers"}
    charges = infos["charges"]
    assert charges.rows == 500
    assert charges.columns[0].name == "id"
    assert charges.refreshed_at is not None
    assert charges.refreshed_at.tzinfo is not None
    assert charges.schema_version == schema_version(CHARGES)
    assert charges.schema_current
    assert infos["customers"].rows == 50
    assert charges.to_dict()["rows"] == 500


def test_query_errors_say_what_to_do(filled: DuckDBStore) -> None:
    with filled.reader() as reader:
        with pytest.raises(QueryFailed, match="charges, customers") as err:
            reader.query("SELECT nope FROM charges")
        assert "Check the SQL" in str(err.value)
        with pytest.raises(QueryFailed):
            reader.query("SELECT * FROM invoices")
    assert CUSTOMERS.name == "customers"


def test_a_writer_into_a_keyed_table_replaces_repeated_ids(tmp_path: Path) -> None:
    """``Tables`` on a plain connection (as other tools use it): a table created with its key
    takes batches with ids already present, keeping the newest copy."""
    con = duckdb.connect(str(tmp_path / "scratch.duckdb"))
    tables = Tables(con)
    tables.create(CHARGES)
    writer = ArrowDatasetWriter(tables, CHARGES, batch_rows=50)
    writer.add_page(factories.charges(80))
    writer.add_page([factories.charge(3, amount=1), factories.charge(3, amount=2)])
    writer.add_page(factories.charges(30, start=70))
    assert writer.finish() > 100
    assert tables.count(CHARGES) == 100
    rows = con.execute("SELECT amount FROM charges WHERE id = ?", [factories.charge(3)["id"]])
    assert rows.fetchall() == [(2,)]
    con.close()
