"""Move a single-machine install's metadata from SQLite to PostgreSQL (``flitch
migrate-to-postgres``).

Every table of :data:`~flitch.metadb.schema.TABLES` is copied row for row, parents first, in one
PostgreSQL transaction: either the whole install arrives or nothing does. Keys are copied as
they are stored, sealed: nothing here unseals them, so the processes that use the new database
need the master key that sealed them (the same ``FLITCH_SECRET_KEY``, or a copy of
``FLITCH_HOME/secret.key``). Ids keep their values, and the counters PostgreSQL numbers new users
and tokens from start past the highest copied. Runs and sign-in attempts keep their order (the
``rowid`` a few queries order by is numbered again, in the same order).

The target must hold no rows yet, so that a second run cannot mix two installs; the source is
read in one snapshot, so stop the install's ``flitch`` processes first or writes made during the
copy stay behind in SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flitch.metadb import dialect
from flitch.metadb.database import Database, DatabaseError, Tx
from flitch.metadb.errors import MetadataError
from flitch.metadb.schema import DEFAULT_WORKSPACE, TABLES
from flitch.metadb.target import Target, open_target

#: Integer keys PostgreSQL numbers itself: its counter is moved past the copied ones.
NUMBERED = (("web_users", "id"), ("web_api_tokens", "id"))
#: Rows a new, empty database holds already: not Flitch data of another install.
_HELD = {"workspaces": f"WHERE id != '{DEFAULT_WORKSPACE}'"}


@dataclass(frozen=True)
class Moved:
    """What was copied: rows per table, from where to where (no password in either)."""

    source: str
    target: str
    rows: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "target": self.target, "rows": self.rows}


def move_to_postgres(home: Path, url: str) -> Moved:
    """Copy the SQLite metadata of ``home`` into the (empty) PostgreSQL database at ``url``."""
    source_target = Target(dialect.SQLITE, path=Path(home) / "flitch.db")
    if source_target.path is None or not source_target.path.exists():
        raise MetadataError(
            f"There is no metadata database at {source_target.where} to move.",
            "Set FLITCH_HOME to the data directory of the install to move.",
        )
    target = Target.of(home, url)
    if target.engine != dialect.POSTGRES:
        raise MetadataError(
            "migrate-to-postgres needs the PostgreSQL database to move to.",
            "Give it with --to postgresql://USER:PASSWORD@HOST/DB, or set FLITCH_DATABASE_URL.",
        )
    with open_target(source_target) as source, open_target(target) as dest:
        try:
            return _copy(source, dest)
        except DatabaseError as exc:
            raise MetadataError(
                f"The move into {dest.where} stopped ({exc}); nothing was written there.",
                "Fix what the message names and run it again.",
            ) from None


def _copy(source: Database, dest: Database) -> Moved:
    counts: dict[str, int] = {}
    with source.read() as src, dest.write() as dst:
        occupied = [
            t
            for t in TABLES
            if dst.execute(f"SELECT 1 FROM {t} {_HELD.get(t, '')} LIMIT 1").fetchone()  # noqa: S608
        ]
        if occupied:
            raise MetadataError(
                f"{dest.where} already holds Flitch data (in {', '.join(occupied)}).",
                "Move into an empty database: create a new one, or drop these tables first.",
            )
        # the default workspace a new database starts with gives way to the one copied
        dst.execute("DELETE FROM workspaces")
        for table in TABLES:
            counts[table] = _copy_table(src, dst, table)
        for table, column in NUMBERED:
            dst.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"  # noqa: S608
                f" coalesce(max({column}), 0) + 1, false) FROM {table}"
            )
        for table in TABLES:
            found = int(dst.execute(f"SELECT count(*) FROM {table}").scalar())  # noqa: S608
            if found != counts[table]:  # pragma: no cover (the transaction would have failed)
                raise MetadataError(f"{table}: {found} rows arrived of {counts[table]}.")
    return Moved(source.where, dest.where, counts)


def _copy_table(src: Tx, dst: Tx, table: str) -> int:
    wanted = [str(r[1]) for r in src.execute(f"PRAGMA table_info({table})")]
    present = {
        str(r[0])
        for r in dst.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
    }
    columns = [c for c in wanted if c in present and c != "rowid"]
    names = ", ".join(columns)
    # in the order they were added (a table WITHOUT ROWID: in its key's order)
    keyed = src.execute("SELECT wr FROM pragma_table_list WHERE name = ?", (table,)).scalar()
    order = "1" if keyed else "rowid"
    rows = src.execute(f"SELECT {names} FROM {table} ORDER BY {order}").fetchall()  # noqa: S608
    if rows:
        marks = ", ".join("?" * len(columns))
        dst.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608
            [tuple(r[i] for i in range(len(columns))) for r in rows],
        )
    return len(rows)
