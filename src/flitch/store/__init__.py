"""Datasets at rest: one table per picked object, kept by a store (DuckDB by default).

- ``DuckDBStore(cache_dir)``: one connection's datasets in ``<cache_dir>/current.duckdb``;
  ``begin_refresh(full)`` is the one writer, ``reader()`` the many readers.
- ``MemoryDatasets()``: the same write and read paths in memory, for live queries.
- ``sqlguard``: what SQL users may run (one read-only SELECT over the datasets).

The protocols other engines implement, and the values every engine returns, are in ``base``.
"""

from flitch.store.base import (
    DatasetInfo,
    DatasetMissing,
    DatasetStore,
    DatasetWriter,
    ExportFormat,
    ExportResult,
    QueryFailed,
    QueryRefused,
    QueryResult,
    QuerySource,
    RefreshRunning,
    RefreshTransaction,
    ResultColumn,
    StoreCorrupt,
    StoreReader,
    TablePage,
    TableQuery,
)
from flitch.store.duckdb_store import DuckDBRefresh, DuckDBStore
from flitch.store.memory import MemoryDatasets
from flitch.store.reader import DuckDBReader, Snapshot
from flitch.store.sqlguard import check_read_only, referenced_tables

__all__ = [
    "DatasetInfo",
    "DatasetMissing",
    "DatasetStore",
    "DatasetWriter",
    "DuckDBReader",
    "DuckDBRefresh",
    "DuckDBStore",
    "ExportFormat",
    "ExportResult",
    "MemoryDatasets",
    "QueryFailed",
    "QueryRefused",
    "QueryResult",
    "QuerySource",
    "RefreshRunning",
    "RefreshTransaction",
    "ResultColumn",
    "Snapshot",
    "StoreCorrupt",
    "StoreReader",
    "TablePage",
    "TableQuery",
    "check_read_only",
    "referenced_tables",
]
