"""Bring a metadata database up to date, and say which versions it holds.

Each part's steps (:mod:`flitch.metadb.schema`) run in one write transaction, so processes
that open the same database at once queue on the writers' lock and the second finds the work
done. A database already past what this Flitch knows was written by a newer one: it is refused
rather than misread. :func:`versions` only reads, for ``flitch db check``.
"""

from __future__ import annotations

from flitch import clock as clocks
from flitch.metadb import dialect
from flitch.metadb.database import Database, Tx
from flitch.metadb.errors import MetadataError
from flitch.metadb.schema import TRACKS, Track, statements

_TABLES_SQL = {
    dialect.SQLITE: "SELECT name FROM sqlite_master WHERE type = 'table'",
    dialect.POSTGRES: "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}


def table_names(tx: Tx) -> set[str]:
    """The tables of the database (of the current schema, on PostgreSQL)."""
    return {str(r[0]) for r in tx.execute(_TABLES_SQL[tx.engine])}


def upgrade(db: Database) -> dict[str, int]:
    """Run every step not run yet; returns each part's version now in force."""
    done: dict[str, int] = {}
    with db.write() as tx:
        for track in TRACKS:
            done[track.name] = _upgrade_track(db, tx, track)
    return done


def versions(db: Database) -> dict[str, int]:
    """Each part's version in the database (0: not created yet), without changing anything."""
    with db.read() as tx:
        present = table_names(tx)
        return {t.name: _current(tx, t) if t.version_table in present else 0 for t in TRACKS}


def latest() -> dict[str, int]:
    """Each part's version this Flitch writes."""
    return {t.name: t.latest for t in TRACKS}


def _current(tx: Tx, track: Track) -> int:
    found = tx.execute(f"SELECT max(version) FROM {track.version_table}").scalar()  # noqa: S608
    return int(found or 0)


def _upgrade_track(db: Database, tx: Tx, track: Track) -> int:
    stamp = "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP" if track.text_stamp else "{float} NOT NULL"
    tx.execute(
        dialect.ddl(
            f"CREATE TABLE IF NOT EXISTS {track.version_table}"
            f" (version INTEGER PRIMARY KEY, applied_at {stamp})",
            tx.engine,
        )
    )
    current = _current(tx, track)
    if current > track.latest:
        setting = "FLITCH_HOME" if db.engine == dialect.SQLITE else "FLITCH_DATABASE_URL"
        raise MetadataError(
            f"{db.where} was written by a newer Flitch (schema {current} of its {track.name} "
            f"tables; this version knows up to {track.latest}).",
            f"Upgrade Flitch, or point {setting} at another "
            + ("directory." if db.engine == dialect.SQLITE else "database."),
        )
    for version, steps in track.steps:
        if version <= current:
            continue
        for sql in statements(steps, tx.engine):
            tx.execute(dialect.ddl(sql, tx.engine))
        if track.text_stamp:
            tx.execute(f"INSERT INTO {track.version_table} (version) VALUES (?)", (version,))  # noqa: S608
        else:
            tx.execute(
                f"INSERT INTO {track.version_table} (version, applied_at) VALUES (?, ?)",  # noqa: S608
                (version, clocks.now()),
            )
        current = version
    return current
