"""Carrying a dataset over from the published version into the one a full refresh builds.

A full refresh starts from an empty staging file; a dataset it does not read again (its object
was left out of this refresh, say) is copied from the version it replaces, with its child
tables and its state row, so that publishing does not lose it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from flitch.catalog import ObjectSpec
from flitch.store.loading import Tables
from flitch.store.schema import first_row, quote_literal, schema_version, table_name

_PREV = "_flitch_prev"


def carry_over(
    db: duckdb.DuckDBPyConnection, tables: Tables, spec: ObjectSpec, previous: Path
) -> bool:
    """Copy ``spec``'s tables and state from the version in ``previous`` into the tables being
    built; False if that version does not have the dataset. Child tables it lacks (it was
    written before they existed) are rebuilt from the dataset's stored objects; a dataset stored
    in an older column layout is copied as it is."""
    db.execute(f"ATTACH {quote_literal(str(previous))} AS {_PREV} (READ_ONLY)")
    try:
        if not _has(db, spec.name):
            return False
        state = first_row(
            db.execute(
                "SELECT rows, refreshed_at, cursor, schema_version "  # noqa: S608
                f"FROM {_PREV}.main._flitch_datasets WHERE name = ?",
                [spec.name],
            )
        )
        db.execute(f"DROP TABLE IF EXISTS {table_name(spec)}")
        source = f"{_PREV}.main.{table_name(spec)}"
        rebuild = True
        if state is not None and state[3] == schema_version(spec):
            tables.create(spec)
            db.execute(f"INSERT INTO {table_name(spec)} SELECT * FROM {source}")  # noqa: S608
            rebuild = not all(_has(db, c.name) for c in spec.children)
            for child in spec.children if not rebuild else ():
                db.execute(
                    f"INSERT INTO {table_name(child)} "  # noqa: S608
                    f"SELECT * FROM {_PREV}.main.{table_name(child)}"
                )
        else:
            db.execute(f"CREATE TABLE {table_name(spec)} AS SELECT * FROM {source}")  # noqa: S608
        if state is not None:
            db.execute(
                "INSERT OR REPLACE INTO _flitch_datasets "
                "(name, rows, refreshed_at, cursor, schema_version) VALUES (?, ?, ?, ?, ?)",
                [spec.name, *state],
            )
    finally:
        db.execute(f"DETACH {_PREV}")
    if rebuild:
        tables.rebuild_children(spec)
    return True


def _has(db: duckdb.DuckDBPyConnection, table: str) -> bool:
    """The version being carried over from (attached) holds this table."""
    found = first_row(
        db.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? "
            "AND schema_name = 'main' AND table_name = ?",
            [_PREV, table],
        )
    )
    return bool(found and found[0])
