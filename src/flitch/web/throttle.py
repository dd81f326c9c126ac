"""A limit on failed sign-ins, per account and per client address.

Each failure is recorded under two subjects: ``user:<name>`` and ``addr:<address>``. When a
subject has had ``limit`` failures within the last ``window`` seconds, sign-ins for it are refused
(even with the right password) until the oldest of those failures leaves the window; the refusal
says how many minutes that is. A successful sign-in clears the account's failures but not the
address's, so one valid account cannot be used to reset the count for guessing at others.
The records live in the metadata database, so a restart does not lift a lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flitch import clock as clocks
from flitch.web import userdb
from flitch.web.errors import TooManyAttempts


@dataclass(frozen=True)
class Limits:
    per_user: int = 5
    per_address: int = 20
    window: float = 15 * 60.0


class SignInThrottle:
    def __init__(
        self,
        path: Path,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = clocks.now,
    ) -> None:
        self.path = path
        self.limits = limits or Limits()
        self.clock = clock
        userdb.migrate(path)

    @staticmethod
    def _subjects(name: str, address: str) -> tuple[str, str]:
        return f"user:{name.strip().lower()[:64]}", f"addr:{address}"

    def check(self, name: str, address: str) -> None:
        """Raise ``TooManyAttempts`` while either the account or the address is locked."""
        now = self.clock()
        since = now - self.limits.window
        user_subject, addr_subject = self._subjects(name, address)
        wait = 0.0
        with userdb.connect(self.path) as conn:
            conn.execute("DELETE FROM web_signin_failures WHERE at < ?", (since,))
            for subject, limit in (
                (user_subject, self.limits.per_user),
                (addr_subject, self.limits.per_address),
            ):
                rows = conn.execute(
                    "SELECT at FROM web_signin_failures WHERE subject = ? AND at >= ? "
                    "ORDER BY at DESC LIMIT ?",
                    (subject, since, limit),
                ).fetchall()
                if len(rows) >= limit:
                    # Locked until the limit-th most recent failure leaves the window.
                    wait = max(wait, float(rows[-1]["at"]) + self.limits.window - now)
        if wait > 0:
            raise TooManyAttempts(wait)

    def record_failure(self, name: str, address: str) -> None:
        now = self.clock()
        with userdb.connect(self.path) as conn:
            conn.executemany(
                "INSERT INTO web_signin_failures (subject, at) VALUES (?, ?)",
                [(subject, now) for subject in self._subjects(name, address)],
            )

    def clear_user(self, name: str) -> None:
        user_subject, _ = self._subjects(name, "")
        with userdb.connect(self.path) as conn:
            conn.execute("DELETE FROM web_signin_failures WHERE subject = ?", (user_subject,))
