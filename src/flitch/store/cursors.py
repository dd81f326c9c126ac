"""One DuckDB connection answering calls from several threads: a cursor of its own per call.

A cursor sees the data as of its statement (DuckDB keeps each statement's snapshot), so a
cached version's reader serves many requests at once, and live datasets answer the charts whose
data is in while later pages are still being written. Closing waits for the calls running: the
connection is shut when the last of them ends, and calls that begin after are refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import duckdb

from flitch.store.results import CATALOG


class CallCursors:
    """Lends cursors of ``con`` (on the datasets' catalog), one a call, until closed.

    ``shut`` closes the connection (and whatever goes with it); it runs once, outside ``lock``,
    when the connection is closed and no call is using it. ``refused`` is the error a call
    that begins after closing raises. ``lock`` guards the count of calls (give the one the
    connection's writer holds, if it has one)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        shut: Callable[[], None],
        refused: Callable[[], Exception],
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self._con = con
        self._shut = shut
        self._refused = refused
        self._lock = lock if lock is not None else threading.Lock()
        self._users = 0
        self._closing = False

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one call, closed after it."""
        with self._lock:
            if self._closing:
                raise self._refused()
            cur = self._con.cursor()
            self._users += 1
        try:
            cur.execute(f"USE {CATALOG}")
            yield cur
        finally:
            cur.close()
            with self._lock:
                self._users -= 1
                last = self._closing and not self._users
            if last:
                self._shut()

    def close(self) -> None:
        """Shut the connection now, or as soon as the calls running on it end."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            idle = not self._users
        if idle:
            self._shut()
