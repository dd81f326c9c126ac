"""Catalog columns as DuckDB tables, and Stripe values as Arrow batches for them.

The catalog types map to DuckDB types one to one::

    TEXT → VARCHAR   INTEGER, AMOUNT → BIGINT   FLOAT → DOUBLE   BOOLEAN → BOOLEAN
    TIMESTAMP → TIMESTAMPTZ (from Unix seconds, UTC)   JSON → JSON

Values cross into the store here and nowhere else: ``RowBuffer`` takes ``spec.row(obj)`` for each
object, keeps the values in per-column lists (JSON already serialised, so no Stripe object is
held), and turns them into an Arrow table that DuckDB ingests in one statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from flitch.catalog import ColumnType, ObjectSpec

#: Bumped when the way datasets are laid out changes for every dataset at once.
STORE_FORMAT = 1
#: The table inside each store file that describes its datasets.
STATE_TABLE = "_flitch_datasets"

DUCKDB_TYPES: Mapping[ColumnType, str] = {
    ColumnType.TEXT: "VARCHAR",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.AMOUNT: "BIGINT",
    ColumnType.FLOAT: "DOUBLE",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.TIMESTAMP: "TIMESTAMPTZ",
    ColumnType.JSON: "JSON",
}

ARROW_TYPES: Mapping[ColumnType, pa.DataType] = {
    ColumnType.TEXT: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.AMOUNT: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.TIMESTAMP: pa.timestamp("s", tz="UTC"),
    # Serialised JSON text; DuckDB casts it to JSON on insert.
    ColumnType.JSON: pa.string(),
}

STATE_DDL = f"""
CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
    name VARCHAR PRIMARY KEY,
    rows BIGINT NOT NULL,
    refreshed_at TIMESTAMPTZ,
    cursor JSON,
    schema_version VARCHAR NOT NULL
)
"""


def first_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of a small result, read to the end (DuckDB refuses new work on a
    connection while a result is half read)."""
    rows = result.fetchall()
    return rows[0] if rows else None


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def table_name(spec: ObjectSpec) -> str:
    """The quoted table name of a dataset (its catalog name)."""
    return quote_ident(spec.name)


def schema_version(spec: ObjectSpec) -> str:
    """A short fingerprint of a dataset's layout: the store format, column names and types.

    A stored dataset whose version differs from this was written for another catalog and is
    rebuilt by a full refresh rather than updated in place.
    """
    layout = ",".join(f"{c.name}:{c.type.value}" for c in spec.columns)
    digest = hashlib.sha256(layout.encode()).hexdigest()[:12]
    return f"{STORE_FORMAT}-{digest}"


def create_table_sql(spec: ObjectSpec, *, primary_key: bool = True) -> str:
    """``CREATE TABLE`` for a dataset: the catalog's columns, typed, ``id`` the primary key
    (left out while a bulk load runs; ``add_primary_key_sql`` adds it after)."""
    cols = []
    for col in spec.columns:
        pk = " PRIMARY KEY" if col.name == "id" and primary_key else ""
        cols.append(f"    {quote_ident(col.name)} {DUCKDB_TYPES[col.type]}{pk}")
    return f"CREATE TABLE {table_name(spec)} (\n" + ",\n".join(cols) + "\n)"


def add_primary_key_sql(spec: ObjectSpec) -> str:
    return f"ALTER TABLE {table_name(spec)} ADD PRIMARY KEY (id)"


def arrow_schema(spec: ObjectSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in spec.columns])


# -- values in -----------------------------------------------------------------------------------
def _json_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return orjson.dumps(value, default=str)


def _coerce_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def _coerce_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise ValueError(f"expected a whole number, got {value!r}")


def _coerce_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    return float(value)


def _coerce_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"expected true or false, got {value!r}")


def _coerce_timestamp(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return _coerce_int(value)


_COERCE: Mapping[ColumnType, Callable[[Any], Any]] = {
    ColumnType.TEXT: _coerce_text,
    ColumnType.INTEGER: _coerce_int,
    ColumnType.AMOUNT: _coerce_int,
    ColumnType.FLOAT: _coerce_float,
    ColumnType.BOOLEAN: _coerce_bool,
    ColumnType.TIMESTAMP: _coerce_timestamp,
}


class RowBuffer:
    """Values of one dataset's rows, column by column, ready to become an Arrow table."""

    def __init__(self, spec: ObjectSpec) -> None:
        self.spec = spec
        self._names = spec.column_names
        self._json = frozenset(c.name for c in spec.columns if c.type is ColumnType.JSON)
        self._values: dict[str, list[Any]] = {n: [] for n in self._names}
        self._schema = arrow_schema(spec)

    def __len__(self) -> int:
        return len(self._values["id"])

    def add(self, objects: Iterable[Mapping[str, Any]]) -> int:
        """Flatten objects through ``spec.row`` into the buffer; return how many were added."""
        row_of = self.spec.row
        json_cols = self._json
        columns = [(name, name in json_cols, self._values[name]) for name in self._names]
        added = 0
        for obj in objects:
            row = row_of(obj)
            for name, is_json, out in columns:
                value = row.get(name)
                out.append(_json_bytes(value) if is_json else value)
            added += 1
        return added

    def ids(self) -> list[Any]:
        return self._values["id"]

    def take(self) -> pa.Table:
        """The buffered rows as an Arrow table; the buffer is left empty."""
        arrays = []
        for col in self.spec.columns:
            values = self._values[col.name]
            self._values[col.name] = []
            arrays.append(_to_arrow(col.name, col.type, values, self.spec.name))
        return pa.Table.from_arrays(arrays, schema=self._schema)


def _to_arrow(name: str, type_: ColumnType, values: list[Any], dataset: str) -> pa.Array:
    arrow_type = ARROW_TYPES[type_]
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    coerce = _COERCE[type_]
    fixed = []
    for value in values:
        try:
            fixed.append(coerce(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"column {name} of {dataset} cannot hold {value!r}: {exc}. "
                "The catalog's type for this column does not match what Stripe returned."
            ) from None
    return pa.array(fixed, type=arrow_type)
