"""Child tables (a subscription's items, an invoice's lines…) follow their dataset everywhere:
bulk loads, upserts, deletes, drops, carried-over versions, live and cached alike."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flitch import catalog
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from flitch.store import DuckDBStore, MemoryDatasets, QueryFailed, StoreCorrupt
from flitch.store.loading import ArrowDatasetWriter, Tables
from flitch.store.schema import STORE_FORMAT, schema_version
from tests.conftest import TEST_KEY
from tests.store import factories

SUBS = catalog.get("subscriptions")
INVOICES = catalog.get("invoices")
CHILD_SQL = {
    "subscription_items": "SELECT subscription, id, price, quantity FROM subscription_items",
    "subscription_discounts": "SELECT subscription, id, coupon FROM subscription_discounts",
    "invoice_lines": "SELECT invoice, id, amount, proration, truncated FROM invoice_lines",
    "invoice_discount_amounts": "SELECT invoice, discount, amount FROM invoice_discount_amounts",
}


def sub(i: int, items: int = 1, **overrides: Any) -> dict[str, Any]:
    """A subscription with ``items`` items and a discount."""
    obj = factories.subscription(i, **overrides)
    first = obj["items"]["data"][0]
    obj["items"]["data"] = [
        {**first, "id": f"si_{i:014d}_{n}", "quantity": n + 1} for n in range(items)
    ]
    obj["discounts"] = [{"id": f"di_{i}", "source": {"type": "coupon", "coupon": f"CPN{i % 3}"}}]
    return obj


def rows(source: Any, child: str) -> list[tuple[Any, ...]]:
    return sorted(source.query(CHILD_SQL[child]).rows, key=repr)


def expected(objects: list[dict[str, Any]], child: str) -> list[tuple[Any, ...]]:
    """What the child table should hold for these objects, written by hand from the JSON."""
    out: list[tuple[Any, ...]] = []
    for o in objects:
        if child == "subscription_items":
            out += [(o["id"], i["id"], "price_basic", i["quantity"]) for i in o["items"]["data"]]
        elif child == "subscription_discounts":
            out += [(o["id"], d["id"], d["source"]["coupon"]) for d in o["discounts"]]
        elif child == "invoice_lines":
            more = o["lines"]["has_more"]
            out += [
                (
                    o["id"],
                    line["id"],
                    line["amount"],
                    line["parent"]["subscription_item_details"]["proration"],
                    more,
                )
                for line in o["lines"]["data"]
            ]
        else:
            out += [(o["id"], d["discount"], d["amount"]) for d in o["total_discount_amounts"]]
    return sorted(out, key=repr)


def check_all(source: Any, subs: list[dict[str, Any]], invoices: list[dict[str, Any]]) -> None:
    for child in ("subscription_items", "subscription_discounts"):
        assert rows(source, child) == expected(subs, child), child
    for child in ("invoice_lines", "invoice_discount_amounts"):
        assert rows(source, child) == expected(invoices, child), child


SUB_OBJECTS = [sub(i, items=1 + i % 3) for i in range(40)]
INVOICE_OBJECTS = [factories.invoice(i, lines=i % 4) for i in range(40)]


def write(store: DuckDBStore, subs: list[Any], invoices: list[Any]) -> None:
    with store.begin_refresh(full=True) as txn:
        for spec, objects in ((SUBS, subs), (INVOICES, invoices)):
            writer = txn.replace_dataset(spec)
            for page in factories.pages(objects, 7):
                writer.add_page(page)
            writer.finish()
        txn.commit()


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    # small batches, so that a load spans several of them
    return DuckDBStore(tmp_path / "cache", batch_rows=9)


@pytest.fixture
def written(store: DuckDBStore) -> DuckDBStore:
    write(store, SUB_OBJECTS, INVOICE_OBJECTS)
    return store


def test_a_refresh_writes_child_rows_and_live_datasets_the_same(written: DuckDBStore) -> None:
    with written.reader() as reader:
        check_all(reader, SUB_OBJECTS, INVOICE_OBJECTS)
        cached = {c: rows(reader, c) for c in CHILD_SQL}
        assert len(cached["subscription_items"]) == 14 * 1 + 13 * 2 + 13 * 3
        assert len(cached["invoice_lines"]) == 10 * (0 + 1 + 2 + 3)
    with MemoryDatasets(batch_rows=9) as live:
        live.load(SUBS, SUB_OBJECTS)
        live.load(INVOICES, INVOICE_OBJECTS)
        assert {c: rows(live, c) for c in CHILD_SQL} == cached


def test_child_tables_are_typed_and_not_datasets(written: DuckDBStore) -> None:
    with written.reader() as reader:
        assert [d.name for d in reader.datasets()] == ["invoices", "subscriptions"]
        types = dict(
            reader.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'invoice_lines'"
            ).rows
        )
    assert types["amount"] == "BIGINT"
    assert types["period_start"] == "TIMESTAMP WITH TIME ZONE"
    assert types["proration"] == "BOOLEAN"
    assert "raw" not in types


def test_an_object_listed_twice_keeps_the_child_rows_of_its_last_copy(store: DuckDBStore) -> None:
    """Stripe's lists shift while paging: an object can come twice, in different batches or
    in the same one. Its child rows are those of the copy kept (the last one)."""
    changed = sub(3, items=5)  # the same subscription, with five items now
    again = factories.invoice(5, lines=1)
    subs = [*SUB_OBJECTS, changed, sub(7, items=2), sub(7, items=3)]
    invoices = [*INVOICE_OBJECTS, again]
    write(store, subs, invoices)
    latest = {o["id"]: o for o in subs}
    latest_invoices = {o["id"]: o for o in invoices}
    with store.reader() as reader:
        check_all(reader, list(latest.values()), list(latest_invoices.values()))


def test_a_keyed_table_keeps_the_child_rows_of_the_newest_copy(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "scratch.duckdb"))
    tables = Tables(con)
    tables.create(SUBS)
    writer = ArrowDatasetWriter(tables, SUBS, batch_rows=50)
    writer.add_page([sub(1, items=2), sub(2), sub(1, items=3)])
    writer.add_page([sub(2, items=4)])
    writer.finish()
    found = con.execute(
        "SELECT subscription, count(*) FROM subscription_items GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert found == [(sub(1)["id"], 3), (sub(2)["id"], 4)]
    con.close()


def test_upsert_replaces_and_delete_removes_child_rows(written: DuckDBStore) -> None:
    fewer = sub(4, items=1)
    fewer["discounts"] = []
    more = factories.invoice(6, lines=3)
    new = sub(100, items=2)
    with written.begin_refresh(full=False) as txn:
        assert txn.upsert(SUBS, [fewer, new]) == 2
        assert txn.upsert(INVOICES, [more]) == 1
        assert txn.delete(SUBS, [sub(9)["id"], "sub_gone"]) == 1
        assert txn.delete(INVOICES, [factories.invoice(7)["id"]]) == 1
        txn.commit()
    subs = {o["id"]: o for o in SUB_OBJECTS}
    subs.update({fewer["id"]: fewer, new["id"]: new})
    del subs[sub(9)["id"]]
    invoices = {o["id"]: o for o in INVOICE_OBJECTS}
    invoices[more["id"]] = more
    del invoices[factories.invoice(7)["id"]]
    with written.reader() as reader:
        check_all(reader, list(subs.values()), list(invoices.values()))


def test_live_upserts_and_deletes_keep_child_rows_in_step() -> None:
    with MemoryDatasets() as live:
        live.load(SUBS, SUB_OBJECTS[:5])
        live.upsert(SUBS, [sub(2, items=4)])
        live.delete(SUBS, [sub(3)["id"]])
        kept = [sub(0, items=1), sub(1, items=2), sub(2, items=4), sub(4, items=2)]
        assert rows(live, "subscription_items") == expected(kept, "subscription_items")
        live.drop_dataset(SUBS)
        with pytest.raises(QueryFailed):
            live.query("SELECT * FROM subscription_items")


def test_drop_and_carry_over(written: DuckDBStore) -> None:
    with written.begin_refresh(full=True) as txn:
        assert txn.keep_dataset(INVOICES)
        txn.replace_dataset(SUBS).add_page(SUB_OBJECTS[:3])
        txn.commit()
    with written.reader() as reader:
        check_all(reader, SUB_OBJECTS[:3], INVOICE_OBJECTS)
    with written.begin_refresh(full=False) as txn:
        txn.drop_dataset(INVOICES)
        txn.commit()
    with written.reader() as reader:
        found = reader.query("SELECT table_name FROM information_schema.tables").rows
        tables = {r[0] for r in found}
    assert "invoice_lines" not in tables
    assert "invoice_discount_amounts" not in tables
    assert "subscription_items" in tables


def make_old(store: DuckDBStore) -> None:
    """Turn the cache into one written before child tables existed: no child tables, and
    the datasets' layout fingerprint from then."""
    con = duckdb.connect(str(store.current_path))
    for child in catalog.CHILDREN:
        con.execute(f"DROP TABLE {child.name}")
    con.execute("UPDATE _flitch_datasets SET schema_version = '1-0123456789ab'")
    con.close()


def test_an_old_cache_asks_for_a_refresh(written: DuckDBStore) -> None:
    make_old(written)
    with written.reader() as reader:
        infos = {d.name: d for d in reader.datasets()}
        assert not infos["subscriptions"].schema_current
        with pytest.raises(QueryFailed) as err:
            reader.query("SELECT count(*) FROM subscription_items")
    assert "flitch refresh" in err.value.fix
    assert "subscription_items" in err.value.fix
    with written.begin_refresh(full=False) as txn, pytest.raises(StoreCorrupt):
        txn.upsert(SUBS, [sub(1)])


@pytest.mark.parametrize("full", [True, False])
def test_a_dataset_carried_over_from_an_old_cache_gets_its_child_rows(
    written: DuckDBStore, full: bool
) -> None:
    """Kept as it was (not refreshed this time, or its read failed), a dataset written before
    child tables existed has them rebuilt from its stored objects, so metrics still run."""
    make_old(written)
    with written.begin_refresh(full=full) as txn:
        assert txn.keep_dataset(SUBS)
        assert txn.keep_dataset(INVOICES)
        assert not txn.has_dataset(SUBS)  # still the old layout: the next refresh reads it
        txn.commit()
    with written.reader() as reader:
        check_all(reader, SUB_OBJECTS, INVOICE_OBJECTS)
        assert not {d.name: d for d in reader.datasets()}["subscriptions"].schema_current


def test_the_layout_fingerprint_covers_child_tables() -> None:
    """Adding child tables asks for a full refresh of their datasets only: the others keep
    the fingerprint of their own columns."""

    def own_columns_only(spec: catalog.ObjectSpec) -> str:
        layout = ",".join(f"{c.name}:{c.type.value}" for c in spec.columns)
        return f"{STORE_FORMAT}-{hashlib.sha256(layout.encode()).hexdigest()[:12]}"

    for spec in catalog.OBJECTS:
        assert (schema_version(spec) == own_columns_only(spec)) is (not spec.children)


# -- the emulator's objects, live through the query engine ----------------------------------
@pytest.fixture
def service(tmp_path: Path, emulator: Emulator) -> Iterator[ConnectionService]:
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


def test_child_tables_answer_sql_live_on_the_emulator(
    emulator: Emulator, service: ConnectionService
) -> None:
    """``flitch sql`` over a child table reads its dataset (whole) and answers from the rows
    written with it; the emulator embeds every line (it never truncates a list)."""

    async def go() -> list[Any]:
        engine = QueryEngine(service.settings, service)
        try:
            answers = []
            for sql in (
                "SELECT count(*), count(*) FILTER (WHERE truncated) FROM invoice_lines",
                "SELECT sum(json_array_length(raw->'$.lines.data')) FROM invoices",
                "SELECT sum(json_array_length(raw->'$.items.data')) FROM subscriptions "
                "WHERE status = 'active'",
                "SELECT count(*) FROM subscription_items i JOIN subscriptions s "
                "ON s.id = i.subscription WHERE s.status = 'active'",
            ):
                emulator.log.clear()
                answers.append((await engine.sql("shop", sql)).result.rows[0])
            return answers
        finally:
            await engine.aclose()

    lines, from_json, items_json, items = asyncio.run(go())
    assert lines[0] > 0
    assert lines[0] == from_json[0]
    assert lines[1] == 0
    assert items[0] > 0
    assert items[0] == items_json[0]
    # for the join, subscriptions were read whole: a read narrowed by the SQL's conditions on
    # them would narrow the child rows too
    reads = [e.query for e in emulator.log.entries if e.path == "/v1/subscriptions"]
    assert reads
    assert all("active" not in q for q in reads)
