"""The store's writes of one refresh, on one thread of their own, in order.

Flattening pages into rows and inserting them into DuckDB takes a few milliseconds per page;
done on the event loop, it would stop every request in flight from being answered and every
next one from being sent, and a full refresh would fall far short of the key's rate limits. So
every call on the refresh transaction goes through :class:`StoreWrites`: one worker thread
(DuckDB's connection is used by one thread at a time, and calls run in the order they were
made), ``push`` for pages (the loop goes on at once; at most ``max_pending`` pages wait, which
bounds memory) and ``call`` for everything whose answer is needed. DuckDB releases the GIL while
it works, so reading and writing overlap.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class StoreWrites:
    """Calls on the refresh transaction, run in order on one worker thread."""

    def __init__(self, max_pending: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flitch-refresh-store")
        self._max_pending = max_pending
        self._room: asyncio.Semaphore | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._error: BaseException | None = None

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the writer thread, after every call made before it; its result."""
        self._check()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def push(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn`` without waiting for it (waits only while ``max_pending`` are queued).
        An error it raises is raised by the next ``push``, ``call`` or ``drain``."""
        self._check()
        if self._room is None:
            self._room = asyncio.Semaphore(self._max_pending)
        await self._room.acquire()
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(fn, *args)
        )
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if self._room is not None:
            self._room.release()
        if not future.cancelled() and future.exception() is not None and self._error is None:
            self._error = future.exception()

    async def drain(self) -> None:
        """Wait for every queued call; raise the first error one of them raised."""
        while self._pending:
            await asyncio.wait(list(self._pending))
        self._check()

    def close(self) -> None:
        """Wait for the thread to finish what it was given, then stop it."""
        self._pool.shutdown(wait=True)
