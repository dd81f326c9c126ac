"""Which process schedules: exactly one, whichever processes run.

Every ``flitch serve`` and ``flitch scheduler`` runs a scheduler loop, but only the one that
holds the scheduler's lock decides what is due; the others look again at each poll and take
over when the holder goes away. The lock is one the engine lets go of by itself when its holder
dies, so no lease needs to expire and no process needs to be told:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
  own, kept open while the process schedules. A killed process's connection closes and the
  server frees the lock; a holder that loses its connection (a server restart, a network cut)
  finds out at its next poll and stops scheduling until it wins the lock again. The key is not
  the metadata writers' one (:data:`flitch.metadb.database.WRITERS_LOCK`).
- SQLite: an exclusive ``flock`` on ``FLITCH_HOME/scheduler.lock`` (SQLite is one machine's
  file, so a file lock reaches every process that can open it); the kernel frees it when the
  process ends, however it ends.

A connection pooler in transaction mode between Flitch and PostgreSQL would hand the session
lock to whichever client uses that server connection next: point the scheduling processes at
PostgreSQL itself (or a pooler in session mode).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Any

from flitch.config import Settings
from flitch.metadb import Target, dialect
from flitch.private import private_dir

#: The advisory lock the scheduling process holds ("FLITCH" and 2).
SCHEDULER_LOCK = 0x464C_4954_4348_0002
LOCK_FILE = "scheduler.lock"


class Leadership:
    """The scheduler's lock for one install (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.target = Target.of(settings.home, settings.database_url)
        self.home = settings.home
        self._conn: Any = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def hold(self) -> bool:
        """True when this process schedules now: the lock is still its own, or was free and is
        taken now. Errors reaching the database count as not holding it."""
        if self.target.engine == dialect.POSTGRES:
            return self._hold_advisory()
        return self._hold_file()

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing the session frees the lock anyway
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEDULER_LOCK,))
            _close(self._conn)
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # frees the flock
            self._fd = None

    def _hold_advisory(self) -> bool:
        import psycopg

        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:  # the session is gone, and its lock with it
                _close(self._conn)
                self._conn = None
        try:
            conn = psycopg.connect(self.target.url, autocommit=True, connect_timeout=10)
        except psycopg.Error:
            return False
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (SCHEDULER_LOCK,)).fetchone()
        except psycopg.Error:
            _close(conn)
            return False
        if row is None or not row[0]:
            _close(conn)
            return False
        self._conn = conn
        return True

    def _hold_file(self) -> bool:
        if self._fd is not None:
            return True
        private_dir(self.home, existing=False)
        fd = os.open(self.home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


__all__ = ["LOCK_FILE", "SCHEDULER_LOCK", "Leadership"]
