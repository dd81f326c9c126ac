"""Which SQL Flitch runs for users: exactly one read-only SELECT over the datasets.

This is the second of two locks. The first is structural: readers open the cache read-only and
with ``enable_external_access=false`` and a locked configuration, so even SQL that slipped past
this module could neither write nor reach a file or the network. This module refuses, with a
message saying what to do instead, anything that is not a read of the datasets:

- any statement type but ``SELECT`` (``WITH … SELECT``, ``FROM t``, ``VALUES``, ``DESCRIBE``,
  ``SHOW`` and ``SUMMARIZE`` are SELECTs to DuckDB): ``COPY``, ``ATTACH``, ``INSTALL``/``LOAD``,
  ``PRAGMA``, ``SET``/``USE``, ``CREATE``, ``INSERT``, ``UPDATE``, ``DELETE``, ``CALL``,
  ``EXPORT``, ``PREPARE``, transactions… and ``EXPLAIN`` (``EXPLAIN ANALYZE`` runs its statement;
  refusing it is simpler than proving what it wraps is harmless);
- more than one statement;
- table functions outside a short list of pure ones (``read_csv``, ``read_parquet``,
  ``read_json``, ``read_text``, ``glob``, ``query``, ``duckdb_settings`` … are refused);
- a ``FROM`` naming something that is not a plain identifier (``FROM 'data.csv'``, ``FROM
  's3://…'``), which DuckDB would read as a file;
- DuckDB's catalog and settings: its catalog views (``duckdb_databases``,
  ``pragma_database_list``, ``pg_settings``, ``sqlite_master``… — every view of its ``system``
  catalog but ``information_schema``), other catalogs than the datasets' (``system``,
  ``memory``, ``temp``), ``SHOW DATABASES``/``SHOW ALL TABLES``, and the functions that read
  settings or variables (``current_setting()`` but of ``TimeZone`` and ``Calendar``,
  ``getvariable()``, ``pg_*``, ``duckdb_*``).
  They answer with the cache file's path and the engine's configuration, which a user who may
  query the data has no need to see. ``information_schema`` (names and types),
  ``DESCRIBE``, ``SHOW TABLES`` and every plain function stay allowed.

The statement is parsed by DuckDB itself (``extract_statements`` and ``json_serialize_sql``), so
the check sees exactly what the engine would run.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import duckdb

from flitch.store.base import QueryFailed, QueryRefused
from flitch.store.results import CATALOG
from flitch.store.schema import first_row

#: Table functions that compute rows from their arguments alone.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {"range", "generate_series", "unnest", "json_each", "json_tree"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: Catalogs and schemas a table may be qualified with: the datasets' own, and
#: ``information_schema`` (table and column names and types, nothing about files).
_CATALOGS = frozenset({"", CATALOG})
_SCHEMAS = frozenset({"", "main", CATALOG, "information_schema"})
#: Prefixes of DuckDB's catalog views and functions (present and future ones alike).
_SYSTEM_PREFIXES = ("duckdb_", "pragma_", "pg_", "sqlite_")
#: Scalar functions that read the engine's settings or state, or write its log.
_SYSTEM_FUNCTIONS = frozenset({"current_setting", "getvariable", "write_log"})
#: Settings ``current_setting('…')`` may still read: how times are shown, nothing else.
_SHOWN_SETTINGS = frozenset({"timezone", "calendar"})
_INTROSPECTION_FIX = (
    "Query the datasets, their child and derived tables; information_schema.tables and "
    "information_schema.columns (or DESCRIBE and SHOW TABLES) list what exists."
)
_FIX = (
    "Write a single SELECT (or WITH … SELECT) over the datasets, e.g. "
    "SELECT status, count(*) FROM charges GROUP BY status."
)
_local = threading.local()


def _parser() -> duckdb.DuckDBPyConnection:
    """A private, locked-down in-memory connection per thread, used only to parse."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        _local.con = con
    return con


def _statements(sql: str) -> list[Any]:
    try:
        return list(_parser().extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryFailed(
            f"The SQL could not be parsed: {exc}",
            "Check the syntax; Flitch SQL is DuckDB's dialect.",
        ) from None


def _type_name(statement: Any) -> str:
    return str(statement.type).rsplit(".", 1)[-1]


def check_read_only(sql: str) -> str:
    """Return the one SELECT statement in ``sql``, or raise ``QueryRefused`` saying why not.

    The answer depends on the text alone, so accepted statements are remembered: a dashboard
    sends the same metric SQL on every load, and parsing it twice each time cost more than
    running some of it (tens of milliseconds for the billing dashboard)."""
    return _checked(sql)


@functools.lru_cache(maxsize=1024)
def _checked(sql: str) -> str:
    statements = _statements(sql)
    if not statements:
        raise QueryRefused("The query is empty.", _FIX)
    if len(statements) > 1:
        raise QueryRefused(
            f"Only one statement can run at a time; this text has {len(statements)}.",
            "Run them one by one; each must be a SELECT.",
        )
    statement = statements[0]
    kind = _type_name(statement)
    if kind != "SELECT":
        extra = ""
        if kind in ("COPY", "EXPORT"):
            extra = " To save a result as CSV or Parquet, use the export command instead."
        raise QueryRefused(
            f"Refused: Flitch SQL is read-only and runs only SELECT queries; "
            f"this is a {kind} statement.",
            _FIX + extra,
        )
    text = str(statement.query).strip()
    _check_tree(text)
    return text


def _check_tree(sql: str) -> None:
    raw = first_row(_parser().execute("SELECT json_serialize_sql(?)", [sql]))
    tree = json.loads(str(raw[0])) if raw else {"error": True}
    if tree.get("error"):
        raise QueryRefused(
            "Refused: this form of query cannot be checked as read-only "
            f"({tree.get('error_message', 'not a plain SELECT')}).",
            _FIX + " PIVOT needs an explicit IN list of values.",
        )
    for node in _nodes(tree):
        kind = node.get("type")
        if node.get("class") == "FUNCTION":
            _check_function(node)
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            name = str(function.get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise QueryRefused(
                    f"Refused: the table function {name}() is not allowed in Flitch SQL; "
                    "queries read the datasets only, never files, the network or settings.",
                    _FIX,
                )
        elif kind == "BASE_TABLE":
            name = str(node.get("table_name", ""))
            if not _IDENTIFIER.fullmatch(name):
                raise QueryRefused(
                    f"Refused: FROM {name!r} would read a file or URL; Flitch SQL reads the "
                    "datasets only.",
                    _FIX,
                )
            _check_table(node)
        elif kind == "SHOW_REF":
            _check_show(node)


def _introspection(what: str) -> QueryRefused:
    return QueryRefused(
        f"Refused: {what} DuckDB's catalog or settings, which name the cache's files; "
        "Flitch SQL reads the datasets only.",
        _INTROSPECTION_FIX,
    )


def _check_function(node: dict[str, Any]) -> None:
    name = str(node.get("function_name", "")).lower()
    if name == "current_setting" and _constant_argument(node) in _SHOWN_SETTINGS:
        return
    if name in _SYSTEM_FUNCTIONS or name.startswith(_SYSTEM_PREFIXES):
        raise _introspection(f"{name}() reads")


def _constant_argument(node: dict[str, Any]) -> str | None:
    """The function's one argument, lower-cased, if it is a string literal."""
    arguments = node.get("arguments") or node.get("children") or []
    if len(arguments) != 1:
        return None
    argument = arguments[0]
    expression = argument.get("expression", argument) if isinstance(argument, dict) else {}
    literal = expression.get("literal") if isinstance(expression, dict) else None
    if expression.get("class") != "CONSTANT" or not isinstance(literal, dict):
        return None
    return str(literal.get("text", "")).lower() if literal.get("kind") == "STRING" else None


def _check_table(node: dict[str, Any]) -> None:
    """A table reference must be the datasets' (or ``information_schema``), never one of the
    system catalog's views, which are found without qualification too."""
    name = str(node.get("table_name", "")).lower()
    catalog = str(node.get("catalog_name") or "").lower()
    schema = str(node.get("schema_name") or "").lower()
    shown = ".".join(part for part in (catalog, schema, name) if part)
    if catalog not in _CATALOGS or schema not in _SCHEMAS:
        raise _introspection(f"{shown} is outside the datasets: it is part of")
    if name.startswith(_SYSTEM_PREFIXES) or name in _system_views():
        raise _introspection(f"{shown} is a view of")


def _check_show(node: dict[str, Any]) -> None:
    """``DESCRIBE``/``SUMMARIZE`` wrap a query (checked as any other); ``SHOW name`` describes
    a table; of the other ``SHOW`` forms only ``SHOW TABLES`` stays inside the datasets."""
    show = node.get("show_type")
    name = str(node.get("table_name") or "").strip('"').lower()
    if show == "SHOW" and name:
        _check_table(node)
    elif show == "SHOW_SPECIAL" and name != "tables":
        shown = "ALL TABLES" if name == "__show_tables_expanded" else name.upper()
        raise _introspection(f"SHOW {shown} lists")


@functools.cache
def _system_views() -> frozenset[str]:
    """The views of DuckDB's ``system`` catalog outside ``information_schema``."""
    found = _parser().execute(
        "SELECT DISTINCT lower(view_name) FROM duckdb_views() "
        "WHERE internal AND schema_name <> 'information_schema'"
    )
    return frozenset(str(row[0]) for row in found.fetchall())


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def is_read_only(sql: str) -> bool:
    """True if ``check_read_only`` accepts the SQL."""
    try:
        check_read_only(sql)
    except (QueryRefused, QueryFailed):
        return False
    return True


def referenced_tables(sql: str) -> set[str]:
    """The tables (datasets) a query names, lower-cased; common table expressions left out."""
    _statements(sql)
    try:
        names = _parser().get_table_names(sql)
    except duckdb.Error as exc:
        raise QueryFailed(
            f"The SQL could not be parsed: {exc}",
            "Check the syntax; Flitch SQL is DuckDB's dialect.",
        ) from None
    return {str(n).lower() for n in names}
