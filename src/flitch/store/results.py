"""Reading datasets out of DuckDB: checked SQL in, plain Python values out.

``SqlSession`` wraps one DuckDB connection whose default catalog holds the datasets; the file
store's readers and the in-memory datasets both answer through it, so the same SQL gives the same
result, value for value, whether it ran live or on the cache.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import duckdb
import orjson

from flitch import catalog
from flitch import clock as clocks
from flitch.catalog import ObjectSpec
from flitch.store import derived, sqlguard
from flitch.store.base import (
    DatasetInfo,
    DatasetMissing,
    QueryFailed,
    QueryResult,
    ResultColumn,
    TablePage,
    TableQuery,
)
from flitch.store.schema import STATE_TABLE, quote_ident, schema_version, table_name

Params = Sequence[Any] | Mapping[str, Any] | None
Convert = Callable[[Any], Any]
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
#: The catalog name the datasets live under, for the file store and in memory alike.
CATALOG = "flitch"
#: Left rows below which DuckDB loops an ASOF join instead of sorting both sides (0: never:
#: the subscriber counts look up a few instants in a tally of every change).
ASOF_LOOP_ROWS = 0


# -- values out ----------------------------------------------------------------------------------
def iso_utc(value: dt.datetime) -> str:
    """A timezone-aware datetime as ISO 8601 in UTC with a ``Z`` (``2024-05-01T12:00:00Z``)."""
    text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def _plain(value: Any) -> Any:
    """Any value DuckDB returns (nested ones too) as JSON-ready Python."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return iso_utc(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _json_value(value: Any) -> Any:
    return None if value is None else orjson.loads(value)


def _tz_value(value: Any) -> Any:
    return None if value is None else iso_utc(value)


def converter(type_: Any) -> Convert | None:
    """How to convert one result column's values; None when they are already plain."""
    name = str(type_)
    type_id = getattr(type_, "id", name.lower())
    if name == "JSON":
        return _json_value
    if type_id == "timestamp with time zone":
        return _tz_value
    if type_id in (
        "varchar",
        "bigint",
        "integer",
        "smallint",
        "tinyint",
        "boolean",
        "double",
        "float",
        "hugeint",
        "ubigint",
        "uinteger",
        "usmallint",
        "utinyint",
        "uhugeint",
    ):
        return None
    return _plain


def convert_rows(description: Sequence[Any], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    converters = [converter(d[1]) for d in description]
    if not any(converters):
        return rows
    plan = [(i, c) for i, c in enumerate(converters) if c is not None]
    out = []
    for row in rows:
        values = list(row)
        for i, conv in plan:
            values[i] = conv(values[i])
        out.append(tuple(values))
    return out


def _epoch(value: dt.datetime | int) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp())
    return int(value)


# -- sessions ------------------------------------------------------------------------------------
class SqlSession:
    """Read access to the datasets of one DuckDB database (a file version or in memory).

    ``connect`` lends a connection whose default catalog holds the datasets. A *private* one
    (a cursor made for this call, closed after) may be left half read, so ``max_rows`` stops
    fetching early; a shared one (the writer's own connection, which sees its uncommitted work)
    is always read to the end.
    """

    def __init__(
        self, connect: Connect, *, private: bool, clock: Callable[[], float] = clocks.now
    ) -> None:
        self._connect = connect
        self._private = private
        #: what ``now()``, ``current_date``… answer in the SQL (Flitch's clock, not DuckDB's)
        self._clock = clock

    def query(self, sql: str, params: Params = None, *, max_rows: int | None = None) -> QueryResult:
        """Run one read-only SELECT (checked by ``sqlguard``) and convert its rows."""
        statement = sqlguard.check_read_only(sql)
        return self._run(statement, params, max_rows=max_rows)

    def _run(self, sql: str, params: Params = None, *, max_rows: int | None = None) -> QueryResult:
        with self._connect() as cur:
            try:
                if clocks.mentions_time(sql):
                    for statement in clocks.sql_clock(self._clock()):
                        cur.execute(statement)
                cur.execute(sql, params)
                if cur.description is None:
                    cur.fetchall()
                    return QueryResult(columns=(), rows=[])
                description = list(cur.description)
                if max_rows is not None and self._private:
                    raw = cur.fetchmany(max_rows + 1)
                else:
                    raw = cur.fetchall()
            except duckdb.Error as exc:
                raise self._failed(exc) from None
        truncated = max_rows is not None and len(raw) > max_rows
        if truncated:
            raw = raw[:max_rows]
        columns = tuple(ResultColumn(str(d[0]), str(d[1])) for d in description)
        return QueryResult(
            columns=columns, rows=convert_rows(description, raw), truncated=truncated
        )

    def arrow(self, sql: str, params: Params = None) -> Any:
        """Every row of one statement (already checked, or Flitch's own) as an Arrow table,
        with ``now()`` and its kin answering this session's clock."""
        with self._connect() as cur:
            try:
                if clocks.mentions_time(sql):
                    for statement in clocks.sql_clock(self._clock()):
                        cur.execute(statement)
                return cur.sql(sql, params=params).to_arrow_table()
            except duckdb.Error as exc:
                raise self._failed(exc) from None

    def _failed(self, exc: duckdb.Error) -> QueryFailed:
        present = self.table_names()
        text = str(exc)
        for child in catalog.CHILDREN:
            parent = catalog.PARENT_OF[child.name]
            if child.name in text and child.name not in present and parent.name in present:
                return QueryFailed(
                    f"The query failed: {exc}",
                    f"This cache was written before Flitch kept {child.name} beside "
                    f"{parent.name}: run a refresh of this connection (flitch refresh), which "
                    f"reads {parent.name} in full again and writes it.",
                )
        names = ", ".join(present) or "none yet"
        return QueryFailed(
            f"The query failed: {text}",
            f"Check the SQL against the datasets and their columns (datasets here: {names}).",
        )

    def _all_tables(self, cur: duckdb.DuckDBPyConnection) -> set[str]:
        found = cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
            "AND schema_name = 'main'",
            [CATALOG],
        ).fetchall()
        return {str(r[0]) for r in found}

    def table_names(self) -> list[str]:
        """The datasets and child tables present (Flitch's own tables and derived ones left
        out)."""
        with self._connect() as cur:
            return sorted(
                t for t in self._all_tables(cur) if not t.startswith(("_", derived.PREFIX))
            )

    def has_table(self, name: str) -> bool:
        with self._connect() as cur:
            return name in self._all_tables(cur)

    def datasets(self) -> list[DatasetInfo]:
        """Every dataset held, with its row count, columns and refresh state."""
        with self._connect() as cur:
            tables = self._all_tables(cur)
            if STATE_TABLE not in tables:
                return []
            states = cur.execute(
                f"SELECT name, rows, refreshed_at, cursor, schema_version FROM {STATE_TABLE} "  # noqa: S608
                "ORDER BY name"
            ).fetchall()
            columns: dict[str, list[ResultColumn]] = {}
            for table, col, type_ in cur.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = ? AND schema_name = 'main' ORDER BY column_index",
                [CATALOG],
            ).fetchall():
                columns.setdefault(str(table), []).append(ResultColumn(str(col), str(type_)))
        infos = []
        for name, rows, refreshed_at, cursor, version in states:
            if name not in tables:
                continue
            spec = catalog.BY_NAME.get(name)
            infos.append(
                DatasetInfo(
                    name=name,
                    rows=int(rows),
                    columns=tuple(columns.get(name, [])),
                    refreshed_at=refreshed_at,
                    cursor=_json_value(cursor),
                    schema_version=str(version),
                    schema_current=spec is not None and schema_version(spec) == version,
                )
            )
        return infos

    def table(self, spec: ObjectSpec, request: TableQuery | None = None) -> TablePage:
        """A page of one dataset: whitelisted columns, equality filters, a created range."""
        req = request or TableQuery()
        if not self.has_table(spec.name):
            raise DatasetMissing(spec.name)
        valid = spec.column_names
        wanted = list(req.columns) if req.columns else list(valid)
        for name in [*wanted, req.order_by, *req.equals]:
            if name not in valid:
                raise QueryFailed(
                    f"{spec.name} has no column {name!r}.",
                    f"Use one of: {', '.join(valid)}.",
                )
        if req.limit < 0 or req.offset < 0:
            raise QueryFailed("limit and offset must not be negative.", "Pass 0 or more.")
        where: list[str] = []
        params: list[Any] = []
        for name, value in req.equals.items():
            if value is None:
                where.append(f"{quote_ident(name)} IS NULL")
            else:
                where.append(f"{quote_ident(name)} = ?")
                params.append(value)
        if req.created_from is not None:
            where.append("created >= to_timestamp(?)")
            params.append(_epoch(req.created_from))
        if req.created_to is not None:
            where.append("created < to_timestamp(?)")
            params.append(_epoch(req.created_to))
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        direction = "DESC" if req.descending else "ASC"
        order = f"{quote_ident(req.order_by)} {direction} NULLS LAST"
        if req.order_by != "id":
            order += f", id {direction}"
        select = ", ".join(quote_ident(c) for c in wanted)
        page = self._run(
            f"SELECT {select} FROM {table_name(spec)}{clause} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608
            [*params, req.limit, req.offset],
        )
        total = self._run(f"SELECT count(*) FROM {table_name(spec)}{clause}", params)  # noqa: S608
        return TablePage(
            result=page, total=int(total.rows[0][0]), limit=req.limit, offset=req.offset
        )
