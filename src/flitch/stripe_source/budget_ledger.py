"""The database side of a key's shared Stripe budget: the ``stripe_budgets`` rows and the
statements that lease them (server mode, PostgreSQL; see :mod:`flitch.stripe_source.
shared_budget` for how processes use them).

Rows of one key (named by a keyed hash of it, never the key): ``<hash>:<endpoint>`` and the
lanes ``<hash>:all/<n>/<i>`` each hold in ``tat`` the moment they are next free, on the database
server's clock; ``<hash>:pace`` holds the key's pace (a fraction of its rate) since its last
decrease at ``updated_at``. One statement books turns in an endpoint's row and a lane at once;
another lowers the pace after a 429. Each process sends them from one thread on one connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from flitch.config import Settings
from flitch.metadb.database import Database
from flitch.stripe_source.pacing import GLOBAL_SCOPE

log = logging.getLogger(__name__)

#: Rows of buckets unused for this long are removed when a process starts leasing.
FORGET_AFTER = 86_400.0
#: After a 429, the key's pace (a fraction of its rate, shared by every process) is multiplied
#: by DECREASE at most once per DECREASE_INTERVAL seconds, never below SLOWEST; RECOVERY_DELAY
#: seconds after the last decrease it climbs back by RECOVERY per second (as one process does).
DECREASE, DECREASE_INTERVAL, SLOWEST = 0.7, 1.0, 0.05
RECOVERY_DELAY, RECOVERY = 5.0, 0.02

_LABEL = b"flitch stripe budget v1\x00"


def _recovered(row: str) -> str:
    """SQL: the pace a ``row`` of ``stripe_budgets`` holds (its fraction at the last decrease,
    kept in ``tat``, at ``updated_at``) recovered until ``c.now``."""
    return (
        f"LEAST(1.0, {row}.tat + GREATEST(0.0, c.now - {row}.updated_at - {RECOVERY_DELAY})"
        f" * {RECOVERY})"
    )


# One statement: lock the endpoint's row, pick the lane that is free soonest without waiting
# for one another process holds, book the same turns in both from the later of the two, spaced
# by the endpoint's interval or the lane's at the key's pace, whichever is longer.
_LEASE_SQL = f"""
WITH c AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
p AS (
    SELECT COALESCE((SELECT {_recovered("r")} FROM stripe_budgets r WHERE r.bucket = ?), 1.0)
        AS pace
    FROM c
),
e AS (SELECT tat FROM stripe_budgets WHERE bucket = ? FOR UPDATE),
x AS (SELECT GREATEST(c.now, e.tat) AS at FROM c, e),
l AS (
    SELECT b.bucket, GREATEST(b.tat, c.now) AS tat FROM stripe_budgets b, x, c
    WHERE b.bucket LIKE ?
    ORDER BY CASE WHEN b.tat <= x.at THEN x.at - GREATEST(b.tat, c.now)
                  ELSE 1e6 + b.tat - x.at END
    LIMIT 1 FOR UPDATE OF b SKIP LOCKED
),
s AS (
    SELECT GREATEST(x.at, l.tat) AS start, c.now, l.bucket AS lane,
           GREATEST(?::float8, ?::float8 / p.pace) AS step
    FROM c, x, l, p
),
u AS (
    UPDATE stripe_budgets b SET tat = s.start + ? * s.step, updated_at = s.now FROM s
    WHERE b.bucket = ? OR b.bucket = s.lane RETURNING b.bucket
)
SELECT (SELECT s.start - s.now FROM s), (SELECT count(*) FROM u), (SELECT count(*) FROM e),
       (SELECT s.step FROM s), (SELECT pace FROM p)
"""  # noqa: S608 (only this module's constants are formatted in)

# After a 429: lower the key's pace, once per interval whichever process asks.
_SLOW_SQL = f"""
UPDATE stripe_budgets AS r SET tat = GREATEST({SLOWEST}, {_recovered("r")} * {DECREASE}),
    updated_at = c.now
FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) AS c
WHERE r.bucket = ? AND r.updated_at < c.now - {DECREASE_INTERVAL}
"""  # noqa: S608 (only this module's constants are formatted in)


class BudgetLedger:
    """The ``stripe_budgets`` rows of one PostgreSQL database: names and leases (thread-safe)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._secret: bytes | None = None
        self._known: set[str] = set()
        #: statements that booked turns, and the turns booked (for benchmarks and tests)
        self.leases = 0
        self.turns = 0
        # one thread, hence one connection, sends this process's leases: no connection churn,
        # and the event loop never waits on the database
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flitch-budget")

    def _hash_secret(self) -> bytes:
        with self._lock:
            if self._secret is not None:
                return self._secret
        with self._db.maintenance() as tx:
            tx.execute(
                "INSERT INTO stripe_budget_secret (id, secret) VALUES (1, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (secrets.token_bytes(32),),
            )
            found = bytes(tx.execute("SELECT secret FROM stripe_budget_secret").scalar())
            tx.execute(
                "DELETE FROM stripe_budgets WHERE updated_at > 0 AND updated_at <"
                " extract(epoch FROM clock_timestamp())::float8 - ?",
                (FORGET_AFTER,),
            )
        with self._lock:
            self._secret = found
        return found

    def key_name(self, key_secret: str) -> str:
        """What names a key's rows: a keyed hash of the key (never the key)."""
        digest = hmac.new(self._hash_secret(), _LABEL + key_secret.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def _create(self, names: list[str], pace: str) -> None:
        missing = [n for n in [*names, pace] if n not in self._known]
        if not missing:
            return
        with self._db.maintenance() as tx:
            tx.executemany(
                "INSERT INTO stripe_budgets (bucket, tat, updated_at) VALUES (?, ?, 0)"
                " ON CONFLICT (bucket) DO NOTHING",
                [(n, 1.0 if n == pace else 0.0) for n in missing],
            )
        with self._lock:
            self._known.update(missing)

    def lease(
        self, key: str, endpoint: str, lanes: int, turns: int, every: float, lane_every: float
    ) -> Lease | None:
        """Book ``turns`` turns for ``endpoint`` of the key named ``key`` and in one of its
        ``lanes``: ``every`` seconds apart, or ``lane_every`` stretched by the key's pace if that
        is longer. None when every lane is being leased by another process (ask again)."""
        endpoint_row = f"{key}:{endpoint}"
        lane_rows = [f"{key}:{GLOBAL_SCOPE}/{lanes}/{i}" for i in range(lanes)]
        pace_row = f"{key}:pace"
        self._create([endpoint_row, *lane_rows], pace_row)
        lanes_like = f"{key}:{GLOBAL_SCOPE}/{lanes}/%"
        params = (pace_row, endpoint_row, lanes_like, every, lane_every, turns, endpoint_row)
        with self._db.maintenance() as tx:
            row = tx.execute(_LEASE_SQL, params).fetchone()
        assert row is not None  # the statement always answers one row
        if not row[2]:  # removed meanwhile (unused for a day): make the rows again
            with self._lock:
                self._known.difference_update([endpoint_row, *lane_rows, pace_row])
            return self.lease(key, endpoint, lanes, turns, every, lane_every)
        if row[0] is None or int(row[1]) != 2:
            return None
        with self._lock:
            self.leases += 1
            self.turns += turns
        return Lease(max(0.0, float(row[0])), float(row[3]), float(row[4]))

    def slow_down(self, key: str) -> None:
        """Lower the key's pace after a 429 (once per interval, whoever asks)."""
        with self._db.maintenance() as tx:
            tx.execute(_SLOW_SQL, (f"{key}:pace",))

    async def lease_soon(
        self, key: str, endpoint: str, lanes: int, turns: int, every: float, lane_every: float
    ) -> Lease | None:
        """:meth:`lease` on this ledger's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._sender, self.lease, key, endpoint, lanes, turns, every, lane_every
        )

    def slow_down_soon(self, key: str) -> None:
        """:meth:`slow_down` on this ledger's own thread, not waited for (a failure is logged)."""
        future = self._sender.submit(self.slow_down, key)
        future.add_done_callback(_log_failure)


def _log_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("the key's shared pace could not be lowered after a 429 (%s)", exc)


@dataclass(frozen=True)
class Lease:
    """Booked turns: the first ``start`` seconds from now, the next ``step`` apart, at the key's
    ``pace`` (1: its full rate)."""

    start: float
    step: float
    pace: float


_LEDGERS: dict[str, BudgetLedger] = {}
_LEDGERS_LOCK = threading.Lock()


def ledger_for(settings: Settings) -> BudgetLedger | None:
    """This process's ledger of the PostgreSQL database ``settings`` names (opened once per
    process and database); None in single-machine mode."""
    url = settings.database_url
    if not url or not url.lower().startswith(("postgresql:", "postgres:")):
        return None
    with _LEDGERS_LOCK:
        ledger = _LEDGERS.get(url)
        if ledger is None:
            from flitch.metadb.target import open_database

            ledger = BudgetLedger(open_database(settings.home, url))
            _LEDGERS[url] = ledger
        return ledger


__all__ = ["BudgetLedger", "Lease", "ledger_for"]
