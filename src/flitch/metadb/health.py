"""What ``flitch db check`` reports: can the database be reached, how fast, which engine and
version, is its schema the one this Flitch writes, and, on PostgreSQL, replication: a standby
says how far behind its primary it is, a primary lists its standbys with their lag. It changes
nothing (a SQLite file that does not exist yet is reported so, not created)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flitch.metadb import dialect
from flitch.metadb.database import Database, DatabaseError
from flitch.metadb.errors import MetadataError
from flitch.metadb.target import Target, connect, unreachable
from flitch.metadb.upgrade import latest, versions

UP_TO_DATE = "up to date"
BEHIND = "behind"  # `flitch db upgrade` brings it up to date
NEWER = "newer"  # written by a newer Flitch: upgrade Flitch
EMPTY = "empty"  # no Flitch tables yet


@dataclass(frozen=True)
class Health:
    engine: str
    where: str
    reachable: bool
    state: str = ""
    #: the engine's own version (PostgreSQL's server, or the SQLite library)
    server_version: str = ""
    round_trip_ms: float | None = None
    versions: dict[str, int] = field(default_factory=dict)
    latest: dict[str, int] = field(default_factory=dict)
    error: str = ""
    fix: str = ""
    #: PostgreSQL: ``primary`` or ``standby`` (empty on SQLite)
    role: str = ""
    #: on a standby, seconds since the last transaction it replayed was committed on the
    #: primary (None: none replayed yet), and whether it has replayed all it received
    replay_lag_s: float | None = None
    caught_up: bool | None = None
    #: on a primary, each standby streaming from it: name, address, state, replay lag (s)
    standbys: list[dict[str, object]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and self.state == UP_TO_DATE

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "engine": self.engine,
            "where": self.where,
            "reachable": self.reachable,
            "state": self.state,
            "server_version": self.server_version,
            "round_trip_ms": self.round_trip_ms,
            "versions": self.versions,
            "latest": self.latest,
            "error": self.error,
            "fix": self.fix,
            "role": self.role,
            "replay_lag_s": self.replay_lag_s,
            "caught_up": self.caught_up,
            "standbys": self.standbys,
        }


def check(target: Target) -> Health:
    """Try the database at ``target`` and compare its schema with this Flitch's."""
    if target.engine == dialect.SQLITE and target.path is not None and not target.path.exists():
        return Health(
            target.engine,
            target.where,
            reachable=True,
            state=EMPTY,
            server_version=_sqlite_version(),
            latest=latest(),
            fix="Any flitch command creates it; or run `flitch db upgrade`.",
        )
    try:
        db = connect(target)
    except MetadataError as refused:
        return Health(target.engine, target.where, False, error=refused.message, fix=refused.fix)
    try:
        started = time.perf_counter()
        with db.read() as tx:
            tx.execute("SELECT 1")
        round_trip = (time.perf_counter() - started) * 1000
        server = (
            _sqlite_version()
            if db.engine == dialect.SQLITE
            else str(db.query("SHOW server_version")[0][0])
        )
        found = versions(db)
        replication = _replication(db) if db.engine == dialect.POSTGRES else Replication()
    except DatabaseError as exc:
        failed = unreachable(target, exc)
        return Health(target.engine, target.where, False, error=failed.message, fix=failed.fix)
    finally:
        db.close()
    want = latest()
    if not any(found.values()):
        state, fix = EMPTY, "Run `flitch db upgrade` to create the tables."
    elif any(found[k] > want[k] for k in want):
        state, fix = NEWER, "A newer Flitch wrote this database: upgrade Flitch to use it."
    elif found != want:
        state, fix = BEHIND, "Run `flitch db upgrade` to bring the tables up to date."
    else:
        state, fix = UP_TO_DATE, ""
    return Health(
        target.engine,
        target.where,
        True,
        state=state,
        server_version=server,
        round_trip_ms=round(round_trip, 2),
        versions=found,
        latest=want,
        fix=fix,
        role=replication.role,
        replay_lag_s=replication.replay_lag_s,
        caught_up=replication.caught_up,
        standbys=replication.standbys,
    )


@dataclass(frozen=True)
class Replication:
    role: str = ""
    replay_lag_s: float | None = None
    caught_up: bool | None = None
    standbys: list[dict[str, object]] = field(default_factory=list)


def _replication(db: Database) -> Replication:
    """Where this PostgreSQL server stands in replication (readable by any user)."""
    if db.query("SELECT pg_is_in_recovery()")[0][0]:
        row = db.query(
            "SELECT EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))::float8, "
            "pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
        )[0]
        return Replication("standby", _seconds(row[0]), bool(row[1]))
    rows = db.query(
        "SELECT application_name, COALESCE(client_addr::text, 'local'), state, "
        "EXTRACT(EPOCH FROM replay_lag)::float8 FROM pg_stat_replication ORDER BY 1, 2"
    )
    standbys: list[dict[str, object]] = [
        {"name": r[0], "address": r[1], "state": r[2], "replay_lag_s": _seconds(r[3])} for r in rows
    ]
    return Replication("primary", standbys=standbys)


def _seconds(value: object) -> float | None:
    return None if value is None else round(float(str(value)), 3)


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version
