"""The ``connections`` table: one row per saved connection, its sealed key included.

Only the connections package reads a :class:`ConnectionRow`; everything else gets the public
:class:`~flitch.connections.records.ConnectionInfo` from :meth:`ConnectionTable.info`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flitch import clock as clocks
from flitch.connections.metadata import MetadataDB, set_statuses
from flitch.connections.records import ConnectionInfo, DatasetState, KeyTestResult
from flitch.errors import NotFound
from flitch.metadb import Row, Tx
from flitch.metadb.schema import DEFAULT_WORKSPACE


@dataclass(frozen=True)
class ConnectionRow:
    """A connection as stored, sealed key included: never leaves the connections package."""

    id: str
    name: str
    mode: str
    key_sealed: bytes = field(repr=False)
    key_fingerprint: str
    key_masked: str
    key_last4: str
    can_read_events: bool
    refresh_every: int | None
    created_at: float
    updated_at: float
    last_test: KeyTestResult | None


class ConnectionTable:
    """Reads and writes of the ``connections`` table (and the datasets saved with a row).

    Bound to a workspace (``workspace_id``), every read sees only that workspace's rows and a
    new row is saved in it: a connection of another workspace is not found, exactly as one that
    does not exist. Unbound (``None``), reads see every workspace — for the scheduler and the
    workers, which act for all of them and answer nobody — and a new row goes to the default
    workspace. Writes take the id a read of the same table gave (:meth:`get` first).
    """

    def __init__(self, db: MetadataDB, workspace_id: str | None = None) -> None:
        self._db = db
        self.workspace_id = workspace_id

    def _home(self) -> str:
        """The workspace a new row is saved in, and whose names an unqualified lookup means."""
        return self.workspace_id or DEFAULT_WORKSPACE

    def _key(self, name: str) -> str:
        """The stored ``name_key``: unique within a workspace, so prefixed with its id."""
        return f"{self._home()}/{name.strip().casefold()}"

    def _scope(self) -> tuple[str, tuple[str, ...]]:
        """The condition (and its parameter) every read of this table adds."""
        if self.workspace_id is None:
            return "", ()
        return " AND workspace_id = ?", (self.workspace_id,)

    # -- connections --------------------------------------------------------------------------
    def insert(self, row: ConnectionRow, datasets: Sequence[DatasetState]) -> None:
        """Save a new connection and its datasets; ``metadb.IntegrityError`` on a taken name."""
        with self._db.write() as db:
            db.execute(
                "INSERT INTO connections (id, name, name_key, mode, key_sealed, key_fingerprint,"
                " key_masked, key_last4, can_read_events, refresh_every, created_at, updated_at,"
                " last_tested_at, last_test_ok, last_test_message, last_test_fix, workspace_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.name,
                    self._key(row.name),
                    row.mode,
                    row.key_sealed,
                    row.key_fingerprint,
                    row.key_masked,
                    row.key_last4,
                    int(row.can_read_events),
                    row.refresh_every,
                    row.created_at,
                    row.updated_at,
                    *_test_columns(row.last_test),
                    self._home(),
                ),
            )
            _put_datasets(db, row.id, datasets, row.created_at, row.refresh_every)

    def rows(self) -> list[ConnectionRow]:
        where, params = self._scope()
        rows = self._db.query(
            f"SELECT * FROM connections WHERE 1 = 1{where} ORDER BY name_key",  # noqa: S608
            params,
        )
        return [_connection_row(r) for r in rows]

    def find(self, name_or_id: str) -> ConnectionRow | None:
        """The connection with this id, or else this name (case-insensitive)."""
        where, params = self._scope()
        rows = self._db.query(
            f"SELECT * FROM connections WHERE (id = ? OR name_key = ?){where}"  # noqa: S608
            " ORDER BY (id = ?) DESC LIMIT 1",
            (name_or_id.strip(), self._key(name_or_id), *params, name_or_id.strip()),
        )
        return _connection_row(rows[0]) if rows else None

    def get(self, name_or_id: str) -> ConnectionRow:
        row = self.find(name_or_id)
        if row is None:
            names = [r.name for r in self.rows()]
            raise NotFound(
                f"There is no connection called {name_or_id!r}.",
                (f"Saved connections: {', '.join(names)}." if names else "No connection is saved.")
                + " Run `flitch connections` to list them, or `flitch connect NAME` to add one.",
            )
        return row

    def info(self, row: ConnectionRow) -> ConnectionInfo:
        """The public record of a stored connection (no key in it)."""
        with self._db.read():
            datasets = tuple(self._db.datasets(row.id))
            last = self._db.runs(row.id, limit=1)
        return ConnectionInfo(
            id=row.id,
            name=row.name,
            mode=row.mode,
            key_masked=row.key_masked,
            key_last4=row.key_last4,
            can_read_events=row.can_read_events,
            refresh_every=row.refresh_every,
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_test=row.last_test,
            datasets=datasets,
            last_run=last[0] if last else None,
        )

    def replace_key(
        self,
        connection_id: str,
        *,
        sealed: bytes,
        fingerprint: str,
        masked: str,
        last4: str,
        mode: str,
        can_read_events: bool,
        test: KeyTestResult,
        datasets: Sequence[DatasetState],
        reset_refresh: bool = False,
    ) -> None:
        """Store a new key and the result of testing it, in one transaction.

        ``reset_refresh`` forgets what was refreshed (the cache was emptied, e.g. on a change of
        mode): every dataset is then due at once if refresh is on.
        """
        with self._db.write() as db:
            db.execute(
                "UPDATE connections SET key_sealed = ?, key_fingerprint = ?, key_masked = ?,"
                " key_last4 = ?, mode = ?, can_read_events = ?, updated_at = ?,"
                " last_tested_at = ?, last_test_ok = ?, last_test_message = ?, last_test_fix = ?"
                " WHERE id = ?",
                (
                    sealed,
                    fingerprint,
                    masked,
                    last4,
                    mode,
                    int(can_read_events),
                    test.tested_at,
                    *_test_columns(test),
                    connection_id,
                ),
            )
            set_statuses(db, connection_id, datasets, test.tested_at)
            if reset_refresh:
                db.execute(
                    "UPDATE datasets SET last_refresh_at = NULL, rows = NULL, next_due_at ="
                    " (SELECT CASE WHEN refresh_every IS NULL THEN NULL"
                    " ELSE CAST(? AS DOUBLE PRECISION) END"
                    " FROM connections WHERE id = ?) WHERE connection_id = ?",
                    (test.tested_at, connection_id, connection_id),
                )

    def record_test(
        self,
        connection_id: str,
        test: KeyTestResult,
        datasets: Sequence[DatasetState],
        can_read_events: bool | None = None,
    ) -> None:
        """Store the result of re-testing a saved key (statuses only of the datasets given)."""
        with self._db.write() as db:
            db.execute(
                "UPDATE connections SET last_tested_at = ?, last_test_ok = ?,"
                " last_test_message = ?, last_test_fix = ?,"
                " can_read_events = coalesce(?, can_read_events) WHERE id = ?",
                (
                    *_test_columns(test),
                    None if can_read_events is None else int(can_read_events),
                    connection_id,
                ),
            )
            set_statuses(db, connection_id, datasets, test.tested_at)

    def set_refresh(self, connection_id: str, every: int | None, now: float | None = None) -> None:
        """Change the refresh interval and recompute when each dataset is next due."""
        now = clocks.now() if now is None else now
        with self._db.write() as db:
            db.execute(
                "UPDATE connections SET refresh_every = ?, updated_at = ? WHERE id = ?",
                (every, now, connection_id),
            )
            if every is None:
                db.execute(
                    "UPDATE datasets SET next_due_at = NULL WHERE connection_id = ?",
                    (connection_id,),
                )
            else:  # never refreshed: due now; else one interval after the last, or now
                db.execute(
                    "UPDATE datasets SET next_due_at = CASE WHEN last_refresh_at IS NULL THEN ?"
                    " WHEN last_refresh_at + ? > ? THEN last_refresh_at + ? ELSE ? END"
                    " WHERE connection_id = ?",
                    (now, every, now, every, now, connection_id),
                )

    def set_objects(
        self, connection_id: str, datasets: Sequence[DatasetState], now: float | None = None
    ) -> None:
        """Make ``datasets`` the picked objects: new ones are added, unpicked ones removed."""
        now = clocks.now() if now is None else now
        with self._db.write() as db:
            keep = [d.object for d in datasets]
            marks = ",".join("?" * len(keep))
            db.execute(
                f"DELETE FROM datasets WHERE connection_id = ? AND object NOT IN ({marks})",  # noqa: S608
                (connection_id, *keep),
            )
            every = db.execute(
                "SELECT refresh_every FROM connections WHERE id = ?", (connection_id,)
            ).scalar()
            _put_datasets(db, connection_id, datasets, now, every)
            db.execute("UPDATE connections SET updated_at = ? WHERE id = ?", (now, connection_id))

    def delete(self, connection_id: str) -> bool:
        """Remove a connection with its datasets and runs; call :meth:`scrub` afterwards."""
        with self._db.write() as db:
            db.execute("DELETE FROM refresh_runs WHERE connection_id = ?", (connection_id,))
            db.execute("DELETE FROM datasets WHERE connection_id = ?", (connection_id,))
            gone = db.execute("DELETE FROM connections WHERE id = ?", (connection_id,)).rowcount
        return gone > 0


def _test_columns(test: KeyTestResult | None) -> tuple[object, ...]:
    if test is None:
        return (None, None, None, None)
    return (test.tested_at, int(test.authenticated), test.message, test.fix)


def _connection_row(r: Row) -> ConnectionRow:
    test = None
    if r["last_tested_at"] is not None:
        test = KeyTestResult(
            tested_at=r["last_tested_at"],
            authenticated=bool(r["last_test_ok"]),
            message=r["last_test_message"],
            fix=r["last_test_fix"],
        )
    return ConnectionRow(
        id=r["id"],
        name=r["name"],
        mode=r["mode"],
        key_sealed=bytes(r["key_sealed"]),
        key_fingerprint=r["key_fingerprint"],
        key_masked=r["key_masked"],
        key_last4=r["key_last4"],
        can_read_events=bool(r["can_read_events"]),
        refresh_every=r["refresh_every"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        last_test=test,
    )


def _put_datasets(
    db: Tx,
    connection_id: str,
    datasets: Sequence[DatasetState],
    now: float,
    refresh_every: int | None,
) -> None:
    """Insert datasets not there yet (due now if refresh is on); update the others' status."""
    for position, d in enumerate(datasets):
        db.execute(
            "INSERT INTO datasets (connection_id, object, position, status, reason, fix,"
            " status_at, next_due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (connection_id, object) DO UPDATE SET position = excluded.position,"
            " status = excluded.status, reason = excluded.reason, fix = excluded.fix,"
            " status_at = excluded.status_at",
            (
                connection_id,
                d.object,
                position,
                d.status.value,
                d.reason,
                d.fix,
                now,
                now if refresh_every is not None else None,
            ),
        )
