"""Writing datasets into a DuckDB connection: the one write path of every store.

``Tables`` holds the operations (create a dataset's table, bulk insert, upsert, delete, refresh
state) on one DuckDB connection; a refresh transaction uses it on its staging file and
``MemoryDatasets`` on an in-memory database, so cached and live data are written by the same
code. ``ArrowDatasetWriter`` streams pages in: rows are flattened as they arrive (the Stripe
objects are not kept) and inserted in batches of ``batch_rows`` through Arrow, which DuckDB reads
without a copy.

**Each id once, without an index.** No table has a primary key (``schema.create_table_sql``):
DuckDB's index (an ART) is built, and loaded to be used, whole in memory, and cannot spill, so
the key of a 7.5 M-invoice dataset could not be added within the memory a refresh is given
(``resources``), and a larger one could never be. Uniqueness is kept by the two ways rows
arrive instead:

- a bulk load (``ArrowDatasetWriter``: a full read) appends without looking, DuckDB's fastest
  path; ``seal`` then finds the ids that came more than once (Stripe's lists shift while they
  are paged) with a ``GROUP BY`` in bounded passes — the ids split by hash into as many passes
  as the memory limit needs, each of which DuckDB can also spill — and keeps each one's last
  copy. Without repeats (nearly always) the table is left as written;
- a keyed write (``upsert``: changes, re-reads) deletes the rows of the batch's ids, then
  inserts the batch's last copy of each: a hash semi-join of the small batch against the ids
  column, which streams (~0.3 s per batch on 10 M rows, where an index would find them at
  once but would first have to be loaded whole).

What an index would buy besides — point lookups by id — DuckDB's zone maps and a scan answer
well enough for a dashboard, and no query depends on it.

Child tables (``catalog.ChildSpec``: a subscription's items, an invoice's lines) follow their
dataset through every operation here — created, dropped, appended to, upserted and deleted with
it — so whoever writes a dataset writes its child tables too, live and cached alike. A parent's
child rows are always replaced together: an upsert deletes the old ones before inserting the
new; an object seen twice in a bulk load has its child rows rebuilt from the copy kept.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from flitch.catalog import ChildSpec, ObjectSpec
from flitch.store.base import StripeObjects
from flitch.store.flatten import child_rows_sql, statements, type_error
from flitch.store.resources import release_cache
from flitch.store.schema import (
    STATE_DDL,
    STATE_TABLE,
    Layout,
    RawObjects,
    create_table_sql,
    first_row,
    schema_version,
    table_name,
)

#: Rows gathered before one insert. Bigger batches amortise each statement; the buffer's
#: memory (about 1–3 KiB of JSON per Stripe object) stays bounded.
DEFAULT_BATCH_ROWS = 10_000
#: Rows appended between two commits of a refresh's staging file (see ``Tables``).
DEFAULT_COMMIT_ROWS = 40_000
_BATCH_VIEW = "_flitch_batch"
_STAGE = "_flitch_stage"
_REPEATED = "_flitch_repeated"
#: What one id takes in the hash table of ``seal``'s passes (the id, its hash, a count, and
#: DuckDB's overhead per group), and the share of the memory limit one pass may fill.
_BYTES_PER_ID = 96
_PASS_SHARE = 0.5
_counter = itertools.count()


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[Concatenate[Tables, P], R]) -> Callable[Concatenate[Tables, P], R]:
    """Run a ``Tables`` method holding the connection's lock."""

    @functools.wraps(method)
    def wrapper(self: Tables, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper


class Tables:
    """Dataset tables and their refresh state, on one DuckDB connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        commit_rows: int | None = None,
        checkpoint_on_commit: bool = False,
        memory_limit: int | None = None,
    ) -> None:
        """``commit_rows`` set: work in explicit transactions, committed each time that many
        rows were appended (and by ``commit()``): far fewer commits than one per batch (a
        refresh loads about 4x faster), while what an open DuckDB transaction holds in memory
        (it grows with the transaction) stays bounded. Unset: every statement commits alone.
        ``checkpoint_on_commit``: write what was committed into the database file right away
        (see ``duckdb_store``), then let go of what DuckDB cached of it
        (``resources.release_cache``). ``memory_limit``: the connection's, in bytes, which sets
        how many passes ``seal`` makes (None: one) and what the limit is set back to."""
        self.con = con
        self.memory_limit = memory_limit
        #: The first error a statement of the open transaction raised: a later statement (of
        #: another writer thread) fails only with "transaction is aborted", chained to it.
        self.failure: BaseException | None = None
        #: One statement at a time on the connection (writers may be fed from several threads).
        self.lock = threading.RLock()
        #: Tables created for a bulk load and not sealed yet (ids may repeat so far).
        self._loading: set[str] = set()
        self._commit_rows = commit_rows
        self._checkpoint = checkpoint_on_commit
        self._uncommitted = 0
        if commit_rows is not None:
            con.execute("BEGIN TRANSACTION")
        con.execute(STATE_DDL)

    def commit(self) -> None:
        """Commit the open transaction (with ``commit_rows``; a no-op otherwise)."""
        with self.lock:
            if self._commit_rows is not None:
                self.con.execute("COMMIT")
                self._commit_rows = None

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, held for the duration of the block."""
        with self.lock:
            yield self.con

    # -- tables ----------------------------------------------------------------------------------
    @_locked
    def exists(self, spec: Layout) -> bool:
        found = first_row(
            self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND table_name = ?",
                [spec.name],
            )
        )
        return bool(found and found[0])

    def create(self, spec: ObjectSpec, *, keyed: bool = True) -> None:
        """Make the dataset an empty table in the catalog's current layout, its child tables
        empty too. ``keyed``: every write replaces the rows of its ids; False: a bulk load
        follows, appended as it comes, then ``seal``."""
        with self.lock:
            self.con.execute(f"DROP TABLE IF EXISTS {table_name(spec)}")
            self.con.execute(create_table_sql(spec))
            for child in spec.children:
                self.create_child(child)
            if keyed:
                self._loading.discard(spec.name)
            else:
                self._loading.add(spec.name)

    @_locked
    def create_child(self, child: ChildSpec) -> None:
        """Make a child table empty, in the catalog's current layout."""
        self.con.execute(f"DROP TABLE IF EXISTS {table_name(child)}")
        self.con.execute(create_table_sql(child))

    @_locked
    def drop(self, spec: ObjectSpec) -> None:
        self._loading.discard(spec.name)
        self.con.execute(f"DROP TABLE IF EXISTS {table_name(spec)}")
        for child in spec.children:
            self.con.execute(f"DROP TABLE IF EXISTS {table_name(child)}")
        self.con.execute(f"DELETE FROM {STATE_TABLE} WHERE name = ?", [spec.name])  # noqa: S608

    @_locked
    def count(self, spec: ObjectSpec) -> int:
        found = first_row(self.con.execute(f"SELECT count(*) FROM {table_name(spec)}"))  # noqa: S608
        return int(found[0]) if found else 0

    # -- rows ------------------------------------------------------------------------------------
    def append(self, spec: ObjectSpec, objects: pa.Table) -> None:
        """Append objects (``RawObjects.take()``: their JSON text and arrival order) as rows of
        the dataset and of its child tables. Into a table being bulk loaded (see ``seal``) it
        is a plain append; into a keyed table, an id already there is replaced by the batch's
        copy (the last one, if the batch has several), child rows included."""
        if not objects.num_rows:
            return
        with self.lock:
            view = f"{_BATCH_VIEW}_{next(_counter)}"
            try:
                self.con.register(view, objects)
            except duckdb.TransactionException as exc:
                if self.failure is not None:
                    raise exc from self.failure  # the error that aborted it, not this one
                raise
            try:
                if spec.name in self._loading:
                    self._insert(spec, view)
                else:
                    self._replace(spec, view)
            except BaseException as exc:
                if self.failure is None:
                    self.failure = exc
                # the failed statement aborted the transaction: unregistering would fail too,
                # and hide the error that matters
                with contextlib.suppress(duckdb.Error):
                    self.con.unregister(view)
                raise
            self.con.unregister(view)
            self._uncommitted += objects.num_rows
            if self._commit_rows is not None and self._uncommitted >= self._commit_rows:
                self.con.execute("COMMIT")
                if self._checkpoint:
                    self.con.execute("CHECKPOINT")
                    if self.memory_limit is not None:
                        release_cache(self.con, self.memory_limit)
                self.con.execute("BEGIN TRANSACTION")
                self._uncommitted = 0

    def _insert(self, spec: ObjectSpec, source: str) -> None:
        """Rows of the dataset and of its child tables from ``source``'s ``raw`` column (each
        object's JSON parsed once, into a stage the tables' statements share)."""
        made = statements(spec, source)
        stage = f"{_STAGE}_{next(_counter)}"
        try:
            if spec.children:
                self.con.execute(f"CREATE TEMP TABLE {stage} AS {made.stage}")
            else:
                stage = f"({made.stage})"
            self.con.execute(f"INSERT INTO {table_name(spec)} {made.over(made.rows, stage)}")
            for child, sql in made.children:
                self.con.execute(f"INSERT INTO {table_name(child)} {made.over(sql, stage)}")
        except duckdb.Error as exc:
            clear = type_error(exc, spec.name)
            if clear is None:
                raise
            raise clear from None
        finally:
            if spec.children:
                self._drop_quietly(stage)

    def _replace(self, spec: ObjectSpec, view: str) -> None:
        """Upsert: the last copy of each id in ``view`` replaces the row (and child rows)."""
        stage = f"{_STAGE}_{next(_counter)}"
        self.con.execute(
            f"CREATE TEMP TABLE {stage} AS SELECT raw FROM {view} "  # noqa: S608
            "QUALIFY row_number() OVER (PARTITION BY json_extract_string(raw, '$.id') "
            "ORDER BY seq DESC) = 1"
        )
        ids = f"(SELECT json_extract_string(raw, '$.id') FROM {stage})"  # noqa: S608
        try:
            for child in spec.children:
                self.con.execute(
                    f"DELETE FROM {table_name(child)} WHERE {child.key} IN {ids}"  # noqa: S608
                )
            self.con.execute(f"DELETE FROM {table_name(spec)} WHERE id IN {ids}")  # noqa: S608
            self._insert(spec, stage)
        finally:
            self._drop_quietly(stage)

    def _drop_quietly(self, table: str) -> None:
        """Drop a scratch table; after a failed statement (the transaction is aborted) leave
        it to the rollback, so that the error raised is the one that matters."""
        with contextlib.suppress(duckdb.TransactionException):
            self.con.execute(f"DROP TABLE IF EXISTS {table}")

    def _delete_children(self, spec: ObjectSpec, ids: Sequence[Any]) -> None:
        """Delete the child rows of these parents (before their new ones go in)."""
        if not spec.children or not ids:
            return
        wanted = sorted({str(i) for i in ids})
        for child in spec.children:
            self.con.execute(
                f"DELETE FROM {table_name(child)} "  # noqa: S608
                f"WHERE {child.key} IN (SELECT unnest(?::VARCHAR[]))",
                [wanted],
            )

    def seal(self, spec: ObjectSpec) -> None:
        """End a bulk load: each id that came more than once keeps its last copy, and its
        child rows are rebuilt from that copy. A no-op for a keyed table."""
        name = table_name(spec)
        with self.lock:
            if spec.name not in self._loading:
                return
            repeated = self._repeated(spec)
            try:
                if repeated:
                    self.con.execute(
                        f"DELETE FROM {name} WHERE id IN (SELECT id FROM {_REPEATED}) "  # noqa: S608
                        f"AND rowid NOT IN (SELECT max(rowid) FROM {name} "
                        f"WHERE id IN (SELECT id FROM {_REPEATED}) GROUP BY id)"
                    )
                    self._rebuild_children_of(spec, f"(SELECT id FROM {_REPEATED})")  # noqa: S608
            finally:
                self._drop_quietly(_REPEATED)
            self._loading.discard(spec.name)

    def passes(self, rows: int) -> int:
        """How many passes ``seal`` splits ``rows`` ids into: as many as keep each pass's hash
        table within its share of the memory limit."""
        if self.memory_limit is None or rows <= 0:
            return 1
        budget = max(1, int(self.memory_limit * _PASS_SHARE))
        return max(1, -(-rows * _BYTES_PER_ID // budget))

    def _repeated(self, spec: ObjectSpec) -> int:
        """Collect into a temp table the ids of a dataset stored more than once; how many.

        The ids are split by hash into ``passes`` groups, one ``GROUP BY`` each: every pass
        reads the ids column again (fast: it is compressed and narrow) and its hash table holds
        only its share of the ids, so the memory needed is bounded whatever the account."""
        name = table_name(spec)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_REPEATED} (id VARCHAR)")
        n = self.passes(self.count(spec))
        for part in range(n):
            where = f"WHERE hash(id) % {n} = {part}" if n > 1 else ""
            self.con.execute(
                f"INSERT INTO {_REPEATED} SELECT id FROM {name} {where} "  # noqa: S608
                "GROUP BY id HAVING count(*) > 1"
            )
        found = first_row(self.con.execute(f"SELECT count(*) FROM {_REPEATED}"))  # noqa: S608
        return int(found[0]) if found else 0

    @_locked
    def rebuild_children(self, spec: ObjectSpec, ids: Sequence[str] | None = None) -> None:
        """Write the child rows of these parents (all of them with ``None``) again, from the
        objects kept in the dataset's ``raw`` column; missing child tables are created."""
        if ids is None:
            self._rebuild_children_of(spec, None)
        else:
            self._rebuild_children_of(spec, "(SELECT unnest(?::VARCHAR[]))", [sorted(set(ids))])

    def _rebuild_children_of(
        self, spec: ObjectSpec, ids: str | None, params: Sequence[Any] = ()
    ) -> None:
        """``rebuild_children`` for the parents a subquery ``ids`` names (with ``params``)."""
        if not spec.children:
            return
        for child in spec.children:
            if ids is None or not self.exists(child):
                self.create_child(child)
        if ids is not None:
            for child in spec.children:
                self.con.execute(
                    f"DELETE FROM {table_name(child)} WHERE {child.key} IN {ids}",  # noqa: S608
                    list(params),
                )
        if not self._has_column(spec, "raw"):
            return
        name = table_name(spec)
        source = f"(SELECT raw FROM {name})"  # noqa: S608
        if ids is not None:
            source = f"(SELECT raw FROM {name} WHERE id IN {ids})"  # noqa: S608
        for child in spec.children:
            self.con.execute(
                f"INSERT INTO {table_name(child)} {child_rows_sql(child, source)}", list(params)
            )

    def _has_column(self, spec: Layout, column: str) -> bool:
        found = first_row(
            self.con.execute(
                "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND table_name = ? AND column_name = ?",
                [spec.name, column],
            )
        )
        return bool(found and found[0])

    def children_present(self, spec: ObjectSpec) -> bool:
        """Every child table of the dataset exists."""
        return all(self.exists(child) for child in spec.children)

    @_locked
    def upsert(self, spec: ObjectSpec, objects: StripeObjects) -> int:
        """Insert objects or replace the rows with their ids; the table is created if missing."""
        if not self.exists(spec):
            self.create(spec)
        self.seal(spec)
        buffer = RawObjects()
        count = buffer.add(objects)
        if count:
            self.append(spec, buffer.take())
        return count

    @_locked
    def delete(self, spec: ObjectSpec, ids: Iterable[str]) -> int:
        """Delete rows by id; return how many there were."""
        wanted = sorted({str(i) for i in ids})
        if not wanted or not self.exists(spec):
            return 0
        self._delete_children(spec, wanted)
        found = first_row(
            self.con.execute(
                f"DELETE FROM {table_name(spec)} WHERE id IN (SELECT unnest(?::VARCHAR[]))",  # noqa: S608
                [wanted],
            )
        )
        return int(found[0]) if found else 0

    # -- state -----------------------------------------------------------------------------------
    def write_state(
        self,
        spec: ObjectSpec,
        *,
        rows: int,
        refreshed_at: datetime | None,
        cursor: Any,
    ) -> None:
        cursor_json = None if cursor is None else orjson.dumps(cursor, default=str).decode()
        self.con.execute(
            f"INSERT OR REPLACE INTO {STATE_TABLE} "  # noqa: S608
            "(name, rows, refreshed_at, cursor, schema_version) VALUES (?, ?, ?, ?, ?)",
            [spec.name, rows, refreshed_at, cursor_json, schema_version(spec)],
        )

    @_locked
    def read_state(self, spec: ObjectSpec) -> tuple[int, datetime | None, Any, str] | None:
        found = first_row(
            self.con.execute(
                f"SELECT rows, refreshed_at, cursor, schema_version FROM {STATE_TABLE} "  # noqa: S608
                "WHERE name = ?",
                [spec.name],
            )
        )
        if found is None:
            return None
        rows, refreshed_at, cursor, version = found
        return int(rows), refreshed_at, None if cursor is None else orjson.loads(cursor), version

    @_locked
    def is_current(self, spec: ObjectSpec) -> bool:
        """The dataset exists, with its child tables, in the catalog's current layout."""
        state = self.read_state(spec)
        return (
            self.exists(spec)
            and state is not None
            and state[3] == schema_version(spec)
            and self.children_present(spec)
        )


class ArrowDatasetWriter:
    """Streams pages of objects into one dataset's (empty) table."""

    def __init__(
        self,
        tables: Tables,
        spec: ObjectSpec,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        on_finish: Any = None,
    ) -> None:
        self._tables = tables
        self.spec = spec
        self._buffer = RawObjects()
        self._batch_rows = max(1, batch_rows)
        self._rows = 0
        self._finished = False
        self._on_finish = on_finish

    @property
    def rows_written(self) -> int:
        return self._rows

    def add_page(self, objects: StripeObjects) -> None:
        if self._finished:
            raise RuntimeError(f"the writer of {self.spec.name} is finished; start a new one")
        self._buffer.add(objects)
        if len(self._buffer) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if len(self._buffer):
            batch = self._buffer.take()
            self._tables.append(self.spec, batch)
            self._rows += batch.num_rows

    def finish(self) -> int:
        if not self._finished:
            self._flush()
            self._tables.seal(self.spec)
            self._finished = True
            if self._on_finish is not None:
                self._on_finish(self)
        return self._rows

    def discard(self) -> None:
        """Drop buffered rows and end the writer (its table was replaced or dropped)."""
        self._buffer = RawObjects()
        self._finished = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.finish()
