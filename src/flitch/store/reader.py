"""Reading a store's published version: read-only, locked down, following new versions.

DuckDB caches database instances by path within a process, which would hand a new reader the
replaced file. Readers therefore open an in-memory DuckDB and ``ATTACH`` the file read-only
under the name ``flitch``, then disable external access and lock the configuration: SQL that
got past ``sqlguard`` could still neither write nor reach another file or the network.

A snapshot holds its version while it is open (``DuckDBStore.hold``): in a shared cache
(``FLITCH_CACHE_URL``) that is a lease in the metadata database, so the version's file is not
removed under it by another process; it lets go when its file is closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Self, TypeVar

import duckdb

from flitch.catalog import ObjectSpec
from flitch.store import exports, sqlguard
from flitch.store.base import (
    DatasetInfo,
    DatasetMissing,
    ExportFormat,
    ExportResult,
    QueryFailed,
    QueryResult,
    StoreCorrupt,
    TablePage,
    TableQuery,
)
from flitch.store.cursors import CallCursors
from flitch.store.files import Generation
from flitch.store.results import ASOF_LOOP_ROWS, CATALOG, Params, SqlSession
from flitch.store.schema import quote_literal, table_name

if TYPE_CHECKING:
    from flitch.store.duckdb_store import DuckDBStore

T = TypeVar("T")
#: Versions a call tries before giving up (each retirement means a newer one was published).
_RETRIES = 5


def open_readonly(
    path: Path | None, *, allow_write: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``path`` attached read-only as the default catalog, no access
    to any other file or the network (but ``allow_write``), and its configuration locked."""
    con = duckdb.connect(":memory:", config={"temp_directory": ""})
    try:
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        # an ASOF join with few rows on its left is planned as a loop over every row on its
        # right: the subscriber counts look up a few instants in a long tally (GLOBAL: the
        # statements run on cursors, which do not inherit a session setting)
        con.execute(f"SET GLOBAL asof_loop_join_threshold = {ASOF_LOOP_ROWS}")
        if path is None:
            con.execute(f"ATTACH ':memory:' AS {CATALOG}")
        else:
            con.execute(f"ATTACH {quote_literal(str(path))} AS {CATALOG} (READ_ONLY)")
        con.execute(f"USE {CATALOG}")
        if allow_write is not None:
            con.execute(f"SET allowed_paths = [{quote_literal(str(allow_write))}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        con.close()
        raise StoreCorrupt(path or Path(":memory:"), str(exc)) from None
    return con


class SnapshotRetired(Exception):
    """The snapshot was closed (a newer version was published, or the store deleted) before
    this call began; the reader retries on the version now current."""


class Snapshot:
    """One version of the datasets, open read-only: every query sees the same data.

    Closing it while calls run on it (another thread's query, when a refresh publishes a new
    version or the store is deleted) lets them finish: the file is closed when the last ends,
    and calls that begin afterwards raise ``SnapshotRetired``."""

    def __init__(
        self,
        path: Path | None,
        generation: Generation | None,
        let_go: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.generation = generation
        self._con = open_readonly(path)
        #: gives the version back once the file is closed (it then may be removed)
        self._let_go = let_go
        #: a cursor of its own for each call, so one snapshot serves several threads
        self._cursors = CallCursors(self._con, shut=self._shut, refused=SnapshotRetired)
        self._cursor = self._cursors.cursor
        self._session = SqlSession(self._cursor, private=True)

    def _shut(self) -> None:
        self._con.close()
        if self._let_go is not None:
            self._let_go()

    def query(self, sql: str, params: Params = None, *, max_rows: int | None = None) -> QueryResult:
        return self._session.query(sql, params, max_rows=max_rows)

    def datasets(self) -> list[DatasetInfo]:
        return self._session.datasets()

    def has_dataset(self, name: str) -> bool:
        return self._session.has_table(name)

    def has_table(self, name: str) -> bool:
        return self._session.has_table(name)

    def table(self, spec: ObjectSpec, request: TableQuery | None = None) -> TablePage:
        return self._session.table(spec, request)

    def close(self) -> None:
        """Close the file now, or as soon as the calls running on it end."""
        self._cursors.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DuckDBReader:
    """A long-lived reader of a store. Each call uses the newest committed version (unless
    ``follow`` is off); ``snapshot()`` pins one version for several calls."""

    def __init__(self, store: DuckDBStore, *, follow: bool = True) -> None:
        self._store = store
        self._follow = follow
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        """The version this reader is on (reopened first if a newer one was committed; the
        version it leaves is closed once the calls still running on it end)."""
        with self._lock:
            snap = self._snap
            if snap is None or (self._follow and snap.generation != self._store.generation()):
                if snap is not None:
                    snap.close()
                self._snap = snap = self._open()
            return snap

    def release_stale(self) -> bool:
        """Let go of the version held if it is no longer the published one (a refresh replaced
        it, or the store was deleted, by any process): its file is closed once the calls
        running on it end, and the next call opens what is current. True if the store is
        gone, when nothing is reopened until this reader is used again."""
        generation = self._store.generation()
        with self._lock:
            snap = self._snap
            if snap is not None and snap.generation != generation:
                self._snap = None
                snap.close()
        return generation is None

    def _use(self, work: Callable[[Snapshot], T]) -> T:
        """``work`` on the current version, again on the next if it was retired meanwhile."""
        for _ in range(_RETRIES):
            try:
                return work(self.snapshot())
            except SnapshotRetired:
                continue
        raise QueryFailed("The cache kept changing while it was read.", "Try again in a moment.")

    def _open(self) -> Snapshot:
        held = self._store.hold()
        if held is None:
            return Snapshot(None, None)
        try:
            return Snapshot(held.path, held.generation, held.let_go)
        except StoreCorrupt:
            held.let_go()
            if self._store.generation() is None:  # destroyed while opening
                return Snapshot(None, None)
            raise

    @property
    def generation(self) -> Generation | None:
        return self.snapshot().generation

    def query(self, sql: str, params: Params = None, *, max_rows: int | None = None) -> QueryResult:
        return self._use(lambda snap: snap.query(sql, params, max_rows=max_rows))

    def datasets(self) -> list[DatasetInfo]:
        return self._use(lambda snap: snap.datasets())

    def table(self, spec: ObjectSpec, request: TableQuery | None = None) -> TablePage:
        return self._use(lambda snap: snap.table(spec, request))

    def has_table(self, name: str) -> bool:
        return self._use(lambda snap: snap.has_table(name))

    def export(
        self,
        source: ObjectSpec | str,
        fmt: ExportFormat,
        dest: Path,
        params: Params = None,
        *,
        limit: int | None = None,
    ) -> ExportResult:
        """Write a dataset, or the result of a read-only SELECT, to CSV or Parquet
        (``exports``: text cells safe for spreadsheets in CSV; the file appears whole)."""
        if isinstance(source, ObjectSpec):
            if not self._use(lambda snap: snap.has_dataset(source.name)):
                raise DatasetMissing(source.name)
            sql = f"SELECT * FROM {table_name(source)} ORDER BY created DESC, id DESC"  # noqa: S608
        else:
            sql = sqlguard.check_read_only(source)
        held = self._store.hold()
        path = held.path if held is not None else None
        try:
            return exports.write(
                lambda partial: open_readonly(path, allow_write=partial),
                sql,
                fmt,
                dest,
                params=params,
                limit=limit,
            )
        finally:
            if held is not None:
                held.let_go()

    def close(self) -> None:
        with self._lock:
            if self._snap is not None:
                self._snap.close()
                self._snap = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
