"""Derived tables: built into each version a refresh publishes, dropped when not asked for, and
given inline where a version lacks them — the same rows either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from flitch.store import DuckDBStore, MemoryDatasets
from flitch.store.derived import Derived, inline, needed
from tests.store import factories
from tests.store.conftest import CHARGES, CUSTOMERS, fill

PER_CURRENCY = Derived(
    "per_currency",
    "SELECT currency, count(*) AS n, sum(amount) AS gross FROM charges GROUP BY currency",
    ("charges",),
)
BIGGEST = Derived(
    "biggest",
    "SELECT currency FROM derived_per_currency ORDER BY gross DESC LIMIT 1",
    ("derived_per_currency",),
)
CUSTOMER_COUNT = Derived("customer_count", "SELECT count(*) AS n FROM customers", ("customers",))
ALL = (PER_CURRENCY, BIGGEST, CUSTOMER_COUNT)
ASK = "SELECT * FROM derived_per_currency ORDER BY currency"


def test_what_a_statement_needs_in_build_order() -> None:
    assert needed("SELECT * FROM derived_biggest", ALL) == [PER_CURRENCY, BIGGEST]
    assert needed("SELECT * FROM derived_biggest", ALL, lambda t: t == PER_CURRENCY.table) == [
        BIGGEST
    ]
    assert needed("SELECT * FROM derived_biggest", ALL, lambda t: True) == []
    # a name that only begins like one is not a read
    assert needed("SELECT * FROM derived_per_currency_old", ALL) == []
    assert needed("SELECT 1", ALL) == []


def test_inline_joins_the_statements_own_with_clause() -> None:
    plain = inline("SELECT * FROM derived_biggest", [PER_CURRENCY, BIGGEST])
    assert plain.startswith("WITH derived_per_currency AS MATERIALIZED (")
    assert plain.index("derived_per_currency AS") < plain.index("derived_biggest AS")
    joined = inline("  with x AS (SELECT 1) SELECT * FROM x, derived_biggest", [BIGGEST])
    assert joined.count("WITH") == 1
    assert "derived_biggest AS MATERIALIZED" in joined
    assert "x AS (SELECT 1)" in joined
    assert inline("SELECT 1", []) == "SELECT 1"
    # a statement's leading comments, and a recursive WITH, are kept whole
    commented = inline("-- top\n/* why */ WITH x AS (SELECT 1) SELECT 1", [PER_CURRENCY])
    assert commented.count("WITH") == 1
    recursive = inline("WITH RECURSIVE r(n) AS (SELECT 1) SELECT * FROM r", [PER_CURRENCY])
    assert recursive.startswith("WITH RECURSIVE derived_per_currency AS")


def test_inlined_statements_run() -> None:
    with MemoryDatasets() as memory:
        memory.load(CHARGES, factories.charges(30))
        for sql in (
            "-- the biggest\nSELECT * FROM derived_biggest",
            "-- note\nWITH x AS (SELECT 1 AS one) SELECT one, currency FROM x, derived_biggest",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT count(*) FROM r, derived_per_currency",
        ):
            assert memory.query(inline(sql, needed(sql, ALL, memory.has_table))).rows


def _rows(source: MemoryDatasets | DuckDBStore, sql: str) -> list[tuple[object, ...]]:
    if isinstance(source, DuckDBStore):
        with source.reader() as reader:
            statement = inline(sql, needed(sql, ALL, reader.has_table))
            return reader.query(statement).rows
    return source.query(inline(sql, needed(sql, ALL, source.has_table))).rows


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    return DuckDBStore(tmp_path / "cache", batch_rows=200, derived=ALL)


def test_a_refresh_builds_them_and_they_match_the_inline_rows(store: DuckDBStore) -> None:
    fill(store, 300)
    with store.reader() as reader:
        assert reader.has_table("derived_per_currency")
        assert reader.has_table("derived_biggest")
        # customers were not written: what reads them is left out
        assert not reader.has_table("derived_customer_count")
        # they are not datasets
        assert [d.name for d in reader.datasets()] == ["charges"]
        stored = reader.query(ASK).rows
    with MemoryDatasets() as memory:
        memory.load(CHARGES, factories.charges(300))
        assert not memory.has_table("derived_per_currency")
        assert _rows(memory, ASK) == stored
        assert _rows(memory, "SELECT * FROM derived_biggest") == _rows(
            store, "SELECT * FROM derived_biggest"
        )
    assert sum(int(r[1]) for r in stored) == 300


def test_each_refresh_builds_them_again_from_its_own_data(store: DuckDBStore) -> None:
    fill(store, 300)
    with store.begin_refresh(full=False) as txn:
        txn.upsert(CHARGES, factories.charges(50, start=300))
        txn.upsert(CUSTOMERS, [factories.customer(i) for i in range(7)])
        txn.commit()
    assert sum(int(r[1]) for r in _rows(store, ASK)) == 350
    assert _rows(store, "SELECT n FROM derived_customer_count") == [(7,)]


def test_a_version_without_them_answers_the_same(store: DuckDBStore, tmp_path: Path) -> None:
    fill(store, 300)
    before = _rows(store, "SELECT * FROM derived_biggest")
    # the same cache written by a store that was given no derived tables (or an older Flitch)
    plain = DuckDBStore(store.cache_dir)
    with plain.begin_refresh(full=False) as txn:
        txn.commit()
    with plain.reader() as reader:
        assert not reader.has_table("derived_per_currency")
        assert not reader.has_table("derived_biggest")
    assert _rows(store, "SELECT * FROM derived_biggest") == before


def test_one_that_fails_to_build_is_left_out_and_the_data_published(
    store: DuckDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    fill(store, 300)
    broken = DuckDBStore(
        store.cache_dir,
        derived=(Derived("bad", "SELECT nope FROM charges", ("charges",)), *ALL),
    )
    with broken.begin_refresh(full=False) as txn:
        txn.upsert(CHARGES, factories.charges(5, start=300))
        txn.commit()
    assert "could not build derived_bad" in caplog.text
    with store.reader() as reader:
        assert not reader.has_table("derived_bad")
        assert reader.has_table("derived_per_currency")
    assert sum(int(r[1]) for r in _rows(store, ASK)) == 305
