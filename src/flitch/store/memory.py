"""Datasets in memory, for live queries: load the pages just fetched, answer, discard.

``MemoryDatasets`` writes through the same code as a refresh (``loading.Tables``) and answers
through the same code as a cached reader (``results.SqlSession``), under the same catalog name,
so a query gives the same answer live as from the cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Self

import duckdb

from flitch.catalog import ObjectSpec
from flitch.store import exports, sqlguard
from flitch.store.base import (
    DatasetInfo,
    DatasetMissing,
    ExportFormat,
    ExportResult,
    QueryResult,
    StripeObjects,
    TablePage,
    TableQuery,
)
from flitch.store.cursors import CallCursors
from flitch.store.loading import DEFAULT_BATCH_ROWS, ArrowDatasetWriter, Tables
from flitch.store.results import ASOF_LOOP_ROWS, CATALOG, Params, SqlSession
from flitch.store.schema import table_name


class MemoryDatasets:
    """An in-memory DuckDB holding datasets: the writer API of a refresh, the reader API of
    a cached version. Close it (or use ``with``) to free the memory."""

    def __init__(self, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        self._con = duckdb.connect(":memory:", config={"temp_directory": ""})
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        # GLOBAL: the statements run on cursors, which do not inherit a session setting
        self._con.execute(f"SET GLOBAL asof_loop_join_threshold = {ASOF_LOOP_ROWS}")
        self._con.execute(f"ATTACH ':memory:' AS {CATALOG}")
        self._con.execute(f"USE {CATALOG}")
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")
        self._tables = Tables(self._con)
        self._lock = self._tables.lock
        #: statements run on cursors of their own: a live load's pages are written while
        #: the charts whose data is in are answered (DuckDB keeps each statement's snapshot)
        self._cursors = CallCursors(
            self._con,
            shut=self._shut,
            refused=lambda: RuntimeError("these in-memory datasets are closed"),
            lock=self._lock,
        )
        self._cursor = self._cursors.cursor
        self._session = SqlSession(self._cursor, private=True)
        self._batch_rows = batch_rows

    def _shut(self) -> None:
        with self._lock:  # not while a page is being written
            self._con.close()

    # -- writing ---------------------------------------------------------------------------------
    def replace_dataset(self, spec: ObjectSpec) -> ArrowDatasetWriter:
        with self._lock:
            self._tables.create(spec, keyed=False)
        return ArrowDatasetWriter(
            self._tables, spec, batch_rows=self._batch_rows, on_finish=self._finished
        )

    def _finished(self, writer: ArrowDatasetWriter) -> None:
        self._record(writer.spec)

    def _record(self, spec: ObjectSpec) -> None:
        with self._lock:
            self._tables.write_state(
                spec, rows=self._tables.count(spec), refreshed_at=None, cursor=None
            )

    def load(self, spec: ObjectSpec, objects: StripeObjects) -> int:
        """Replace a dataset with these objects in one call; return the row count."""
        with self.replace_dataset(spec) as writer:
            writer.add_page(objects)
        return writer.rows_written

    def upsert(self, spec: ObjectSpec, objects: StripeObjects) -> int:
        with self._lock:
            count = self._tables.upsert(spec, objects)
        self._record(spec)
        return count

    def delete(self, spec: ObjectSpec, ids: Iterable[str]) -> int:
        with self._lock:
            count = self._tables.delete(spec, ids)
        if self._tables.exists(spec):
            self._record(spec)
        return count

    def drop_dataset(self, spec: ObjectSpec) -> None:
        with self._lock:
            self._tables.drop(spec)

    # -- reading ---------------------------------------------------------------------------------
    def query(self, sql: str, params: Params = None, *, max_rows: int | None = None) -> QueryResult:
        return self._session.query(sql, params, max_rows=max_rows)

    def datasets(self) -> list[DatasetInfo]:
        return self._session.datasets()

    def table(self, spec: ObjectSpec, request: TableQuery | None = None) -> TablePage:
        return self._session.table(spec, request)

    def has_table(self, name: str) -> bool:
        return self._session.has_table(name)

    def export(
        self,
        source: ObjectSpec | str,
        fmt: ExportFormat,
        dest: Path,
        params: Params = None,
        *,
        limit: int | None = None,
    ) -> ExportResult:
        """Write one dataset, or the result of a read-only SELECT, exactly as a cached export
        would (``exports``).

        This database has external access off for good, so the rows go, as Arrow, to a
        short-lived second DuckDB that may write just the one file, with the same ``COPY``.
        """
        if isinstance(source, ObjectSpec):
            if not self._tables.exists(source):
                raise DatasetMissing(source.name)
            rows = self._session.arrow(
                f"SELECT * FROM {table_name(source)} ORDER BY created DESC, id DESC"  # noqa: S608
            )
        else:
            rows = self._session.arrow(sqlguard.check_read_only(source), params)
        return exports.write(
            lambda partial: exports.arrow_connection(rows, "export_rows", partial),
            "SELECT * FROM export_rows",
            fmt,
            dest,
            limit=limit,
        )

    def close(self) -> None:
        """Free the memory (once the statements still running are done)."""
        self._cursors.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
