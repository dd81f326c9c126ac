"""Reading datasets for the web app: pages of rows and exports, live or from the cache.

One :class:`~flitch.query.engine.QueryEngine` serves the whole app, so every live read of a
connection shares that key's rate budget and identical reads in flight share one fetch. The
engine's Stripe clients belong to one event loop, so the engine lives on a loop of its own, on a
background thread: request handlers (whatever loop serves them) hand it work and await the
answer. DuckDB work (paging, exporting) runs on worker threads, off every loop.

A live read that fails for one of the seed's reasons is remembered where the pages show it: a
refused key marks the connection "authentication failed", a refused object marks the dataset
"missing permission", each with the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from flitch import catalog
from flitch import clock as clocks
from flitch.catalog import ColumnType, ObjectSpec
from flitch.config import Settings
from flitch.connections.records import ConnectionInfo, DatasetStatus, KeyTestResult
from flitch.connections.service import ConnectionService
from flitch.errors import AuthenticationFailed, InputError, NotFound, PermissionMissing
from flitch.query.engine import Loaded, Provenance, QueryEngine
from flitch.query.reads import DatasetRead
from flitch.store import ExportFormat, ExportResult, TablePage, TableQuery

T = TypeVar("T")

#: Columns a page of rows leaves out: the whole Stripe object (it is in the exports).
HIDDEN_COLUMNS = frozenset({"raw"})
MAX_PAGE = 500
#: How often the web app looks for cache files it holds open that were deleted or replaced.
SWEEP_SECONDS = 1.0


def sortable_columns(spec: ObjectSpec) -> tuple[str, ...]:
    """The columns a table may be sorted by (every column but JSON ones)."""
    return tuple(c.name for c in spec.columns if c.type is not ColumnType.JSON)


def shown_columns(spec: ObjectSpec) -> tuple[str, ...]:
    return tuple(c.name for c in spec.columns if c.name not in HIDDEN_COLUMNS)


def epoch(value: datetime | None) -> int | None:
    """Unix seconds of a datetime (a naive one is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


@dataclass(frozen=True)
class RowsRequest:
    """What a page of a dataset asks for (checked by :func:`check_request`)."""

    sort: str = "created"
    descending: bool = True
    limit: int = 50
    offset: int = 0
    created_from: int | None = None
    created_to: int | None = None


@dataclass(frozen=True)
class Rows:
    page: TablePage
    provenance: Provenance
    columns: tuple[str, ...]


def dataset_of(conn: ConnectionInfo, name: str) -> ObjectSpec:
    """The picked dataset ``name`` of ``conn``, or a ``NotFound`` naming the ones it has."""
    picked = [d.object for d in conn.datasets]
    if name not in picked:
        raise NotFound(
            f"The connection {conn.name!r} has no dataset {name!r}.",
            f"Open one of its datasets: {', '.join(picked) or 'none are picked'}.",
        )
    return catalog.get(name)


def check_request(spec: ObjectSpec, request: RowsRequest) -> None:
    sortable = sortable_columns(spec)
    if request.sort not in sortable:
        raise InputError(
            f"{spec.label} cannot be sorted by {request.sort!r}.",
            f"Sort by one of: {', '.join(sortable)}.",
        )
    low, high = request.created_from, request.created_to
    if low is not None and high is not None and low >= high:
        raise InputError(
            "The time range is empty: its start is not before its end.",
            "Pick a start date before the end date, or clear one of them.",
        )


class DatasetQueries:
    """Pages and exports of datasets for one app (see the module docstring)."""

    def __init__(self, settings: Settings, service: ConnectionService) -> None:
        self.settings = settings
        self.service = service
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: QueryEngine | None = None

    # -- the engine's own loop ---------------------------------------------------------------------
    def _start(self) -> tuple[asyncio.AbstractEventLoop, QueryEngine]:
        with self._lock:
            if self._loop is None or self._engine is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="flitch-web-queries", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
                self._engine = engine = QueryEngine(self.settings, self.service)
                loop.call_soon_threadsafe(self._sweep, loop, engine)
            return self._loop, self._engine

    def _sweep(self, loop: asyncio.AbstractEventLoop, engine: QueryEngine) -> None:
        """Every ``SWEEP_SECONDS`` on the engine's loop: close what is held open of a cache
        that was deleted or replaced, by this process or another (``flitch disconnect`` from a
        terminal deletes a connection without telling the server)."""
        with contextlib.suppress(Exception):  # a failed look is retried at the next tick
            engine.sweep()
        if not loop.is_closed():
            loop.call_later(SWEEP_SECONDS, self._sweep, loop, engine)

    async def _on_engine_loop(self, work: Coroutine[Any, Any, T]) -> T:
        loop, _ = self._start()
        future = asyncio.run_coroutine_threadsafe(work, loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    async def relay(self, make: Callable[[QueryEngine], AsyncGenerator[T]]) -> AsyncGenerator[T]:
        """The items of ``make(engine)``, run on the engine's loop, handed over one by one.
        Closing this early (a reader who left) closes that generator on its loop, which
        cancels whatever it was waiting for there (a dashboard's Stripe reads)."""
        loop, engine = self._start()
        items = make(engine)

        async def step() -> T:
            return await anext(items)

        try:
            while True:
                future = asyncio.run_coroutine_threadsafe(step(), loop)
                try:
                    item = await asyncio.wrap_future(future)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                yield item
        finally:
            asyncio.run_coroutine_threadsafe(items.aclose(), loop)

    async def _load(self, conn: ConnectionInfo, read: DatasetRead) -> Loaded:
        return await self.load(conn, [read])

    async def load(self, conn: ConnectionInfo, reads: Sequence[DatasetRead]) -> Loaded:
        """Make ``reads`` queryable (live, or the cache) on the engine's loop; a refused key or
        object is remembered where the pages show it. The caller closes what it gets."""
        _, engine = self._start()
        try:
            return await self._on_engine_loop(engine.load(conn.id, list(reads)))
        except (AuthenticationFailed, PermissionMissing) as error:
            await self.remember(conn, error, reads)
            raise

    async def remember(
        self,
        conn: ConnectionInfo,
        error: AuthenticationFailed | PermissionMissing,
        reads: Sequence[DatasetRead],
    ) -> None:
        """Keep a refused key or object where the pages show it, with the fix."""
        if isinstance(error, AuthenticationFailed):
            test = KeyTestResult(clocks.now(), False, error.message, error.fix)
            await anyio.to_thread.run_sync(self.service.table.record_test, conn.id, test, [], None)
        elif error.object_name in {read.dataset for read in reads}:
            status = DatasetStatus.MISSING_PERMISSION
            await anyio.to_thread.run_sync(
                self.service.db.set_dataset_status,
                conn.id,
                error.object_name,
                status,
                error.message,
                error.fix,
            )

    # -- what the API asks -------------------------------------------------------------------------
    async def rows(self, conn: ConnectionInfo, spec: ObjectSpec, request: RowsRequest) -> Rows:
        """A page of a dataset: from the cache when refresh is on, else read live (narrowed to
        the created range, so Stripe is asked only for what the page can show)."""
        check_request(spec, request)
        read = DatasetRead(spec.name, request.created_from, request.created_to)
        loaded = await self._load(conn, read)
        columns = shown_columns(spec)
        query = TableQuery(
            columns=columns,
            created_from=request.created_from,
            created_to=request.created_to,
            order_by=request.sort,
            descending=request.descending,
            limit=request.limit,
            offset=request.offset,
        )
        try:
            page = await anyio.to_thread.run_sync(loaded.source.table, spec, query)
        finally:
            await anyio.to_thread.run_sync(loaded.close)
        return Rows(page, loaded.provenance, columns)

    async def export(
        self, conn: ConnectionInfo, spec: ObjectSpec, fmt: ExportFormat, dest: Path
    ) -> tuple[ExportResult, Provenance]:
        """Write the whole dataset to ``dest`` as CSV or Parquet (live, or from the cache)."""
        loaded = await self._load(conn, DatasetRead(spec.name))
        try:
            result = await anyio.to_thread.run_sync(loaded.export, spec, fmt, dest)
        finally:
            await anyio.to_thread.run_sync(loaded.close)
        return result, loaded.provenance

    def forget(self, connection_id: str) -> None:
        """Close what is held open for a connection (its cache reader), before it is deleted."""
        with self._lock:
            loop, engine = self._loop, self._engine
        if loop is None or engine is None:
            return

        async def drop() -> None:
            engine.forget(connection_id)

        with contextlib.suppress(RuntimeError):  # the loop was stopped meanwhile
            asyncio.run_coroutine_threadsafe(drop(), loop).result(timeout=30)

    def close(self) -> None:
        with self._lock:
            loop, engine, thread = self._loop, self._engine, self._thread
            self._loop = self._engine = self._thread = None
        if loop is None or engine is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(engine.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        loop.close()
