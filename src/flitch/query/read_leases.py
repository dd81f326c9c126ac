"""Leases on live reads, kept in the metadata database (table ``live_read_leases``).

When replicas on several machines share live reads (``FLITCH_CACHE_URL`` names a folder they
all mount), the process that reads a list from Stripe for everyone holds a *lease* on it: a row
named by the read (:func:`flitch.query.spool.spool_key`: a hash of the connection and the read,
nothing a key or a record could be recovered from) holding the leader's random token, who it is
(host and process, for people looking at the table) and when the lease expires.

- **Taking** is one statement: an insert that, when a row for the read exists already,
  overwrites it only if that lease has expired (``ON CONFLICT … DO UPDATE … WHERE``). Two
  processes taking at once cannot both win: on PostgreSQL the second waits for the first's row
  lock and then finds the lease alive; on SQLite the statement runs under the one write lock.
- **Renewing** pushes the expiry back, only for the token that holds it; a leader whose lease
  was taken over (it could not renew in time) learns so from the count of rows changed.
- **Releasing** deletes the row, again only with its token, so a leader that lost its lease
  cannot end its successor's.
- A leader that dies stops renewing; once its lease has expired the next reader takes it over.

Statements go straight to the database, one at a time: on PostgreSQL without the metadata
writers' advisory lock (a lease is one row, and the row is its own lock), on SQLite under its one
write lock as every write. Expiry is read on the Flitch clock (:func:`flitch.clock.now`), as the
refresh jobs' leases are, so the machines need their clocks in step (NTP).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from flitch import clock as clocks
from flitch.metadb import Database, Tx
from flitch.metadb.dialect import SQLITE

#: How long a live read's lease lasts without renewal (renewed every third of it). Short: a
#: follower of a leader that died waits this long before it reads on its own.
LEASE_SECONDS = 6.0


class ReadLeases:
    """The leases on live reads in one metadata database; safe to share between threads."""

    def __init__(self, db: Database, *, lease_seconds: float | None = None) -> None:
        if lease_seconds is None:
            lease_seconds = LEASE_SECONDS  # read now: a test may shorten it for a process
        if lease_seconds <= 0:
            raise ValueError("a lease must last a positive number of seconds")
        self.db = db
        self.lease_seconds = lease_seconds

    @contextmanager
    def _statements(self) -> Iterator[Tx]:
        """Where a lease's statements run: each one is atomic on its own."""
        if self.db.engine == SQLITE:
            with self.db.write() as tx:
                yield tx
            return
        with self.db.maintenance() as tx:  # autocommit: one statement, one transaction
            yield tx

    def take(self, key: str, token: str, holder: str) -> bool:
        """Lease the read ``key`` to ``token``; False while another live lease holds it."""
        now = clocks.now()
        with self._statements() as tx:
            won = tx.execute(
                "INSERT INTO live_read_leases (read_key, token, holder, taken_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (read_key) DO UPDATE SET"
                " token = excluded.token, holder = excluded.holder,"
                " taken_at = excluded.taken_at, expires_at = excluded.expires_at"
                " WHERE live_read_leases.expires_at < ? RETURNING token",
                (key, token, holder, now, now + self.lease_seconds, now),
            ).fetchone()
        return won is not None and won[0] == token

    def holder(self, key: str) -> str | None:
        """The token of the live lease on ``key`` (None: nobody holds it, or it expired)."""
        with self.db.maintenance() as tx:
            row = tx.execute(
                "SELECT token FROM live_read_leases WHERE read_key = ? AND expires_at >= ?",
                (key, clocks.now()),
            ).fetchone()
        return None if row is None else str(row[0])

    def held(self, key: str, token: str) -> bool:
        """True while ``token``'s lease on ``key`` is alive."""
        return self.holder(key) == token

    def renew(self, leases: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Push back the expiry of these (key, token) leases; the ones still held come back
        (a lease missing from the answer was taken over, released or deleted)."""
        kept: set[tuple[str, str]] = set()
        wanted = list(leases)
        if not wanted:
            return kept
        until = clocks.now() + self.lease_seconds
        with self._statements() as tx:
            for key, token in wanted:
                changed = tx.execute(
                    "UPDATE live_read_leases SET expires_at = ? WHERE read_key = ? AND token = ?",
                    (until, key, token),
                ).rowcount
                if changed:
                    kept.add((key, token))
        return kept

    def release(self, key: str, token: str) -> bool:
        """End ``token``'s lease on ``key``; False when it held none (taken over meanwhile)."""
        with self._statements() as tx:
            gone = tx.execute(
                "DELETE FROM live_read_leases WHERE read_key = ? AND token = ?", (key, token)
            ).rowcount
        return bool(gone)

    def sweep(self) -> set[tuple[str, str]]:
        """Delete the leases that have expired (their holders died); the (key, token) of every
        live one comes back, so that spools nobody holds can be removed."""
        now = clocks.now()
        with self._statements() as tx:
            tx.execute("DELETE FROM live_read_leases WHERE expires_at < ?", (now,))
        with self.db.maintenance() as tx:
            rows = tx.execute(
                "SELECT read_key, token FROM live_read_leases WHERE expires_at >= ?", (now,)
            ).fetchall()
        return {(str(r[0]), str(r[1])) for r in rows}
