"""Flitch SQL reads the datasets and nothing else."""

from __future__ import annotations

import duckdb
import pytest

from flitch.store import DuckDBStore, MemoryDatasets, QueryFailed, QueryRefused
from flitch.store.sqlguard import check_read_only, is_read_only, referenced_tables
from tests.store import factories
from tests.store.conftest import CHARGES

REFUSED = [
    "COPY charges TO '/tmp/out.csv'",
    "COPY (SELECT * FROM charges) TO '/tmp/out.parquet' (FORMAT parquet)",
    "COPY charges FROM '/tmp/in.csv'",
    "ATTACH '/tmp/other.duckdb' AS other",
    "DETACH flitch",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA version",
    "PRAGMA enable_profiling",
    "SET threads = 1",
    "SET enable_external_access = true",
    "RESET TimeZone",
    "USE memory",
    "CREATE TABLE x AS SELECT * FROM charges",
    "CREATE TEMP TABLE x (a INT)",
    "CREATE VIEW v AS SELECT 1",
    "CREATE MACRO m(x) AS x + 1",
    "INSERT INTO charges (id) VALUES ('ch_x')",
    "UPDATE charges SET amount = 0",
    "DELETE FROM charges",
    "DROP TABLE charges",
    "ALTER TABLE charges ADD COLUMN x INT",
    "CALL pragma_version()",
    "CHECKPOINT",
    "EXPORT DATABASE '/tmp/dump'",
    "VACUUM",
    "BEGIN TRANSACTION",
    "PREPARE p AS SELECT 1",
    "EXPLAIN SELECT * FROM charges",
    "EXPLAIN ANALYZE SELECT * FROM charges",
    "SELECT 1; SELECT 2",
    "SELECT * FROM charges; DROP TABLE charges",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_parquet('s3://bucket/data.parquet')",
    "SELECT * FROM read_json('https://example.com/x.json')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'https://example.com/data.csv'",
    "FROM 'data.parquet'",
    "SELECT * FROM parquet_scan('x.parquet')",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM query_table('charges')",
    "SELECT (SELECT count(*) FROM read_csv('/etc/passwd')) AS n",
    "WITH f AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM f",
    "SELECT * FROM charges WHERE id IN (SELECT * FROM glob('*'))",
    "PIVOT charges ON status USING sum(amount)",
    "",
    "   ;  ",
]

ALLOWED = [
    "SELECT * FROM charges",
    "select id, amount from charges where status = 'succeeded' order by created desc limit 5",
    "FROM charges SELECT count(*)",
    "WITH paid AS (SELECT * FROM charges WHERE paid) SELECT currency, sum(amount) FROM paid "
    "GROUP BY currency",
    "SELECT c.id, u.email FROM charges c JOIN customers u ON u.id = c.customer",
    "SELECT c.id FROM charges c LEFT JOIN customers u USING (id) WHERE u.id IS NULL",
    "SELECT id, sum(amount) OVER (PARTITION BY customer ORDER BY created) FROM charges",
    "SELECT customer, row_number() OVER w FROM charges WINDOW w AS (ORDER BY created)",
    "SELECT * FROM charges QUALIFY row_number() OVER (PARTITION BY customer ORDER BY created) = 1",
    "SELECT date_trunc('month', created) AS m, count(*), avg(amount) FROM charges GROUP BY 1",
    "SELECT status, count(*) FROM charges GROUP BY ALL HAVING count(*) > 1",
    "SELECT * FROM range(10)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT unnest([1, 2, 3])",
    "SELECT metadata->>'order' FROM charges",
    "SELECT * FROM (VALUES (1, 'a')) v(n, s)",
    "SELECT 1 UNION ALL SELECT 2",
    "DESCRIBE charges",
    "SUMMARIZE charges",
    "SHOW TABLES",
    "PIVOT charges ON status IN ('succeeded', 'failed') USING sum(amount) GROUP BY currency",
    "SELECT * FROM charges;",
    "SELECT * FROM flitch.main.charges",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_statements_that_are_not_one_read_are_refused(sql: str) -> None:
    with pytest.raises(QueryRefused) as err:
        check_read_only(sql)
    text = str(err.value)
    assert err.value.fix, "every refusal says what to do next"
    assert "SELECT" in text
    assert not is_read_only(sql)


@pytest.mark.parametrize("sql", ALLOWED)
def test_reads_are_allowed(sql: str) -> None:
    assert check_read_only(sql)


def test_the_refusal_names_the_statement() -> None:
    with pytest.raises(QueryRefused, match="COPY statement") as err:
        check_read_only("COPY charges TO 'x.csv'")
    assert "export" in err.value.fix
    with pytest.raises(QueryRefused, match=r"read_csv\(\)"):
        check_read_only("SELECT * FROM read_csv('x.csv')")
    with pytest.raises(QueryRefused, match="one statement"):
        check_read_only("SELECT 1; SELECT 2")


def test_unparsable_sql_is_a_query_error() -> None:
    with pytest.raises(QueryFailed, match="could not be parsed"):
        check_read_only("SELEC * FROM charges")


def test_the_guard_runs_before_every_query(tmp_path: object) -> None:
    with MemoryDatasets() as mem:
        mem.load(CHARGES, factories.charges(3))
        for sql in ("DROP TABLE charges", "DELETE FROM charges", "COPY charges TO 'x.csv'"):
            with pytest.raises(QueryRefused):
                mem.query(sql)
        assert mem.query("SELECT count(*) FROM charges").rows == [(3,)]


@pytest.mark.parametrize("sql", ["DESCRIBE charges", "SUMMARIZE charges", "SHOW TABLES"])
def test_allowed_special_selects_run(filled: DuckDBStore, sql: str) -> None:
    with filled.reader() as reader:
        assert reader.query(sql).rows


def test_the_connection_is_locked_even_without_the_guard(filled: DuckDBStore) -> None:
    """Structural lock: the reader's own connection refuses writes and file access."""
    snapshot = filled.reader().snapshot()
    with snapshot._cursor() as cur:
        for sql in (
            "DELETE FROM charges",
            "SELECT * FROM read_csv('/etc/passwd')",
            "COPY charges TO '/tmp/flitch-should-not-exist.csv'",
            "SET enable_external_access = true",
            "ATTACH '/tmp/flitch-other.duckdb' AS other",
        ):
            with pytest.raises(duckdb.Error, match=r"read-only|disabled|locked|Permission"):
                cur.execute(sql)
    snapshot.close()


def test_referenced_tables() -> None:
    assert referenced_tables("SELECT * FROM charges") == {"charges"}
    assert referenced_tables(
        "WITH x AS (SELECT * FROM Charges) SELECT * FROM x JOIN customers c ON c.id = x.customer"
    ) == {"charges", "customers"}
    assert referenced_tables(
        "SELECT (SELECT count(*) FROM invoices), * FROM subscriptions "
        "WHERE customer IN (SELECT id FROM customers)"
    ) == {"invoices", "subscriptions", "customers"}
    assert referenced_tables("SELECT 1") == set()
    with pytest.raises(QueryFailed):
        referenced_tables("SELEC 1")


def test_accepted_sql_is_remembered_and_refused_sql_is_checked_each_time() -> None:
    sql = "SELECT status, count(*) FROM charges GROUP BY status"
    assert check_read_only(sql) == check_read_only(sql)
    for _ in range(2):
        with pytest.raises(QueryRefused):
            check_read_only("DELETE FROM charges")
