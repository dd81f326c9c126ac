"""One metadata database, on SQLite or PostgreSQL: connections kept for reuse, and transactions.

Everything Flitch reads or writes outside its cache happens in a transaction of this object:

- :meth:`Database.write` takes the writers' lock first, so two writers queue instead of one
  failing or reading a count the other is about to change (the sign-in limit and the first
  account rely on it). On SQLite that is ``BEGIN IMMEDIATE`` with a busy timeout; on
  PostgreSQL a transaction-scoped advisory lock, which every process sharing the database sees.
- :meth:`Database.read` is one consistent snapshot across several queries (``BEGIN`` on SQLite,
  ``REPEATABLE READ, READ ONLY`` on PostgreSQL).
- A transaction opened while another is open on the same thread joins it (the inner block runs
  inside the outer one), so a method that reads can be called from one that writes.

Statements are written once, with ``?`` placeholders; :mod:`flitch.metadb.dialect` turns them
into what the engine expects. Rows answer to both ``row["name"]`` and ``row[0]``, and the
drivers' errors come out as :class:`DatabaseError` or :class:`IntegrityError` whichever engine
raised them. Connections are kept (a few per process) and reused by any thread.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

from flitch.metadb import dialect
from flitch.private import private_dir, private_file

#: How long a writer waits for another one before giving up (SQLite's busy timeout).
BUSY_TIMEOUT_MS = 30_000
#: Idle connections kept per database object for the next transaction.
KEEP_IDLE = 4
#: The advisory lock every PostgreSQL writer takes (the key of SQLite's one write lock).
WRITERS_LOCK = 0x464C_4954_4348_0001  # "FLITCH" and 1


class DatabaseError(Exception):
    """The database refused a statement or could not be reached (either engine's driver)."""


class IntegrityError(DatabaseError):
    """A constraint refused a row: a name or key already taken, a missing parent row."""


class Row(Protocol):
    """A result row: by column name or by position, like ``sqlite3.Row``."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class PgRow:
    """A PostgreSQL row that reads like ``sqlite3.Row`` (the first column of a name wins)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str, /) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._index)


class Result:
    """The rows of one statement and how many rows it changed."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return self._rows

    def scalar(self) -> Any:
        """The first column of the first row (None when there is no row)."""
        row = self.fetchone()
        return None if row is None else row[0]

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)


class Tx:
    """A connection inside one transaction (or, for maintenance, outside any)."""

    def __init__(self, raw: Any, engine: str, *, writable: bool) -> None:
        self.raw = raw
        self.engine = engine
        self.writable = writable

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        """Run one statement written with ``?`` placeholders; its rows are read at once."""
        statement = dialect.statement(sql, self.engine)
        with _translated():
            cur = self.raw.execute(statement, tuple(params))
            rows = cur.fetchall() if cur.description is not None else []
            return Result(rows, cur.rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        statement = dialect.statement(sql, self.engine)
        with _translated():
            if self.engine == dialect.SQLITE:
                self.raw.executemany(statement, [tuple(r) for r in rows])
            else:
                with self.raw.cursor() as cur:
                    cur.executemany(statement, [tuple(r) for r in rows])


@contextmanager
def _translated() -> Iterator[None]:
    """Turn either driver's errors into this module's."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc
    except sqlite3.Error as exc:
        raise DatabaseError(str(exc)) from exc
    except Exception as exc:
        psycopg = _psycopg_or_none()
        if psycopg is not None and isinstance(exc, psycopg.errors.IntegrityError):
            raise IntegrityError(str(exc).strip()) from exc
        if psycopg is not None and isinstance(exc, psycopg.Error):
            raise DatabaseError(str(exc).strip()) from exc
        raise


def _psycopg_or_none() -> Any:
    """psycopg if something imported it (only PostgreSQL needs it loaded)."""
    return sys.modules.get("psycopg")


class Database:
    """The metadata database at one place: a SQLite file or a PostgreSQL server."""

    def __init__(self, engine: str, where: str, *, path: Path | None = None) -> None:
        """Use :func:`flitch.metadb.target.open_database` (or :meth:`sqlite`) to make one."""
        self.engine = engine
        #: what to call it in messages: the file, or the URL without its password
        self.where = where
        self.path = path
        self._url = ""
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closed = False

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        """The SQLite file at ``path`` (created 0600 on first use, its folder 0700)."""
        path = Path(path)
        private_dir(path.parent, existing=False)
        if not path.exists():
            with suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        db = cls(dialect.SQLITE, str(path), path=path)
        with db.maintenance() as tx:  # a file that is no database fails here, not later
            # readers never block the writer; the mode is kept in the file
            tx.execute("PRAGMA journal_mode = WAL")
        # made 0600 above, or by an older Flitch with the umask's mode; SQLite gives its log
        # and shared-memory files the database's mode
        for suffix in ("", "-wal", "-shm"):
            private_file(path.with_name(path.name + suffix))
        return db

    @classmethod
    def postgres(cls, url: str, where: str) -> Database:
        db = cls(dialect.POSTGRES, where)
        db._url = url
        with db.maintenance():
            pass
        return db

    # -- connections ----------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self.engine == dialect.SQLITE:
            assert self.path is not None
            return _open_sqlite(self.path)
        return _open_postgres(self._url)

    def _take(self) -> Any:
        if self._closed:
            raise DatabaseError(f"The metadata database {self.where} was closed.")
        with self._lock:
            if self._idle:
                return self._idle.pop()
        with _translated():
            return self._connect()

    def _give_back(self, raw: Any, *, healthy: bool) -> None:
        if healthy and self.engine == dialect.POSTGRES:
            healthy = not raw.closed and raw.info.transaction_status == 0  # idle, not in error
        with self._lock:
            if healthy and not self._closed and len(self._idle) < KEEP_IDLE:
                self._idle.append(raw)
                return
        _close_quietly(raw)

    def close(self) -> None:
        """Close the kept connections (a transaction still open keeps its own until it ends)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for raw in idle:
            _close_quietly(raw)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Tx]:
        """A transaction, or the one this thread has open already (joined, not nested)."""
        current: Tx | None = getattr(self._local, "tx", None)
        if current is not None:
            if write and not current.writable:
                raise RuntimeError("a write cannot join a read-only transaction")
            yield current
            return
        raw = self._take()
        tx = Tx(raw, self.engine, writable=write)
        healthy = False
        try:
            with _translated():
                for statement in dialect.begin(self.engine, write=write, lock=WRITERS_LOCK):
                    raw.execute(statement)
            self._local.tx = tx
            try:
                yield tx
            except BaseException:
                self._local.tx = None
                with _translated():
                    raw.execute("ROLLBACK")
                healthy = True
                raise
            self._local.tx = None
            with _translated():
                raw.execute("COMMIT")
            healthy = True
        finally:
            self._local.tx = None
            self._give_back(raw, healthy=healthy)

    def write(self) -> AbstractContextManager[Tx]:
        """One write transaction: the writers' lock is taken at the start (others wait)."""
        return self.transaction(write=True)

    def read(self) -> AbstractContextManager[Tx]:
        """One read transaction: a consistent snapshot across several queries."""
        return self.transaction(write=False)

    @contextmanager
    def maintenance(self) -> Iterator[Tx]:
        """A connection outside any transaction, for what cannot run in one (``VACUUM``)."""
        raw = self._take()
        healthy = False
        try:
            yield Tx(raw, self.engine, writable=True)
            healthy = True
        finally:
            self._give_back(raw, healthy=healthy)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Rows of one read-only statement."""
        with self.read() as tx:
            rows: list[Row] = tx.execute(sql, params).fetchall()
        return rows


def _open_sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _open_postgres(url: str) -> Any:
    import psycopg

    conn = psycopg.connect(url, autocommit=True, connect_timeout=10, row_factory=_pg_rows)
    return conn


def _pg_rows(cursor: Any) -> Any:
    names: dict[str, int] = {}
    for i, column in enumerate(cursor.description or ()):
        names.setdefault(column.name, i)

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, names)

    return make


def _close_quietly(raw: Any) -> None:
    with suppress(Exception):  # a connection that will not close is dropped all the same
        raw.close()
