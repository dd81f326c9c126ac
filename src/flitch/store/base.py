"""What a dataset store is, independent of the engine that keeps the data.

A *dataset* is one catalog object (``flitch.catalog.OBJECTS``) at rest: a table with the
catalog's columns, typed, one row per Stripe object, primary key ``id``. A store keeps the
datasets of one connection. It has exactly one writer at a time — a *refresh transaction* that
builds the next version aside and publishes it whole on ``commit()`` — and any number of
*readers*, each of which sees one complete version.

DuckDB is the engine shipped (``flitch.store.duckdb_store``); another engine implements the
protocols below. The dataclasses here are what every engine returns, so callers (the query
layer, the web app, the CLI) never see engine types.

Errors raised by stores, grouped like ``flitch.errors``::

    FlitchError
    ├── RefreshRunning        another writer holds this connection's cache: wait, then retry
    ├── StoreCorrupt          the cache file cannot be used: run a full refresh
    └── InputError
        ├── QueryRefused      the SQL is not one read-only SELECT
        ├── QueryFailed       the SQL is a read but the engine rejected it (syntax, names, types)
        └── NotFound
            └── DatasetMissing   nothing cached for that object yet
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from flitch.catalog import ObjectSpec
from flitch.errors import FlitchError, InputError, NotFound
from flitch.store.schema import HasRawJSON

ExportFormat = Literal["csv", "parquet"]
#: An object as Stripe returns it (decoded JSON).
StripeObject = Mapping[str, Any]
#: Objects to write: decoded, or as the JSON text Stripe sent (a page from the reader).
StripeObjects = Iterable[StripeObject] | HasRawJSON


# -- errors ------------------------------------------------------------------------------------
class RefreshRunning(FlitchError):
    """A second writer tried to start while a refresh of the same connection runs."""

    retriable = True

    def __init__(self, cache_dir: Path) -> None:
        super().__init__(
            "A refresh of this connection is already running.",
            "Wait for it to finish (or stop it), then try again.",
        )
        self.cache_dir = cache_dir


class StoreCorrupt(FlitchError):
    """The cache file exists but cannot be opened or read as a dataset store."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"The cached data at {path} cannot be read ({detail}).",
            "Run a full refresh of this connection to rebuild the cache.",
        )


class QueryRefused(InputError):
    """The SQL is not a single read-only SELECT, or reaches outside the datasets."""


class QueryFailed(InputError):
    """A read-only query the engine could not run (syntax, unknown column, type mismatch)."""


class DatasetMissing(NotFound):
    """No data is cached for this object: it was never refreshed, or not picked."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"No cached data for {name} yet.",
            "Run a refresh of this connection (flitch refresh), or turn refresh on for it.",
        )
        self.name = name


# -- results -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResultColumn:
    """One column of a result: its name and engine type (``BIGINT``, ``TIMESTAMPTZ``…)."""

    name: str
    type: str


@dataclass(frozen=True)
class QueryResult:
    """Rows of a query, converted to plain Python values.

    Conversions (the same for live and cached answers): timestamps with a time zone become ISO
    8601 strings in UTC ending in ``Z``; other timestamps, dates and times ISO 8601 strings;
    JSON values decoded Python objects; decimals floats; intervals seconds as floats; UUIDs
    strings. Integers (amounts included) stay ``int``; booleans ``bool``; NULL ``None``.
    """

    columns: tuple[ResultColumn, ...]
    rows: list[tuple[Any, ...]]
    #: True when ``max_rows`` cut the result short.
    truncated: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        names = self.column_names
        return [dict(zip(names, row, strict=True)) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data for the HTTP API and ``--json`` output."""
        return {
            "columns": [{"name": c.name, "type": c.type} for c in self.columns],
            "rows": [list(r) for r in self.rows],
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class TablePage:
    """One page of a dataset, with the count of every row that matched the filters."""

    result: QueryResult
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class DatasetInfo:
    """What a store holds for one dataset."""

    name: str
    rows: int
    columns: tuple[ResultColumn, ...]
    #: When the refresh that last wrote this dataset started (UTC), if it was ever refreshed.
    refreshed_at: datetime | None
    #: Opaque JSON the refresh runner stored to continue incrementally next time.
    cursor: Any
    #: The table layout the data was written with (see ``schema.schema_version``).
    schema_version: str
    #: False when the catalog's columns changed since: the dataset needs a full refresh.
    schema_current: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "columns": [{"name": c.name, "type": c.type} for c in self.columns],
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
            "cursor": self.cursor,
            "schema_version": self.schema_version,
            "schema_current": self.schema_current,
        }


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: ExportFormat
    rows: int


@dataclass
class TableQuery:
    """How to page through one dataset: filters, order and window.

    ``order_by`` and every key of ``equals`` must be columns of the dataset; ``created_from``
    (inclusive) and ``created_to`` (exclusive) bound the ``created`` column, as datetimes or
    Unix seconds.
    """

    columns: Sequence[str] | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    created_from: datetime | int | None = None
    created_to: datetime | int | None = None
    order_by: str = "created"
    descending: bool = True
    limit: int = 100
    offset: int = 0


# -- protocols ---------------------------------------------------------------------------------
class DatasetWriter(Protocol):
    """Streams the rows of one dataset into an empty table, a page at a time."""

    @property
    def rows_written(self) -> int: ...

    def add_page(self, objects: StripeObjects) -> None:
        """Add a page of Stripe objects (buffered and written in large batches)."""

    def finish(self) -> int:
        """Write what is buffered; return the number of rows written. Idempotent."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class DatasetSink(Protocol):
    """The write operations shared by a refresh transaction and the in-memory datasets."""

    def replace_dataset(self, spec: ObjectSpec) -> DatasetWriter:
        """Start the dataset over as an empty table and return a writer to fill it."""

    def upsert(self, spec: ObjectSpec, objects: StripeObjects) -> int:
        """Insert these objects, replacing any row with the same id; return the count."""

    def delete(self, spec: ObjectSpec, ids: Iterable[str]) -> int:
        """Delete the rows with these ids; return how many existed."""


class QuerySource(Protocol):
    """Something read-only SQL can run against: a cached version or in-memory datasets."""

    def query(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        max_rows: int | None = None,
    ) -> QueryResult: ...

    def datasets(self) -> list[DatasetInfo]: ...

    def table(self, spec: ObjectSpec, request: TableQuery | None = None) -> TablePage: ...

    def has_table(self, name: str) -> bool:
        """True if a table of this name (a dataset, a child table, a derived table) is there."""


class RefreshTransaction(DatasetSink, Protocol):
    """The one writer of a store: builds the next version aside, publishes it on commit."""

    full: bool

    def has_dataset(self, spec: ObjectSpec) -> bool:
        """True if the version being built holds this dataset in the catalog's current layout."""

    def keep_dataset(self, spec: ObjectSpec) -> bool:
        """Carry the dataset over from the current version unchanged; False if it has none."""

    def drop_dataset(self, spec: ObjectSpec) -> None:
        """Leave the dataset out of the next version."""

    def set_state(
        self,
        spec: ObjectSpec,
        *,
        rows: int | None = None,
        refreshed_at: datetime | None = None,
        cursor: Any = ...,
    ) -> None:
        """Record refresh state for a dataset; a field left out keeps what commit would write
        (rows: the table's count; refreshed_at: when the refresh began; cursor: unchanged)."""

    def get_state(self, spec: ObjectSpec) -> DatasetInfo | None:
        """The stored state of a dataset in the version being built."""

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> QueryResult:
        """A read-only query of the version being built (e.g. the newest ``created``)."""

    def commit(self) -> None:
        """Publish the new version atomically and release the writer lock."""

    def abort(self) -> None:
        """Discard the new version and release the writer lock."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class StoreReader(QuerySource, Protocol):
    """A long-lived reader; follows new versions as they are committed."""

    def export(
        self,
        source: ObjectSpec | str,
        fmt: ExportFormat,
        dest: Path,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
    ) -> ExportResult: ...

    def close(self) -> None: ...


class DatasetStore(Protocol):
    """The datasets of one connection at rest."""

    def begin_refresh(self, full: bool) -> RefreshTransaction: ...

    def reader(self, *, follow: bool = True) -> StoreReader: ...

    def destroy(self) -> None: ...
