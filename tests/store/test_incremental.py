"""Incremental refreshes: build on the current version, change rows by id, keep refresh state."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from flitch import catalog
from flitch.catalog import ColumnType
from flitch.store import DuckDBStore, StoreCorrupt
from tests.store import factories
from tests.store.conftest import CHARGES, CUSTOMERS, count, fill


def test_upsert_inserts_new_ids_and_replaces_existing(filled: DuckDBStore) -> None:
    with filled.begin_refresh(full=False) as txn:
        assert not txn.full
        changed = [factories.charge(3, status="refunded", refunded=True), factories.charge(9000)]
        assert txn.upsert(CHARGES, changed) == 2
        txn.commit()
    assert count(filled) == 501
    with filled.reader() as reader:
        row = reader.query(
            "SELECT status, refunded FROM charges WHERE id = 'ch_000000000000000000000003'"
        ).rows
    assert row == [("refunded", True)]
    assert count(filled, "customers") == 50  # untouched datasets carried over


def test_delete_by_id(filled: DuckDBStore) -> None:
    with filled.begin_refresh(full=False) as txn:
        gone = txn.delete(CUSTOMERS, ["cus_00000000000001", "cus_00000000000002", "cus_nope"])
        assert gone == 2
        assert txn.delete(CUSTOMERS, []) == 0
        assert txn.delete(catalog.get("invoices"), ["in_1"]) == 0
        txn.commit()
    assert count(filled, "customers") == 48
    assert {d.name: d.rows for d in filled.datasets()}["customers"] == 48


def test_a_full_refresh_starts_empty_and_keeps_only_what_it_is_told(filled: DuckDBStore) -> None:
    with filled.begin_refresh(full=True) as txn:
        assert not txn.has_dataset(CHARGES)
        assert txn.keep_dataset(CUSTOMERS)
        assert not txn.keep_dataset(catalog.get("invoices"))
        txn.replace_dataset(CHARGES).add_page(factories.charges(10))
        txn.commit()
    infos = {d.name: d for d in filled.datasets()}
    assert set(infos) == {"charges", "customers"}
    assert infos["charges"].rows == 10
    assert infos["customers"].rows == 50
    with filled.begin_refresh(full=True) as txn:
        txn.replace_dataset(CHARGES).add_page(factories.charges(3))
        txn.commit()
    assert [d.name for d in filled.datasets()] == ["charges"]


def test_drop_dataset_removes_it_from_the_next_version(filled: DuckDBStore) -> None:
    with filled.begin_refresh(full=False) as txn:
        assert txn.has_dataset(CUSTOMERS)
        txn.drop_dataset(CUSTOMERS)
        assert not txn.has_dataset(CUSTOMERS)
        txn.commit()
    assert [d.name for d in filled.datasets()] == ["charges"]


def test_refresh_state_is_kept_until_changed(store: DuckDBStore) -> None:
    fill(store, 10)
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with store.begin_refresh(full=False) as txn:
        assert txn.get_state(CHARGES) is not None
        txn.set_state(CHARGES, refreshed_at=when, cursor={"events_after": "evt_9", "t": 17})
        txn.commit()
    charges = {d.name: d for d in store.datasets()}["charges"]
    assert charges.refreshed_at == when
    assert charges.cursor == {"events_after": "evt_9", "t": 17}
    # An incremental refresh that changes rows but not the cursor keeps it, and stamps its start.
    with store.begin_refresh(full=False) as txn:
        state = txn.get_state(CHARGES)
        assert state is not None
        assert state.cursor == {"events_after": "evt_9", "t": 17}
        txn.upsert(CHARGES, [factories.charge(77)])
        txn.commit()
    charges = {d.name: d for d in store.datasets()}["charges"]
    assert charges.cursor == {"events_after": "evt_9", "t": 17}
    assert charges.refreshed_at is not None
    assert charges.refreshed_at > when
    assert charges.rows == 11
    # Replacing a dataset starts its state over.
    with store.begin_refresh(full=False) as txn:
        txn.replace_dataset(CHARGES).add_page(factories.charges(4))
        txn.commit()
    charges = {d.name: d for d in store.datasets()}["charges"]
    assert charges.cursor is None
    assert charges.rows == 4


def test_state_of_a_kept_dataset_is_carried_over(filled: DuckDBStore) -> None:
    with filled.begin_refresh(full=False) as txn:
        txn.set_state(CUSTOMERS, cursor=[1, 2])
        txn.commit()
    before = {d.name: d for d in filled.datasets()}["customers"]
    with filled.begin_refresh(full=True) as txn:
        txn.keep_dataset(CUSTOMERS)
        txn.commit()
    after = {d.name: d for d in filled.datasets()}["customers"]
    assert after == before


def test_a_replaced_writer_left_open_is_discarded(store: DuckDBStore) -> None:
    with store.begin_refresh(full=True) as txn:
        txn.replace_dataset(CHARGES).add_page(factories.charges(30))
        txn.replace_dataset(CHARGES).add_page(factories.charges(5))
        txn.replace_dataset(CUSTOMERS).add_page([factories.customer(1)])
        txn.drop_dataset(CUSTOMERS)
        txn.commit()
    assert {d.name: d.rows for d in store.datasets()} == {"charges": 5}


def test_a_dataset_stored_for_another_catalog_needs_a_full_refresh(store: DuckDBStore) -> None:
    fill(store, 10)
    grown = replace(
        CHARGES,
        columns=(
            *CHARGES.columns,
            catalog.Column("receipt_email", ColumnType.TEXT, "receipt_email", ""),
        ),
    )
    infos = store.datasets()
    assert infos[0].schema_current
    with store.begin_refresh(full=False) as txn:
        assert not txn.has_dataset(grown)
        with pytest.raises(StoreCorrupt, match="full refresh"):
            txn.upsert(grown, [factories.charge(1)])
        writer = txn.replace_dataset(grown)
        writer.add_page([factories.charge(1, receipt_email="a@b.c")])
        txn.commit()
    with store.reader() as reader:
        assert reader.query("SELECT receipt_email FROM charges").rows == [("a@b.c",)]


def test_an_incremental_refresh_without_a_current_version_starts_empty(store: DuckDBStore) -> None:
    with store.begin_refresh(full=False) as txn:
        assert txn.full
        txn.upsert(CHARGES, [factories.charge(1)])
        txn.commit()
    assert count(store) == 1


def test_the_refresh_reads_its_own_writes(store: DuckDBStore) -> None:
    fill(store, 10)
    with store.begin_refresh(full=False) as txn:
        txn.upsert(CHARGES, [factories.charge(500)])
        newest = txn.query("SELECT max(epoch(created))::BIGINT FROM charges").rows[0][0]
        assert newest == factories.charge(500)["created"]
        writer = txn.replace_dataset(CUSTOMERS)
        writer.add_page([factories.customer(i) for i in range(3)])
        # An upsert into a dataset whose writer is still open finishes that writer first.
        txn.upsert(CUSTOMERS, [factories.customer(1, email="new@example.com")])
        assert txn.query("SELECT count(*) FROM customers").rows == [(3,)]
        txn.commit()
    with store.reader() as reader:
        rows = reader.query("SELECT email FROM customers WHERE id = 'cus_00000000000001'").rows
    assert rows == [("new@example.com",)]


def test_writers_fed_from_several_threads(store: DuckDBStore) -> None:
    specs = [CHARGES, CUSTOMERS, catalog.get("coupons")]
    makers = [factories.charge, factories.customer, factories.coupon]
    with store.begin_refresh(full=True) as txn:
        writers = [txn.replace_dataset(spec) for spec in specs]

        def feed(index: int) -> None:
            for start in range(0, 600, 50):
                writers[index].add_page([makers[index](i) for i in range(start, start + 50)])
            writers[index].finish()

        threads = [threading.Thread(target=feed, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        txn.commit()
    assert {d.name: d.rows for d in store.datasets()} == {
        "charges": 600,
        "customers": 600,
        "coupons": 600,
    }
