"""A limit on failed sign-ins, per account and per client address.

Every attempt is counted under two subjects, ``user:<name>`` and ``addr:<address>``, *before* its
password is checked: checking a password is slow (argon2 on purpose), and a limit that counted
failures only once they were known let every attempt sent at the same instant through (40 wrong
passwords at once: 31 were verified against a limit of 5). So ``reserve`` counts the attempt and
refuses it in one write transaction of the metadata database, which runs one at a time across
threads and across every ``flitch serve`` sharing the database (SQLite's ``BEGIN IMMEDIATE``, or
the writers' advisory lock on PostgreSQL, so replicas on several machines count together): of any
number of simultaneous attempts, at most the limit get a reservation, and only they are checked.

An attempt whose password turns out right gives its reservation back (``succeeded``), and clears
the account's earlier failures but not the address's, so one valid account cannot be used to
reset the count for guessing at others; an attempt that failed stays counted. When a subject has
``limit`` attempts within the last ``window`` seconds, attempts for it are refused (even with the
right password) until the oldest of those leaves the window; the refusal says how many minutes
that is. The records live in the metadata database, so a restart does not lift a lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flitch import clock as clocks
from flitch.metadb import Database, Tx
from flitch.web import userdb
from flitch.web.errors import TooManyAttempts


@dataclass(frozen=True)
class Limits:
    per_user: int = 5
    per_address: int = 20
    window: float = 15 * 60.0


@dataclass(frozen=True)
class Reservation:
    """One attempt, counted: its rows (one per subject) and the account it is for."""

    name: str
    rows: tuple[int, ...]


class SignInThrottle:
    def __init__(
        self,
        path: Database | Path,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = clocks.now,
    ) -> None:
        self.db = userdb.database(path)
        self.limits = limits or Limits()
        self.clock = clock

    @staticmethod
    def _subjects(name: str, address: str) -> tuple[str, str]:
        return f"user:{name.strip().lower()[:64]}", f"addr:{address}"

    def reserve(self, name: str, address: str) -> Reservation:
        """Count an attempt before its password is checked; ``TooManyAttempts`` while either the
        account or the address has reached its limit (the attempt is then not counted)."""
        now = self.clock()
        since = now - self.limits.window
        user_subject, addr_subject = self._subjects(name, address)
        # A write transaction takes the writers' lock before the count is read, so no other
        # attempt, in this process or another, can count between the read and the insert.
        with self.db.write() as conn:
            conn.execute("DELETE FROM web_signin_failures WHERE at < ?", (since,))
            wait = max(
                self._wait(conn, user_subject, self.limits.per_user, now),
                self._wait(conn, addr_subject, self.limits.per_address, now),
            )
            rows: list[int] = []
            if wait <= 0:
                for subject in (user_subject, addr_subject):
                    added = conn.execute(
                        "INSERT INTO web_signin_failures (subject, at) VALUES (?, ?)"
                        " RETURNING rowid",
                        (subject, now),
                    ).scalar()
                    rows.append(int(added))
        if wait > 0:
            raise TooManyAttempts(wait)
        return Reservation(name=name, rows=tuple(rows))

    def _wait(self, conn: Tx, subject: str, limit: int, now: float) -> float:
        """Seconds until ``subject`` may try again (0 when it may now)."""
        rows = conn.execute(
            "SELECT at FROM web_signin_failures WHERE subject = ? AND at >= ? "
            "ORDER BY at DESC LIMIT ?",
            (subject, now - self.limits.window, limit),
        ).fetchall()
        if len(rows) < limit:
            return 0.0
        # Locked until the limit-th most recent attempt leaves the window.
        return max(0.0, float(rows[-1]["at"]) + self.limits.window - now)

    def succeeded(self, reservation: Reservation) -> None:
        """The password was right: give the attempt back and clear the account's failures."""
        user_subject, _ = self._subjects(reservation.name, "")
        with self.db.write() as conn:
            conn.executemany(
                "DELETE FROM web_signin_failures WHERE rowid = ?",
                [(row,) for row in reservation.rows],
            )
            conn.execute("DELETE FROM web_signin_failures WHERE subject = ?", (user_subject,))
