"""Catalog columns as DuckDB tables, and Stripe values as Arrow batches for them.

The catalog types map to DuckDB types one to one::

    TEXT → VARCHAR   INTEGER, AMOUNT → BIGINT   FLOAT → DOUBLE   BOOLEAN → BOOLEAN
    TIMESTAMP → TIMESTAMPTZ (from Unix seconds, UTC)   JSON → JSON

Values cross into the store here and nowhere else: ``RowBuffer`` takes ``spec.row(obj)`` for each
object, keeps the values in per-column lists (JSON already serialised, so no Stripe object is
held), and turns them into an Arrow table that DuckDB ingests in one statement. ``ObjectRows``
does the same for a dataset and its child tables at once (``catalog.ChildSpec``): the records
nested in each object become rows of their own tables as the object is flattened.

A child table has no primary key: its rows are replaced as a whole whenever their parent's row
is (see ``loading``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from flitch.catalog import ChildSpec, Column, ColumnType, ObjectSpec

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


class Layout(Protocol):
    """A table the store writes: a dataset (``ObjectSpec``) or a child table (``ChildSpec``)."""

    @property
    def name(self) -> str: ...

    @property
    def columns(self) -> tuple[Column, ...]: ...


def table_name(spec: Layout) -> str:
    """The quoted table name of a dataset or child table (its catalog name)."""
    return quote_ident(spec.name)


def _layout(spec: Layout) -> str:
    return ",".join(f"{c.name}:{c.type.value}" for c in spec.columns)


def schema_version(spec: ObjectSpec) -> str:
    """A short fingerprint of a dataset's layout: the store format, column names and types,
    and those of its child tables.

    A stored dataset whose version differs from this was written for another catalog and is
    rebuilt by a full refresh rather than updated in place. A dataset without child tables
    keeps the fingerprint it had before child tables existed.
    """
    layout = _layout(spec)
    for child in spec.children:
        layout += f";{child.name}({_layout(child)})"
    digest = hashlib.sha256(layout.encode()).hexdigest()[:12]
    return f"{STORE_FORMAT}-{digest}"


def create_table_sql(spec: Layout, *, primary_key: bool = True) -> str:
    """``CREATE TABLE`` for a dataset: the catalog's columns, typed, ``id`` the primary key
    (left out while a bulk load runs; ``add_primary_key_sql`` adds it after). A child table
    never has one (pass ``primary_key=False``)."""
    cols = []
    for col in spec.columns:
        pk = " PRIMARY KEY" if col.name == "id" and primary_key else ""
        cols.append(f"    {quote_ident(col.name)} {DUCKDB_TYPES[col.type]}{pk}")
    return f"CREATE TABLE {table_name(spec)} (\n" + ",\n".join(cols) + "\n)"


def add_primary_key_sql(spec: ObjectSpec) -> str:
    return f"ALTER TABLE {table_name(spec)} ADD PRIMARY KEY (id)"


def arrow_schema(spec: Layout) -> pa.Schema:
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
    """Values of one table's rows, column by column, ready to become an Arrow table."""

    def __init__(self, spec: Layout) -> None:
        self.spec = spec
        self._names = tuple(c.name for c in spec.columns)
        self._json = frozenset(c.name for c in spec.columns if c.type is ColumnType.JSON)
        self._values: dict[str, list[Any]] = {n: [] for n in self._names}
        self._schema = arrow_schema(spec)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, objects: Iterable[Mapping[str, Any]]) -> int:
        """Flatten Stripe objects through ``spec.row`` into the buffer (a dataset's buffer
        only; child tables are filled by ``ObjectRows``); return how many were added."""
        spec = self.spec
        if not isinstance(spec, ObjectSpec):
            raise TypeError(f"{spec.name} is a child table; add its rows with add_rows()")
        return self.add_rows(spec.row(obj) for obj in objects)

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add rows already flattened (a value per column name); return how many."""
        json_cols = self._json
        columns = [(name, name in json_cols, self._values[name]) for name in self._names]
        added = 0
        for row in rows:
            for name, is_json, out in columns:
                value = row.get(name)
                out.append(_json_bytes(value) if is_json else value)
            added += 1
        self._count += added
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
        self._count = 0
        return pa.Table.from_arrays(arrays, schema=self._schema)


@dataclass(frozen=True)
class ChildBatch:
    """A child table's rows for one batch; ``owners[i]`` is the position, in the batch's
    dataset rows, of the object row ``i`` was nested in."""

    spec: ChildSpec
    rows: pa.Table
    owners: list[int]


@dataclass(frozen=True)
class Batch:
    """Rows of a dataset and of its child tables, taken together from an ``ObjectRows``."""

    rows: pa.Table
    children: tuple[ChildBatch, ...]


class ObjectRows:
    """A dataset's rows and its child tables' rows, buffered together as objects arrive."""

    def __init__(self, spec: ObjectSpec) -> None:
        self.spec = spec
        self._rows = RowBuffer(spec)
        self._children = [(child, RowBuffer(child), list[int]()) for child in spec.children]

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, objects: Iterable[Mapping[str, Any]]) -> int:
        """Flatten objects, and the records nested in them; return how many objects."""
        if not self._children:
            return self._rows.add(objects)
        row_of = self.spec.row
        base = len(self._rows)
        rows: list[dict[str, Any]] = []
        nested: list[list[dict[str, Any]]] = [[] for _ in self._children]
        for obj in objects:
            position = base + len(rows)
            rows.append(row_of(obj))
            for (child, _, owners), found in zip(self._children, nested, strict=True):
                records = child.rows(obj)
                found.extend(records)
                owners.extend([position] * len(records))
        for (_, buffer, _), found in zip(self._children, nested, strict=True):
            buffer.add_rows(found)
        return self._rows.add_rows(rows)

    def take(self) -> Batch:
        """Everything buffered, as Arrow tables; the buffers are left empty."""
        children = []
        for i, (child, buffer, owners) in enumerate(self._children):
            children.append(ChildBatch(child, buffer.take(), owners))
            self._children[i] = (child, buffer, [])
        return Batch(self._rows.take(), tuple(children))


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
