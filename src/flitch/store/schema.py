"""Catalog columns as DuckDB tables, and Stripe values as Arrow batches for them.

The catalog types map to DuckDB types one to one::

    TEXT → VARCHAR   INTEGER, AMOUNT → BIGINT   FLOAT → DOUBLE   BOOLEAN → BOOLEAN
    TIMESTAMP → TIMESTAMPTZ (from Unix seconds, UTC)   JSON → JSON

Objects cross into the store as their JSON text (``RawObjects``: no decoded Stripe object is
held), one Arrow column that DuckDB reads without a copy; ``flatten`` turns it into the typed
columns of the dataset and of its child tables (``catalog.ChildSpec``).

No table has a primary key or an index (see ``create_table_sql``); a child table's rows are
replaced as a whole whenever their parent's row is (see ``loading``).
"""

from __future__ import annotations

import hashlib
import itertools
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from flitch.catalog import Column, ColumnType, ObjectSpec

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


def create_table_sql(spec: Layout) -> str:
    """``CREATE TABLE`` for a dataset or a child table: the catalog's columns, typed.

    No primary key and no index: a dataset's ids are kept unique by the code that writes it
    (``loading``), because DuckDB builds and loads an index whole in memory and a large
    account's would not fit in the memory a refresh is given."""
    cols = [f"    {quote_ident(col.name)} {DUCKDB_TYPES[col.type]}" for col in spec.columns]
    return f"CREATE TABLE {table_name(spec)} (\n" + ",\n".join(cols) + "\n)"


# -- values in -----------------------------------------------------------------------------------
class RawObjects:
    """The JSON text of objects on their way into a dataset, one per object, in arrival order.

    Objects decoded from JSON are serialised again (compactly, with orjson); objects that still
    have the text Stripe sent (``HasRawJSON``: a page as the reader got it) give it as it is.
    ``take`` hands them over as an Arrow table of one ``raw`` string column, which ``flatten``
    turns into rows.
    """

    def __init__(self) -> None:
        self._raw: list[bytes] = []

    def __len__(self) -> int:
        return len(self._raw)

    def add(self, objects: Iterable[Mapping[str, Any]] | HasRawJSON) -> int:
        """Add objects; return how many."""
        if isinstance(objects, HasRawJSON):
            raw = objects.raw_json()
            self._raw.extend(raw)
            return len(raw)
        before = len(self._raw)
        dumps = orjson.dumps
        self._raw.extend(dumps(obj, default=str) for obj in objects)
        return len(self._raw) - before

    def take(self) -> pa.Table:
        """Everything buffered, with its arrival order (``seq``); the buffer is left empty."""
        raw, self._raw = self._raw, []
        # One buffer and its offsets, not a string object per row (pa.array would check each).
        # DuckDB's JSON reader rejects text that is not UTF-8, so nothing bad gets further.
        offsets = array("q", itertools.accumulate(map(len, raw), initial=0))
        text = pa.LargeStringArray.from_buffers(
            len(raw), pa.py_buffer(offsets), pa.py_buffer(b"".join(raw))
        )
        return pa.table({"raw": text, "seq": pa.array(range(len(raw)), pa.int64())})


@runtime_checkable
class HasRawJSON(Protocol):
    """Objects that come with their JSON text, one ``bytes`` each."""

    def raw_json(self) -> Sequence[bytes]: ...


@dataclass(frozen=True)
class RawJSON:
    """Objects as JSON text, one ``bytes`` each (e.g. as Stripe sent them)."""

    raw: Sequence[bytes]

    def raw_json(self) -> Sequence[bytes]:
        return self.raw
