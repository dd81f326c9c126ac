"""Flitch SQL cannot look into DuckDB's catalog or settings: they name the cache's path.

The reader's connection is locked (no file, no network, no writes), but DuckDB's catalog views
(``duckdb_databases``, ``pragma_database_list``, ``pg_settings``…) and ``current_setting()``
still answered with the cache file's path and the engine's settings. The datasets, their child
and derived tables, ``information_schema`` (names and types only), ``DESCRIBE``/``SHOW TABLES``
and plain functions stay allowed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flitch.store import DuckDBStore, QueryRefused
from flitch.store.sqlguard import check_read_only
from tests.store.conftest import fill

INTROSPECTION = [
    "SELECT * FROM pg_settings",
    "SELECT name, setting FROM pg_catalog.pg_settings WHERE name LIKE '%directory%'",
    "SELECT * FROM duckdb_databases",
    "SELECT path FROM system.main.duckdb_databases",
    "SELECT * FROM duckdb_databases()",
    "SELECT * FROM pragma_database_list",
    "SELECT * FROM PRAGMA_DATABASE_LIST",
    'SELECT * FROM "pragma_database_list"',
    "SELECT * FROM pragma_database_list()",
    "SELECT current_setting('temp_directory')",
    "SELECT current_setting('allowed_paths')",
    "SELECT CURRENT_SETTING('threads')",
    "SELECT current_setting('Time' || 'Zone')",
    "SELECT current_setting(name) FROM (SELECT 'temp_directory' AS name)",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM pg_database",
    "SELECT * FROM pg_catalog.pg_namespace",
    "SELECT * FROM duckdb_tables",
    "SELECT sql FROM sqlite_master",
    "SHOW databases",
    "SHOW ALL TABLES",
    "SELECT * FROM charges WHERE id IN (SELECT path FROM duckdb_databases)",
    "WITH d AS (SELECT * FROM pragma_database_list) SELECT * FROM d",
    "SELECT getvariable('x')",
    "SELECT write_log('x')",
    "SELECT pg_sleep(10)",
    "DESCRIBE SELECT * FROM pg_settings",
    "SELECT * FROM system.information_schema.tables",
    "SELECT * FROM memory.main.x",
    "SELECT * FROM temp.main.x",
    "PRAGMA database_list",
    "CALL pragma_database_list()",
]

STILL_ALLOWED = [
    "SELECT * FROM charges",
    "SELECT * FROM subscription_items",
    "SELECT * FROM derived_mrr_spans",
    "SELECT table_name, column_name, data_type FROM information_schema.columns",
    "SELECT table_name FROM information_schema.tables ORDER BY 1",
    "DESCRIBE charges",
    "SHOW TABLES",
    "SHOW charges",
    "SUMMARIZE charges",
    "SELECT version(), current_date, now(), typeof(amount), upper(currency) FROM charges",
    "SELECT current_database()",
    "SELECT current_setting('TimeZone')",
    "SELECT json_extract_string(raw, '$.id') FROM charges",
    "WITH settings AS (SELECT 1 AS x) SELECT * FROM settings",
    "SELECT * FROM flitch.main.charges",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> DuckDBStore:
    store = DuckDBStore(tmp_path_factory.mktemp("introspection") / "cache" / "conn_1")
    fill(store, 20, 5)
    return store


def leaks(store: DuckDBStore, sql: str) -> bool:
    """True if ``sql`` runs on the cache and its answer names the cache's folder."""
    with store.reader() as reader:
        try:
            result = reader.query(sql)
        except QueryRefused:
            return False
        except Exception:  # an error, which reveals nothing
            return False
    return str(store.cache_dir) in repr(result.rows)


def test_no_statement_reveals_the_cache_path(cache: DuckDBStore) -> None:
    revealing = [sql for sql in INTROSPECTION if leaks(cache, sql)]
    assert revealing == []


@pytest.mark.parametrize("sql", INTROSPECTION)
def test_catalog_and_settings_introspection_is_refused(sql: str) -> None:
    with pytest.raises(QueryRefused) as err:
        check_read_only(sql)
    assert err.value.fix
    assert "Refused" in err.value.message


@pytest.mark.parametrize("sql", STILL_ALLOWED)
def test_datasets_tables_and_plain_functions_stay_allowed(sql: str) -> None:
    assert check_read_only(sql)


def test_the_refusal_says_why(cache: DuckDBStore) -> None:
    with pytest.raises(QueryRefused) as err:
        check_read_only("SELECT * FROM pragma_database_list")
    assert "pragma_database_list" in err.value.message
    assert "information_schema" in err.value.fix
    with pytest.raises(QueryRefused) as err:
        check_read_only("SELECT current_setting('temp_directory')")
    assert "current_setting()" in err.value.message


def test_allowed_introspection_runs_and_shows_no_path(cache: DuckDBStore) -> None:
    with cache.reader() as reader:
        for sql in (
            "SELECT table_catalog, table_schema, table_name FROM information_schema.tables",
            "SELECT * FROM information_schema.columns",
            "SELECT * FROM information_schema.schemata",
            "SHOW TABLES",
            "DESCRIBE charges",
        ):
            rows = reader.query(sql).rows
            assert rows
            assert str(cache.cache_dir) not in repr(rows)
            assert str(Path(cache.cache_dir).parent) not in repr(rows)
