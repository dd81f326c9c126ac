"""Derived tables: SQL over the datasets, computed once per version of the data.

A ``Derived`` is a table name, the ``SELECT`` that fills it and the tables it reads. The store
does not know what they mean (the metrics define them); it knows when to build them:

- a refresh builds those its store was given into the version it publishes, after the datasets
  (``DuckDBRefresh.commit``); derived tables it was not given are dropped, as they may no
  longer match the datasets;
- where a version has none (a live load in memory, a cache written before they existed), a
  statement reading one gets it as a ``WITH`` clause of its own (``inline``): the same SQL,
  computed for that statement.

Either way a statement sees the same rows, so a number is the same live or cached. A derived
table is built only when every table it reads is there; a statement that reads one whose
inputs are missing fails as it would on a missing dataset. They are named ``derived_<name>``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import duckdb

from flitch.store.resources import exhausted

log = logging.getLogger(__name__)

#: Prefix of derived tables' names, apart from the datasets'.
PREFIX = "derived_"


@dataclass(frozen=True)
class Derived:
    """One derived table: ``name`` (its table is ``derived_<name>``), the SELECT that fills it
    (it may read derived tables listed before it, by table name) and the tables it reads."""

    name: str
    sql: str
    inputs: tuple[str, ...]

    @property
    def table(self) -> str:
        return PREFIX + self.name


def _reads(sql: str, table: str) -> bool:
    return re.search(rf"\b{re.escape(table)}\b", sql) is not None


def needed(
    sql: str, derived: Sequence[Derived], present: Callable[[str], bool] = lambda table: False
) -> list[Derived]:
    """The derived tables ``sql`` reads that are not ``present``, and those they read in turn
    that are not, in build order (the order of ``derived``)."""
    wanted = {d.table for d in derived if _reads(sql, d.table) and not present(d.table)}
    # later ones may read earlier ones: one pass from the end finds them all
    for d in reversed(derived):
        if d.table in wanted:
            wanted.update(
                e.table
                for e in derived
                if e is not d and _reads(d.sql, e.table) and not present(e.table)
            )
    return [d for d in derived if d.table in wanted]


#: A statement's own ``WITH`` (after any leading comments), which the derived tables join.
_HEAD = re.compile(
    r"(?:\s+|--[^\n]*\n|/\*.*?\*/)*WITH\s+(RECURSIVE\s+)?", re.IGNORECASE | re.DOTALL
)


def inline(sql: str, derived: Iterable[Derived]) -> str:
    """``sql`` with each of ``derived`` (in build order) given as a ``WITH`` clause of its own,
    for a database that does not hold them."""
    ctes = ",\n".join(f"{d.table} AS MATERIALIZED (\n{d.sql}\n)" for d in derived)
    if not ctes:
        return sql
    head = _HEAD.match(sql)
    if head is not None:
        recursive = "RECURSIVE " if head.group(1) else ""
        return f"WITH {recursive}{ctes},\n{sql[head.end() :]}"
    return f"WITH {ctes}\n{sql}"


def build(
    con: duckdb.DuckDBPyConnection, derived: Sequence[Derived], present: Callable[[], set[str]]
) -> list[str]:
    """Create (or replace) each derived table whose inputs are all in ``present()``, in order,
    each in a transaction of its own, and drop every other ``derived_`` table. One that fails
    to build is left out (and logged): its statements then compute it inline, and fail there,
    on the dashboard that needs it, while the datasets are published. Running out of memory
    or disk is raised instead: inline, the same SQL would run out on every dashboard load, so
    the refresh fails and says which setting to raise. Returns the tables built."""
    built: list[str] = []
    for d in derived:
        if not all(name in present() for name in d.inputs):
            continue
        started = time.perf_counter()
        try:
            con.execute(f"CREATE OR REPLACE TABLE {d.table} AS {d.sql}")
        except duckdb.Error as exc:
            if exhausted(exc):
                raise
            log.warning("could not build %s, left out: %s", d.table, exc)
            continue
        log.info("built %s in %.2f s", d.table, time.perf_counter() - started)
        built.append(d.table)
    for table in sorted(present()):
        if table.startswith(PREFIX) and table not in built:
            con.execute(f"DROP TABLE {table}")
    return built
