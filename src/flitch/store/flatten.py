"""Stripe objects into dataset rows, flattened by DuckDB from their JSON.

Every write of the store (a refresh's bulk load, an upsert, a live load) hands DuckDB the raw
JSON text of each object — one ``raw`` column — and these statements turn it into the typed
columns of the dataset and of its child tables (``catalog.ChildSpec``). Flattening in SQL rather
than in Python keeps a refresh's interpreter free for reading Stripe: DuckDB parses each object
once per batch (``json_extract`` with the list of every path the dataset and its child tables
read, into a stage their statements share: :func:`statements`), in native code, without holding
the GIL.

What a column holds, from ``catalog.Column``:

- ``path`` (and its ``fallbacks``, tried in turn while the value is absent or ``null``) is a
  dotted path into the object; a numeric part indexes a list; an empty path is the whole object
  (the ``raw`` column, kept minified);
- a TEXT column that finds an expanded object takes its ``id``; a list or a number is kept as
  its JSON text, a boolean as ``true``/``false``;
- INTEGER and AMOUNT take whole numbers (``12.0`` is 12; ``12.5`` is an error, not a rounding);
  TIMESTAMP takes Unix seconds and stores a UTC timestamp; BOOLEAN and FLOAT are cast; JSON keeps
  the value's JSON text (``null`` is SQL ``NULL``).

A child table's rows come from a list in the object: a ``paged`` list is Stripe's envelope
(``{"data": [...], "has_more": ...}``; ``truncated`` says whether Stripe embedded only part of
it), otherwise a plain array. A record that is a bare id (an unexpanded field) is read as
``{"id": ...}``; anything else that is not an object is skipped.

A value the catalog's type cannot hold stops the statement with an error naming the column
(:func:`type_error`); nothing is silently rounded or dropped.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import duckdb

from flitch.catalog import PARENT_OF, ChildSpec, Column, ColumnType, ObjectSpec
from flitch.store.schema import quote_ident, quote_literal

#: The column of the source relation that holds each object's JSON text.
RAW = "raw"
_NOT_A_WHOLE_NUMBER = "flitch: not a whole number in column "


def json_path(path: str) -> str:
    """A dotted catalog path as a DuckDB JSON path: ``items.data.0.id`` is
    ``$."items"."data"[0]."id"``."""
    out = "$"
    for part in path.split(".") if path else ():
        out += f"[{part}]" if part.isdigit() else "." + quote_ident(part)
    return out


class _Paths:
    """The JSON paths one statement extracts in a single parse, numbered from 1."""

    def __init__(self, var: str) -> None:
        self.var = var
        self.paths: list[str] = []

    def ref(self, path: str) -> str:
        p = json_path(path)
        if p not in self.paths:
            self.paths.append(p)
        return f"{self.var}[{self.paths.index(p) + 1}]"

    def extract(self, source_expr: str) -> str:
        listed = ", ".join(quote_literal(p) for p in self.paths) or quote_literal("$")
        return f"json_extract({source_expr}, [{listed}]) AS {self.var}"


def _present(ref: str) -> str:
    return f"CASE WHEN json_type({ref}) <> 'NULL' THEN {ref} END"


def _value(col: Column, paths: _Paths) -> str:
    """The column's JSON value: the first of its paths that holds something."""
    if not col.path:
        return paths.ref("")
    refs = [_present(paths.ref(p)) for p in (col.path, *col.fallbacks)]
    return refs[0] if len(refs) == 1 else f"coalesce({', '.join(refs)})"


def _typed(col: Column, v: str) -> str:
    """SQL turning the JSON value ``v`` into the column's type."""
    t = col.type
    if t is ColumnType.JSON:
        return v
    if t is ColumnType.TEXT:
        return (
            f"CASE json_type({v}) WHEN 'VARCHAR' THEN {v}->>'$' "
            f"WHEN 'OBJECT' THEN {v}->>'$.id' ELSE CAST({v} AS VARCHAR) END"
        )
    if t in (ColumnType.INTEGER, ColumnType.AMOUNT, ColumnType.TIMESTAMP):
        message = quote_literal(_NOT_A_WHOLE_NUMBER + col.name)
        whole = (
            f"CASE WHEN json_type({v}) = 'DOUBLE' AND CAST({v} AS DOUBLE) <> "
            f"trunc(CAST({v} AS DOUBLE)) THEN error({message}) ELSE CAST({v} AS BIGINT) END"
        )
        return f"to_timestamp({whole})" if t is ColumnType.TIMESTAMP else whole
    if t is ColumnType.FLOAT:
        return f"CAST({v} AS DOUBLE)"
    if t is ColumnType.BOOLEAN:
        return f"CAST({v} AS BOOLEAN)"
    raise ValueError(f"no SQL for column type {t}")  # pragma: no cover - every type is above


def _select(columns: tuple[Column, ...], paths: _Paths, prefix: str = "") -> tuple[str, str]:
    """(the values of ``columns`` as ``prefix``-named JSON, their typed form by name)."""
    values = ", ".join(f"{_value(c, paths)} AS {quote_ident(prefix + c.name)}" for c in columns)
    typed = ", ".join(
        f"{_typed(c, quote_ident(prefix + c.name))} AS {quote_ident(c.name)}" for c in columns
    )
    return values, typed


@dataclass(frozen=True)
class Statements:
    """How one batch of a dataset's objects becomes rows: ``stage`` parses each object's JSON
    once (``SELECT … AS _v FROM <source>``, every path the dataset and its child tables read);
    ``rows`` and each of ``children`` select a table's rows from that stage (a relation name,
    ``STAGE`` in the text, replaced by :meth:`over`)."""

    stage: str
    rows: str
    children: tuple[tuple[ChildSpec, str], ...]

    def over(self, sql: str, stage: str) -> str:
        return sql.replace(STAGE, stage)


#: Where the stage's name goes in ``Statements.rows`` and ``Statements.children``.
STAGE = "__flitch_stage__"


def statements(spec: ObjectSpec, source: str) -> Statements:
    """The statements that flatten ``source``'s objects (its ``raw`` column) into ``spec``'s
    rows and its child tables' rows."""
    return _statements(spec.columns, spec.children, source)


@functools.cache
def _statements(
    columns: tuple[Column, ...], children: tuple[ChildSpec, ...], source: str
) -> Statements:
    paths = _Paths("_v")
    values, typed = _select(columns, paths)
    rows = f"SELECT {typed} FROM (SELECT {values} FROM {STAGE})"  # noqa: S608
    made = tuple((child, _child_rows(child, paths)) for child in children)
    return Statements(f"SELECT {paths.extract(RAW)} FROM {source}", rows, made)  # noqa: S608


def _child_rows(child: ChildSpec, parent: _Paths) -> str:
    """A child table's rows from the stage: the parent's values, then one row per record."""
    key = Column(child.key, ColumnType.TEXT, "id", "")
    head_values, head_typed = _select((key, *child.parent_fields), parent, "p_")
    head_names = ", ".join(quote_ident("p_" + c.name) for c in (key, *child.parent_fields))
    if child.paged:
        listed = parent.ref(child.path + ".data")
        has_more = parent.ref(child.path + ".has_more")
        head_values += f", coalesce(CAST({_present(has_more)} AS BOOLEAN), false) AS _truncated"
        head_names += ", _truncated"
    else:
        listed = parent.ref(child.path)
    fields = _Paths("_r")
    field_values, field_typed = _select(child.fields, fields, "r_")
    truncated = ", _truncated AS truncated" if child.paged else ""
    record = "CASE json_type(_rec) WHEN 'VARCHAR' THEN json_object('id', _rec->>'$') ELSE _rec END"
    records = f"CASE WHEN json_type({listed}) = 'ARRAY' THEN CAST({listed} AS JSON[]) END"
    return (
        f"SELECT {head_typed}, {field_typed}{truncated} FROM ("  # noqa: S608
        f"SELECT {head_names}, {field_values} FROM ("
        f"SELECT {head_names}, {fields.extract(record)} FROM ("
        f"SELECT {head_names}, unnest(_list) AS _rec FROM ("
        f"SELECT {head_values}, {records} AS _list FROM {STAGE})) "
        "WHERE json_type(_rec) IN ('OBJECT', 'VARCHAR')))"
    )


def object_rows_sql(spec: ObjectSpec, source: str) -> str:
    """``SELECT`` of the dataset's rows, in its column order, from ``source``'s ``raw``."""
    made = statements(spec, source)
    return made.over(made.rows, f"({made.stage})")


def child_rows_sql(child: ChildSpec, source: str) -> str:
    """``SELECT`` of a child table's rows, in its column order, from ``source``'s ``raw``
    (the parent objects)."""
    made = statements(PARENT_OF[child.name], source)
    sql = next(text for c, text in made.children if c.name == child.name)
    return made.over(sql, f"({made.stage})")


_COLUMN_IN_ERROR = re.compile(re.escape(_NOT_A_WHOLE_NUMBER) + r"(\w+)")


def type_error(exc: duckdb.Error, table: str) -> ValueError | None:
    """A clear error for a value the catalog's type cannot hold (``None`` for other errors)."""
    text = str(exc)
    found = _COLUMN_IN_ERROR.search(text)
    if found is None and not isinstance(exc, duckdb.ConversionException):
        return None
    where = f"column {found.group(1)} of {table}" if found else f"a column of {table}"
    return ValueError(
        f"{where} cannot hold a value Stripe returned ({text.splitlines()[0]}). The catalog's "
        "type for this column does not match what Stripe returned: report it, with the "
        "object's id."
    )
