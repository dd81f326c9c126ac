"""The datasets of one connection in one DuckDB file, written atomically by one writer.

Files in ``cache_dir`` (one directory per connection)::

    current.duckdb            the published version; readers open it read-only
    writer.lock               flock()ed by the one refresh allowed at a time
    staging-<pid>-<tok>.duckdb   the version a refresh is building (never read by readers)
    staging-<pid>-<tok>.tmp/     DuckDB's spill directory for that refresh

A refresh never writes ``current.duckdb``. It builds the next version in a staging file — empty
for a full refresh, a copy of the current file for an incremental one — and ``commit()``
builds the derived tables the store was given (``derived``), checkpoints the file, closes it,
fsyncs it and renames it over ``current.duckdb``. A reader therefore sees the old version or
the new one, never part of one, and a reader that opened the old file keeps reading it (the
inode lives while it is open). A crash or ``kill -9`` leaves the current file untouched; the
next writer deletes the staging files it left.

Inside the staging file the refresh commits every ``commit_rows`` appended rows, which bounds
what an open DuckDB transaction holds in memory, and checkpoints after each of those commits:
the compression of the data read so far (most of the cost of writing the file: the raw JSON
column) runs on the writer thread while the reading goes on, instead of all at the end in
``commit()``. The staging file uses small row groups (``STAGING_ROW_GROUP`` rows) so that a
checkpoint rewrites little of what it wrote before — only each table's last, unfinished row
group — and the blocks it frees are reused; the published file carries about a tenth of free
space for it (a 213,930-record refresh: 253 MB against 226 MB written in one checkpoint, and
its last step 0.3 s instead of 3.5 s). A dataset's bulk load is checked for repeated ids when
its writer finishes (``loading``: no table has an index). Only the rename publishes anything:
these commits are invisible to readers.

The writer's DuckDB connection gets the store's memory limit (``FLITCH_MEMORY_LIMIT``) and spills
beyond it to the staging ``.tmp`` folder; after each checkpoint it lets go of the blocks it
cached (``resources.release_cache``), so that it does not hold the new file in memory as it
grows. Running out of memory or disk anyway raises ``OutOfMemory`` or ``DiskFull``, after the
staging files are deleted (``resources``).

With ``FLITCH_CACHE_URL`` set, the file is published as an immutable ``v-<n>.duckdb``
recorded in the metadata database instead of renamed over ``current.duckdb``
(``publishing``). Readers are in ``reader``; the files and the lock in ``files``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import duckdb

from flitch import clock as clocks
from flitch.catalog import ObjectSpec
from flitch.errors import FlitchError
from flitch.private import PRIVATE_FILE, private_dir, private_file
from flitch.store.base import (
    DatasetInfo,
    QueryResult,
    StoreCorrupt,
    StripeObjects,
)
from flitch.store.carry import carry_over
from flitch.store.derived import Derived, build
from flitch.store.files import (
    CURRENT,
    LOCK,
    STAGING_PREFIX,
    Generation,
    WriterLock,
    fsync_path,
    remove_path,
    shred,
)
from flitch.store.loading import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_COMMIT_ROWS,
    ArrowDatasetWriter,
    Tables,
)
from flitch.store.publishing import Held, InPlace, Publishing, Versioned
from flitch.store.reader import DuckDBReader
from flitch.store.resources import DiskFull, duckdb_config, explain, memory_limit_bytes
from flitch.store.results import CATALOG, Params, SqlSession
from flitch.store.schema import first_row, quote_literal, schema_version
from flitch.store.versions import VersionBook

_UNSET: Any = object()
#: Rows per row group in a refresh's staging file (DuckDB's default is 122,880): see the module
#: docstring; reading them costs the dashboards nothing measurable (bench_dashboards).
STAGING_ROW_GROUP = 8192


@dataclass
class _Pending:
    """What commit will record for a dataset written in this transaction."""

    reset: bool = False
    written: bool = False
    rows: int | None = None
    refreshed_at: datetime | None = None
    cursor: Any = _UNSET


class DuckDBRefresh:
    """The one writer of a store, building the next version in a staging file."""

    def __init__(self, store: DuckDBStore, full: bool) -> None:
        self._store = store
        self._pending: dict[str, tuple[ObjectSpec, _Pending]] = {}
        self._writers: list[ArrowDatasetWriter] = []
        self.started_at = datetime.fromtimestamp(clocks.now(), UTC)
        stem = f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.staging_path = store.cache_dir / f"{stem}.duckdb"
        self._spill = store.cache_dir / f"{stem}.tmp"
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = WriterLock(store.cache_dir)
        self._lock.acquire()
        self._closed = False
        try:
            store._remove_leftovers()
            #: the version this refresh builds on and publishes over
            self._base = store.published.base()
            current = self._base.path
            #: False when this refresh builds on the current version (a copy of it).
            self.full = full or current is None
            if current is not None and not self.full:
                size = current.stat().st_size
                if shutil.disk_usage(store.cache_dir).free < size:
                    raise DiskFull(store.cache_dir, size)
                # made private before the copy fills it
                os.close(os.open(self.staging_path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
                shutil.copyfile(current, self.staging_path)
            private_dir(self._spill)
            con = duckdb.connect(":memory:", config=duckdb_config(store.memory_limit, self._spill))
            self._con = con
            con.execute("SET GLOBAL TimeZone = 'UTC'")
            # Checkpoints happen when Tables commits (every commit_rows rows), not whenever the
            # write-ahead log reaches DuckDB's threshold (16 MB: every few thousand objects).
            con.execute("SET checkpoint_threshold = '1TB'")
            con.execute(
                f"ATTACH {quote_literal(str(self.staging_path))} AS {CATALOG} "
                f"(ROW_GROUP_SIZE {STAGING_ROW_GROUP})"
            )
            con.execute(f"USE {CATALOG}")
            self._private()
            # The staging file is private to this refresh and thrown away whole on failure, so
            # it commits in large steps, for speed (see Tables).
            self._tables = Tables(
                con,
                commit_rows=store.commit_rows,
                checkpoint_on_commit=True,
                memory_limit=store.memory_limit,
            )
            self._session = SqlSession(self._tables.connection, private=False)
        except BaseException as exc:
            self._discard()
            self._raise_explained(exc)
            raise

    def _raise_explained(self, exc: BaseException) -> None:
        """Raise ``OutOfMemory`` or ``DiskFull`` in place of ``exc`` if that is what it was
        (DuckDB's own error kept as the cause); return otherwise."""
        found = self._store.explain(exc)
        if found is not None:
            raise found from found.__cause__

    @property
    def spill_dir(self) -> Path:
        """The folder DuckDB spills to while this refresh runs (in the cache folder)."""
        return self._spill

    def cached_bytes(self) -> int:
        """What DuckDB holds in memory of the tables' data now (for checks)."""
        found = first_row(
            self._db.execute(
                "SELECT sum(memory_usage_bytes) FROM duckdb_memory() "
                "WHERE tag IN ('BASE_TABLE', 'IN_MEMORY_TABLE')"
            )
        )
        return int(found[0] or 0) if found else 0

    def setting(self, name: str) -> str:
        """A DuckDB setting of this refresh's connection, as DuckDB shows it."""
        found = first_row(self._db.execute("SELECT current_setting(?)", [name]))
        return str(found[0]) if found else ""

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        if self._con is None or self._closed:
            raise RuntimeError("this refresh transaction is over; begin a new one")
        return self._con

    # -- reading the version being built ---------------------------------------------------------
    def has_dataset(self, spec: ObjectSpec) -> bool:
        self._check_open()
        return self._tables.is_current(spec)

    def get_state(self, spec: ObjectSpec) -> DatasetInfo | None:
        self._check_open()
        return next((d for d in self._session.datasets() if d.name == spec.name), None)

    def query(self, sql: str, params: Params = None) -> QueryResult:
        """A read-only query of the version being built, this refresh's writes included."""
        self._check_open()
        return self._session.query(sql, params)

    # -- writing ---------------------------------------------------------------------------------
    def _mark(self, spec: ObjectSpec, *, reset: bool = False, written: bool = True) -> _Pending:
        entry = self._pending.get(spec.name)
        pending = entry[1] if entry else _Pending()
        if reset:
            pending = _Pending(reset=True)
        pending.written = pending.written or written
        self._pending[spec.name] = (spec, pending)
        return pending

    def _end_writers(self, spec: ObjectSpec, *, keep_rows: bool = False) -> None:
        for writer in [w for w in self._writers if w.spec.name == spec.name]:
            if keep_rows:
                writer.finish()
            else:
                writer.discard()
            self._writers.remove(writer)

    def replace_dataset(self, spec: ObjectSpec) -> ArrowDatasetWriter:
        self._check_open()
        self._end_writers(spec)
        self._tables.create(spec, keyed=False)
        self._mark(spec, reset=True)
        writer = ArrowDatasetWriter(self._tables, spec, batch_rows=self._store.batch_rows)
        self._writers.append(writer)
        return writer

    def upsert(self, spec: ObjectSpec, objects: StripeObjects) -> int:
        self._check_open()
        self._end_writers(spec, keep_rows=True)
        self._require_current_layout(spec)
        count = self._tables.upsert(spec, objects)
        self._mark(spec)
        return count

    def delete(self, spec: ObjectSpec, ids: Iterable[str]) -> int:
        self._check_open()
        self._end_writers(spec, keep_rows=True)
        self._require_current_layout(spec)
        count = self._tables.delete(spec, ids)
        self._mark(spec)
        return count

    def _require_current_layout(self, spec: ObjectSpec) -> None:
        entry = self._pending.get(spec.name)
        if entry is not None and entry[1].reset:
            return  # replaced in this refresh: already in the current layout
        state = self._tables.read_state(spec)
        if self._tables.exists(spec) and state is not None and state[3] != schema_version(spec):
            raise StoreCorrupt(
                self._store.current_path,
                f"{spec.name} was stored with an older column layout and cannot be updated",
            )

    def keep_dataset(self, spec: ObjectSpec) -> bool:
        """Carry a dataset over unchanged, with its child tables; False if the current
        version does not have it. Child tables the current version lacks (it was written
        before they existed) are rebuilt from the dataset's stored objects."""
        self._check_open()
        if not self.full:
            if not self._tables.exists(spec):
                return False
            if not self._tables.children_present(spec):
                self._tables.rebuild_children(spec)
            return True
        self._end_writers(spec)
        previous = self._base.path
        if previous is None or not previous.exists():
            return False
        if not carry_over(self._db, self._tables, spec, previous):
            return False
        self._pending.pop(spec.name, None)
        return True

    def drop_dataset(self, spec: ObjectSpec) -> None:
        self._check_open()
        self._end_writers(spec)
        self._tables.drop(spec)
        self._pending.pop(spec.name, None)

    def set_state(
        self,
        spec: ObjectSpec,
        *,
        rows: int | None = None,
        refreshed_at: datetime | None = None,
        cursor: Any = _UNSET,
    ) -> None:
        """Record a dataset's refresh state; given fields override what commit would write."""
        self._check_open()
        pending = self._mark(spec, written=False)
        if rows is not None:
            pending.rows = rows
        if refreshed_at is not None:
            pending.refreshed_at = refreshed_at
        if cursor is not _UNSET:
            pending.cursor = cursor

    # -- ending ----------------------------------------------------------------------------------
    def commit(self) -> None:
        """Finish open writers, write the state table, then publish the staging file
        (``current.duckdb``, or the next ``v-<n>.duckdb`` of a shared cache)."""
        self._check_open()
        try:
            for writer in self._writers:
                writer.finish()  # a writer left open still has rows buffered
            for spec, pending in self._pending.values():
                self._record_state(spec, pending)
            self._tables.commit()
            self._db.execute(f"CHECKPOINT {CATALOG}")
            build(self._db, self._store.derived, self._present)
            self._db.execute(f"CHECKPOINT {CATALOG}")
            self._db.execute("USE memory")
            self._db.execute(f"DETACH {CATALOG}")
            self._db.close()
            wal = self.staging_path.with_name(self.staging_path.name + ".wal")
            if wal.exists():
                raise StoreCorrupt(self.staging_path, "the checkpoint left a write-ahead log")
            self._private()
            fsync_path(self.staging_path)
            self._store.published.publish(self.staging_path, self._base)
        except BaseException as exc:
            self._discard()
            self._raise_explained(exc)
            raise
        self._discard()

    def _private(self) -> None:
        """DuckDB made the staging file and its log with the umask's mode: make them 0600."""
        for suffix in ("", ".wal"):
            private_file(self.staging_path.with_name(self.staging_path.name + suffix))

    def _present(self) -> set[str]:
        found = self._db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [CATALOG]
        ).fetchall()
        return {str(r[0]) for r in found}

    def _record_state(self, spec: ObjectSpec, pending: _Pending) -> None:
        if not self._tables.exists(spec):
            return
        old = None if pending.reset else self._tables.read_state(spec)
        rows = pending.rows if pending.rows is not None else self._tables.count(spec)
        refreshed_at: datetime | None
        if pending.refreshed_at is not None:
            refreshed_at = pending.refreshed_at
        elif pending.written or old is None:
            refreshed_at = self.started_at
        else:
            refreshed_at = old[1]
        if pending.cursor is not _UNSET:
            cursor = pending.cursor
        else:
            cursor = old[2] if old is not None else None
        self._tables.write_state(spec, rows=rows, refreshed_at=refreshed_at, cursor=cursor)

    def abort(self) -> None:
        """Throw the staging file away; the current version stays as it was."""
        if not self._closed:
            self._discard()

    def _discard(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._con is not None:
            with contextlib.suppress(duckdb.Error):
                self._con.close()
        for suffix in ("", ".wal"):
            remove_path(self.staging_path.with_name(self.staging_path.name + suffix))
        remove_path(self._spill)
        self._lock.release()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this refresh transaction is over; begin a new one")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Leaving the block without commit() (on an error or not) discards the work; running
        # out of memory or disk is told as such.
        self.abort()
        if ev is not None:
            self._raise_explained(ev)


class DuckDBStore:
    """The datasets of one connection, kept in ``<cache_dir>/current.duckdb`` (or, given a
    ``versions`` book, in immutable versions of a shared cache: ``publishing``)."""

    def __init__(
        self,
        cache_dir: Path | str,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        commit_rows: int = DEFAULT_COMMIT_ROWS,
        memory_limit: str | int | None = None,
        derived: Sequence[Derived] = (),
        versions: VersionBook | None = None,
    ) -> None:
        """``memory_limit``: what a refresh's DuckDB may use (``512MB``, ``25%``, bytes;
        None: ``resources``' default from the machine's memory). ``versions``: the metadata's
        book of a shared cache's versions (``FLITCH_CACHE_URL``); None: ``current.duckdb``."""
        self.cache_dir = Path(cache_dir).absolute()
        self.published: Publishing = (
            InPlace(self.cache_dir) if versions is None else Versioned(self.cache_dir, versions)
        )
        #: Built into each version a refresh publishes (``derived``).
        self.derived = tuple(derived)
        self.batch_rows = batch_rows
        self.commit_rows = commit_rows
        #: Bytes a refresh's DuckDB connection may use before it spills.
        self.memory_limit = memory_limit_bytes(memory_limit)

    @property
    def current_path(self) -> Path:
        """The published version's file (it may be gone by the time it is opened in a shared
        cache: readers ``hold`` it instead)."""
        return self.published.current_path

    def explain(self, exc: BaseException) -> FlitchError | None:
        """``OutOfMemory`` or ``DiskFull`` if ``exc`` is a refresh of this store running out of
        either (``resources.explain``); None otherwise."""
        try:
            current = self.current_path.stat().st_size
        except FileNotFoundError:
            current = 0
        return explain(exc, self.cache_dir, self.memory_limit, current)

    def generation(self) -> Generation | None:
        """Identifies the published version; None before the first commit."""
        return self.published.generation()

    def exists(self) -> bool:
        return self.generation() is not None

    def hold(self) -> Held | None:
        """The published version's file, kept for this process until ``let_go()`` is called
        (None before the first commit)."""
        return self.published.hold()

    def begin_refresh(self, full: bool) -> DuckDBRefresh:
        """Start the one writer (``RefreshRunning`` if another is at work, in any process)."""
        return DuckDBRefresh(self, full)

    def reader(self, *, follow: bool = True) -> DuckDBReader:
        return DuckDBReader(self, follow=follow)

    def datasets(self) -> list[DatasetInfo]:
        """Shortcut: the datasets of the current version."""
        with self.reader() as reader:
            return reader.datasets()

    def _remove_leftovers(self) -> None:
        """Delete what a crashed writer left (call only while holding the writer lock)."""
        for path in self.cache_dir.glob(f"{STAGING_PREFIX}*"):
            remove_path(path)
        remove_path(self.cache_dir / f"{CURRENT}.wal")
        self.published.prune()

    def destroy(self) -> None:
        """Delete every file of this cache and its directory (``RefreshRunning`` if a refresh
        is at work: stop it first), overwriting their bytes first (``files.shred``): a reader
        still open in some process reads zeros from then on, and Flitch's own readers notice
        the store is gone and close (``DuckDBReader.release_stale``)."""
        if not self.cache_dir.exists():
            self.published.forget()
            return
        lock = WriterLock(self.cache_dir)
        lock.acquire()
        try:
            self.published.forget()
            for path in self.files():
                if path.name != LOCK:
                    shred(path)
            shred(self.cache_dir / LOCK)
        finally:
            lock.release()
        with contextlib.suppress(OSError):
            self.cache_dir.rmdir()

    def files(self) -> list[Path]:
        """Every file of this cache (for ``destroy`` checks and disk usage)."""
        if not self.cache_dir.exists():
            return []
        return sorted(self.cache_dir.iterdir())


if TYPE_CHECKING:
    from flitch.store import base
    from flitch.store.memory import MemoryDatasets

    def _conforms(
        store: DuckDBStore, refresh: DuckDBRefresh, reader: DuckDBReader, mem: MemoryDatasets
    ) -> tuple[base.DatasetStore, base.RefreshTransaction, base.StoreReader, base.QuerySource]:
        """Checked by mypy: the DuckDB classes implement the engine-neutral protocols."""
        sink: base.DatasetSink = mem
        del sink
        return store, refresh, reader, mem
