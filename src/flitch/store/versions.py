"""The book of published cache versions, kept in the metadata database (``FLITCH_CACHE_URL``).

With a shared cache location, a refresh never replaces a file: it writes ``v-<n>.duckdb`` and
then records ``n`` as the cache's current version here, in one transaction that checks the
version it started from is still the current one (two writers cannot publish over each other,
even where the folder's ``flock`` does not reach across machines). Every process, on any
machine, reads the same record, so every replica answers from the same version.

Two tables (a migration step of the connections' part, :mod:`flitch.metadb.schema`):

- ``cache_versions``: one row per cache (named by its connection's id): the current version
  (NULL before the first publish), the last number handed out, when it was published.
- ``cache_readers``: one row per process and version it reads (a *lease*): the cache, the
  version, the holder (host, process id and a random token) and when the lease expires. A
  process takes it before it opens a version, renews every lease it holds each third of
  ``lease_seconds`` from a thread of its own, and removes it when it lets go of the version.
  A process that dies stops renewing; its leases expire and no longer hold anything.

A version's file is removed once it is older than the current one and no lease that has not
expired holds it (:meth:`VersionBook.removable`). Why leases rather than ``flock`` or a grace
period: ``flock`` on a network filesystem is local to one machine on some (and a reader on
another machine would not be seen), and no grace period outlasts every export or stuck query;
a lease says who reads, everywhere the database reaches. Expiry is read on the Flitch clock, so
machines need their clocks in step (NTP), as for the refresh jobs' leases.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterable

from flitch import clock as clocks
from flitch.metadb import Database, DatabaseError

log = logging.getLogger(__name__)

#: How long a reader's lease lasts without renewal (renewed every third of it).
LEASE_SECONDS = 60.0


class VersionBook:
    """The current version of each shared cache, and the leases of this process's readers.

    Safe to share between threads; one per process is enough (its leases are renewed
    together)."""

    def __init__(self, db: Database, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        #: names this process's leases (unique across machines and restarts)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lock = threading.RLock()
        #: (cache, version) -> how many snapshots of this process hold it
        self._held: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- the current version -----------------------------------------------------------------------
    def current(self, cache: str) -> int | None:
        """The version readers should open; None before the first publish (or after deletion)."""
        rows = self.db.query("SELECT version FROM cache_versions WHERE cache = ?", (cache,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def next_number(self, cache: str) -> int:
        """A version number no writer of this cache has used (the file's name to publish as)."""
        with self.db.write() as tx:
            tx.execute(
                "INSERT INTO cache_versions (cache, version, last_number, published_at)"
                " VALUES (?, NULL, 0, NULL) ON CONFLICT (cache) DO NOTHING",
                (cache,),
            )
            tx.execute(
                "UPDATE cache_versions SET last_number = last_number + 1 WHERE cache = ?",
                (cache,),
            )
            return int(
                tx.execute(
                    "SELECT last_number FROM cache_versions WHERE cache = ?", (cache,)
                ).scalar()
            )

    def publish(self, cache: str, base: int | None, version: int) -> bool:
        """Make ``version`` current if ``base`` still is (one transaction); False if another
        writer published meanwhile (then nothing changed)."""
        with self.db.write() as tx:
            row = tx.execute(
                "SELECT version FROM cache_versions WHERE cache = ?", (cache,)
            ).fetchone()
            now = None if row is None else row[0]
            if (None if now is None else int(now)) != base:
                return False
            tx.execute(
                "UPDATE cache_versions SET version = ?, published_at = ? WHERE cache = ?",
                (version, clocks.now(), cache),
            )
            return True

    def forget(self, cache: str) -> None:
        """Remove every record of a cache (it is being deleted)."""
        with self.db.write() as tx:
            tx.execute("DELETE FROM cache_readers WHERE cache = ?", (cache,))
            tx.execute("DELETE FROM cache_versions WHERE cache = ?", (cache,))

    # -- readers' leases -----------------------------------------------------------------------
    def hold(self, cache: str, version: int) -> None:
        """Lease ``version`` for this process (counted: each ``hold`` wants a ``let_go``). The
        first hold records the lease before it returns, also for a thread that holds the same
        version meanwhile (the count and the row change together, under one lock)."""
        key = (cache, version)
        with self._lock:
            count = self._held.get(key, 0)
            if not count:
                with self.db.write() as tx:
                    tx.execute(
                        "INSERT INTO cache_readers (cache, version, holder, expires_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (cache, version, holder)"
                        " DO UPDATE SET expires_at = excluded.expires_at",
                        (cache, version, self.holder, clocks.now() + self.lease_seconds),
                    )
            self._held[key] = count + 1
        self._start_renewing()

    def let_go(self, cache: str, version: int) -> None:
        """End one ``hold``; the last one removes the lease."""
        key = (cache, version)
        with self._lock:
            count = self._held.get(key, 0) - 1
            if count > 0:
                self._held[key] = count
                return
            self._held.pop(key, None)
            with self.db.write() as tx:
                tx.execute(
                    "DELETE FROM cache_readers WHERE cache = ? AND version = ? AND holder = ?",
                    (cache, version, self.holder),
                )

    def renew(self) -> None:
        """Push back the expiry of every lease this process holds."""
        with self._lock:
            held = list(self._held)
        if not held:
            return
        with self.db.write() as tx:
            tx.executemany(
                "UPDATE cache_readers SET expires_at = ?"
                " WHERE cache = ? AND version = ? AND holder = ?",
                [(clocks.now() + self.lease_seconds, c, v, self.holder) for c, v in held],
            )

    def removable(self, cache: str, versions: Iterable[int]) -> list[int]:
        """Of ``versions`` (the files there are), those older than the current version that no
        live lease holds; expired leases of the cache are cleared on the way. Newer ones are
        never removable: a writer may be about to publish one."""
        with self.db.write() as tx:
            tx.execute(
                "DELETE FROM cache_readers WHERE cache = ? AND expires_at < ?",
                (cache, clocks.now()),
            )
            current = tx.execute(
                "SELECT version FROM cache_versions WHERE cache = ?", (cache,)
            ).scalar()
            held = {
                int(r[0])
                for r in tx.execute(
                    "SELECT DISTINCT version FROM cache_readers WHERE cache = ?", (cache,)
                )
            }
        if current is None:
            return []
        return sorted(v for v in versions if v < int(current) and v not in held)

    def _start_renewing(self) -> None:
        with self._lock:
            if self._renewer is not None or self._stop.is_set():
                return
            self._renewer = threading.Thread(
                target=self._renew_loop, name="flitch-cache-leases", daemon=True
            )
            self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except DatabaseError as exc:  # the database is away: try again at the next turn
                log.warning("Could not renew the cache readers' leases: %s", exc)

    def close(self) -> None:
        """Stop renewing and remove this process's leases (their versions may then go)."""
        self._stop.set()
        with self._lock:
            held, self._held = list(self._held), {}
        if held:
            with contextlib.suppress(DatabaseError), self.db.write() as tx:
                tx.execute("DELETE FROM cache_readers WHERE holder = ?", (self.holder,))
