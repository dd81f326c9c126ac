"""Reading the cache: queries, pages of a dataset, exports, and live/cached parity."""

from __future__ import annotations

import csv
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from flitch import catalog
from flitch.store import (
    DatasetMissing,
    DuckDBStore,
    MemoryDatasets,
    QueryFailed,
    QueryRefused,
    TableQuery,
)
from tests.store import factories
from tests.store.conftest import CHARGES, CUSTOMERS

SQL = [
    "SELECT * FROM charges ORDER BY id",
    "SELECT currency, date_trunc('day', created) AS day, count(*) AS n, sum(amount) AS gross, "
    "sum(amount_refunded) AS refunded FROM charges GROUP BY ALL ORDER BY ALL",
    "SELECT u.email, count(c.id) AS n, max(c.created) AS last FROM customers u "
    "LEFT JOIN charges c ON c.customer = u.id GROUP BY u.email ORDER BY u.email",
    "WITH r AS (SELECT customer, amount, rank() OVER (PARTITION BY customer ORDER BY amount DESC)"
    " AS k FROM charges) SELECT * FROM r WHERE k = 1 ORDER BY customer",
    "SELECT metadata, metadata->>'order' AS o, raw->'payment_method_details' AS pm, "
    "avg(amount) OVER () AS mean FROM charges ORDER BY id LIMIT 20",
]


def test_same_sql_same_answer_live_and_cached(filled: DuckDBStore) -> None:
    with MemoryDatasets(batch_rows=64) as live, filled.reader() as cached:
        writer = live.replace_dataset(CHARGES)
        for page in factories.pages(factories.charges(500), 37):
            writer.add_page(page)
        writer.finish()
        live.upsert(CUSTOMERS, [factories.customer(i) for i in range(50)])
        for sql in SQL:
            a, b = live.query(sql), cached.query(sql)
            assert a == b, sql
            assert a.rows
        assert [d.name for d in live.datasets()] == ["charges", "customers"]
        assert {d.name: d.rows for d in live.datasets()} == {
            d.name: d.rows for d in cached.datasets()
        }


def test_result_values_are_plain_python(filled: DuckDBStore) -> None:
    with filled.reader() as reader:
        result = reader.query(
            "SELECT sum(amount) AS total, 1.25 AS dec, created::TIMESTAMP AS naive, "
            "interval 90 minute AS gap, [created] AS ts_list, {'a': metadata} AS st, "
            "'00000000-0000-0000-0000-000000000001'::UUID AS u, '\\x01'::BLOB AS b "
            "FROM charges GROUP BY created, metadata ORDER BY created LIMIT 1"
        )
    row = result.dicts()[0]
    assert row["total"] == 1000
    assert isinstance(row["total"], int)
    assert row["dec"] == 1.25
    assert row["naive"] == "2023-11-14T22:13:20"
    assert row["gap"] == 5400.0
    assert row["ts_list"] == ["2023-11-14T22:13:20Z"]
    assert row["u"] == "00000000-0000-0000-0000-000000000001"
    assert isinstance(row["b"], str)
    assert result.to_dict()["columns"][0] == {"name": "total", "type": "HUGEINT"}


def test_max_rows_truncates(filled: DuckDBStore) -> None:
    with filled.reader() as reader:
        result = reader.query("SELECT id FROM charges", max_rows=10)
        assert len(result.rows) == 10
        assert result.truncated
        assert not reader.query("SELECT id FROM charges", max_rows=500).truncated


def test_query_params(filled: DuckDBStore) -> None:
    with filled.reader() as reader:
        assert reader.query(
            "SELECT count(*) FROM charges WHERE currency = ? AND amount > ?", ["eur", 1400]
        ).rows == [(33,)]
        assert reader.query(
            "SELECT count(*) FROM charges WHERE currency = $cur", {"cur": "eur"}
        ).rows == [(167,)]


def test_table_pages_sorted_and_filtered(filled: DuckDBStore) -> None:
    with filled.reader() as reader:
        first = reader.table(CHARGES, TableQuery(columns=["id", "amount"], limit=3))
        assert first.total == 500
        assert [r[0][-3:] for r in first.result.rows] == ["499", "498", "497"]
        page = reader.table(
            CHARGES,
            TableQuery(
                order_by="amount", descending=False, limit=5, offset=5, equals={"currency": "eur"}
            ),
        )
        assert page.total == 167
        assert [r[0] for r in page.result.rows] == [
            factories.charge(i)["id"] for i in (15, 18, 21, 24, 27)
        ]
        start = factories.BASE_TIME + 100 * 60
        ranged = reader.table(
            CHARGES,
            TableQuery(
                created_from=datetime.fromtimestamp(start, UTC),
                created_to=start + 660,
                equals={"failure_code": None},
                columns=["id"],
            ),
        )
        assert ranged.total == 10  # charges 100..110, less 110 (failed: it has a failure code)
        nulls = reader.table(CUSTOMERS, TableQuery(order_by="description"))
        assert nulls.total == 50


@pytest.mark.parametrize(
    "request_",
    [
        TableQuery(order_by="amount; DROP TABLE charges"),
        TableQuery(columns=["id", "nope"]),
        TableQuery(equals={"1=1 OR id": "x"}),
        TableQuery(limit=-1),
    ],
)
def test_table_refuses_unknown_columns(filled: DuckDBStore, request_: TableQuery) -> None:
    with filled.reader() as reader, pytest.raises(QueryFailed) as err:
        reader.table(CHARGES, request_)
    assert err.value.fix


def test_table_of_a_dataset_never_refreshed(filled: DuckDBStore) -> None:
    with filled.reader() as reader, pytest.raises(DatasetMissing) as err:
        reader.table(catalog.get("invoices"))
    assert "refresh" in err.value.fix


def test_export_csv_and_parquet_read_back(filled: DuckDBStore, tmp_path: Path) -> None:
    tmp_path = tmp_path / "exports"
    with filled.reader() as reader:
        done = reader.export(CHARGES, "parquet", tmp_path / "out" / "charges.parquet")
        assert done.rows == 500
        con = duckdb.connect()
        back = con.execute(
            "SELECT count(*), sum(amount), min(created) FROM read_parquet(?)", [str(done.path)]
        ).fetchall()
        assert back[0][:2] == (500, sum(1000 + i for i in range(500)))
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(done.path)])
        types = {row[0]: row[1] for row in described.fetchall()}
        assert types["amount"] == "BIGINT"
        assert types["created"] == "TIMESTAMP WITH TIME ZONE"
        assert types["paid"] == "BOOLEAN"
        sql = "SELECT id, amount, created, metadata FROM charges WHERE currency = ? ORDER BY id"
        done = reader.export(sql, "csv", tmp_path / "eur.csv", ["eur"])
        assert done.rows == 167
        with open(done.path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 167
        assert rows[0]["id"] == "ch_000000000000000000000000"
        assert rows[0]["amount"] == "1000"
        assert rows[0]["created"].startswith("2023-11-14 22:13:20")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["eur.csv", "out"]
        with pytest.raises(QueryRefused):
            reader.export("COPY charges TO 'x.csv'", "csv", tmp_path / "x.csv")
        with pytest.raises(DatasetMissing):
            reader.export(catalog.get("payouts"), "csv", tmp_path / "p.csv")
        with pytest.raises(QueryFailed):
            reader.export("SELECT nope FROM charges", "parquet", tmp_path / "bad.parquet")
        assert not (tmp_path / "bad.parquet").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["eur.csv", "out"]


def test_one_reader_serves_many_threads(filled: DuckDBStore) -> None:
    reader = filled.reader()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert reader.query("SELECT count(*) FROM charges").rows == [(500,)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    reader.close()
    assert errors == []
