"""How many pages each shape of live read took last, kept in the metadata database.

A live load is estimated before it runs from the pages the same kind of read took the last
time (:class:`flitch.query.live.ReadState`). Kept in memory only, that figure was lost at each
restart and never seen by the other replicas, so a big account's first load after either came
without an estimate. Here it is a row of ``live_read_pages`` per connection and shape of read
(the shape's hash: the list, its filters, which bounds it has and a window's length in days), so
any process of the install estimates a load the first time it makes it. The rows reference the
connection, so deleting the connection deletes them.

Reads come from the database (another replica may have made the read since); what this process
recorded itself is kept in memory too and answers when the database cannot. Writes leave the
event loop: they run on the default executor and are awaited by :meth:`PageCounts.flush`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Hashable
from typing import Any

from flitch import clock as clocks
from flitch.metadb import Database, DatabaseError
from flitch.metadb.dialect import SQLITE

log = logging.getLogger(__name__)

Key = tuple[str, tuple[Any, ...]]


def shape_hash(shape: Hashable) -> str:
    """A read's shape as a row names it (the same in every process: built from its repr)."""
    return hashlib.sha256(repr(shape).encode()).hexdigest()[:32]


class PageCounts:
    """Pages per (connection id, read shape): the database's, or this process's alone when
    there is no database."""

    def __init__(self, db: Database | None = None) -> None:
        self.db = db
        self._memory: dict[Key, int] = {}
        self._writes: set[asyncio.Future[None]] = set()

    def get(self, key: Key) -> int | None:
        """Pages the read took last time, in any process of the install (None: never made)."""
        if self.db is None:
            return self._memory.get(key)
        connection_id, shape = key
        try:
            with self.db.maintenance() as tx:
                row = tx.execute(
                    "SELECT pages FROM live_read_pages WHERE connection_id = ? AND shape = ?",
                    (connection_id, shape_hash(shape)),
                ).fetchone()
        except DatabaseError as exc:
            log.warning("Could not read the last live reads' page counts: %s", exc)
            return self._memory.get(key)
        return None if row is None else int(row[0])

    def record(self, key: Key, pages: int) -> None:
        """Keep what a completed read took; written to the database off the event loop when
        called from one, at once otherwise."""
        self._memory[key] = pages
        if self.db is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write(key, pages)
            return
        future = loop.run_in_executor(None, self._write, key, pages)
        self._writes.add(future)
        future.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait for the writes under way."""
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def _write(self, key: Key, pages: int) -> None:
        assert self.db is not None
        connection_id, shape = key
        params = (connection_id, shape_hash(shape), pages, clocks.now())
        sql = (
            "INSERT INTO live_read_pages (connection_id, shape, pages, recorded_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (connection_id, shape) DO UPDATE SET"
            " pages = excluded.pages, recorded_at = excluded.recorded_at"
        )
        try:
            if self.db.engine == SQLITE:
                with self.db.write() as tx:
                    tx.execute(sql, params)
            else:  # one statement, atomic on its own: no need for the writers' lock
                with self.db.maintenance() as tx:
                    tx.execute(sql, params)
        except DatabaseError as exc:
            # the connection was deleted meanwhile, or the database is away: an estimate lost
            log.warning("Could not record a live read's page count: %s", exc)
