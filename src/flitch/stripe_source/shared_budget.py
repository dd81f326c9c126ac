"""One Stripe key's budget shared by every process that uses it (server mode, PostgreSQL).

Stripe counts a key's requests wherever they come from: two web replicas drawing live dashboards
and a worker refreshing the same key share its 100/s (live) or 25/s (test) and each endpoint's
25/s. When the metadata lives in PostgreSQL, the key's buckets are rows of ``stripe_budgets``
and every process paces itself with *leases* of them:

- A bucket is kept in the "generic cell rate" form, as
  :class:`~flitch.stripe_source.pacing.TokenBucket` keeps it in one process: its row holds the
  moment (on the database server's clock, the one clock every process agrees on) at which it is
  next free. A lease books ``n`` consecutive turns, one interval apart, and moves the row on by
  ``n`` intervals; the process keeps the turns as send times on its own monotonic clock. The
  database sees one statement per lease, not one per request.
- A request needs a turn of its endpoint's bucket and one of the key's global bucket at the same
  moment. Two budgets leased apart fall out of step (one process holds the endpoint's next turns
  while another holds the key's), and the turns of both are lost waiting for each other. So the
  key's budget is cut into *lanes* as fast as an endpoint (100/s: four lanes of 25/s; test mode's
  25/s: one), and one statement books the same ``n`` turns in the endpoint's row and in the lane
  that is free soonest (``FOR UPDATE SKIP LOCKED``): the two always agree, and the lanes
  together never pass the key's rate.
- A turn is good for :data:`GRACE` seconds after its time (an event loop wakes a little late);
  one not used by then is dropped, never saved up, so a process that stalled cannot later send
  a burst nobody booked. Any one-second window thus holds about ``rate × (1 + GRACE)``
  requests of the key at most, and as many of an endpoint at its rate (plus how unevenly the
  requests travel).
- A lease books turns only for requests ready to go. The request at the head of its endpoint's
  queue takes its in-flight slot before its turn (the pacer's order in this mode), and the
  pacer says how many turns may be booked: twice the requests that could go at once while slots
  are free (more keep coming), one while every slot is taken — a turn booked for a request still
  waiting for a slot, or for an answer, would pass unused and be lost to every process. Within
  that, leases grow while they are used up (doubling, up to :data:`LEASE_SECONDS` of turns),
  shrink to what was used when turns expired, stop growing while other processes have booked
  more than :data:`LEASE_SECONDS` ahead and halve beyond twice that.
- Leases are sent by one thread of the process on one connection of its own.
- A 429 slows every process down, since an account's real limit can be below the configured
  one: the key's *pace* (a row beside its buckets: a fraction of its rate) drops by 30 %, at most
  once a second whoever saw the 429, and climbs back as in one process (after 5 s quiet, 2 % of
  the rate a second); every lease spaces the lanes' turns by it. The process that got the 429
  also lets go of the endpoint's turns it holds (booked at the old pace) and slows that
  endpoint for itself, as one process does.
- Rows are named by a keyed hash of the key (HMAC-SHA256 under a random secret kept in
  ``stripe_budget_secret``, made by the first process that needs it) and the scope: no key, nor
  anything a key can be recovered from, is stored. Every process must run with the same rate
  settings (``FLITCH_LIVE_RPS`` and its kin), which decide the lanes.
- If the database cannot be reached, the process paces itself alone for :data:`RETRY_SECONDS`
  (the limits of one process, as in single-machine mode), says so in the log, and tries again.

Single-machine mode (SQLite) has none of this: each pacer keeps its buckets in memory.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass, field

from flitch.config import Settings
from flitch.metadb.database import DatabaseError
from flitch.stripe_source.budget_ledger import BudgetLedger, ledger_for
from flitch.stripe_source.pacing import (
    GLOBAL_SCOPE,
    Bucket,
    BucketMaker,
    Clock,
    MonotonicClock,
    TokenBucket,
)

log = logging.getLogger(__name__)

#: Seconds after its time a booked turn may still be used.
GRACE = 0.05
#: The most a lease books, in seconds of turns.
LEASE_SECONDS = 0.5
#: Seconds a process paces itself alone after the database failed a lease.
RETRY_SECONDS = 5.0


def lanes_of(global_rate: float, endpoint_rate: float) -> int:
    """How many lanes a key's budget is cut into: each about as fast as one endpoint."""
    return max(1, round(global_rate / endpoint_rate))


class KeyShare:
    """The key's global bucket of one pacer in server mode. Its turns are booked with each
    endpoint's (see the module's notes), so it never makes a request wait itself. After a 429
    it lowers the key's pace in the database, for every process; while the database cannot be
    reached it paces alone."""

    def __init__(
        self, ledger: BudgetLedger, key: str, rate: float, *, burst: float, clock: Clock
    ) -> None:
        self.ledger = ledger
        self.key = key
        self.clock = clock
        self.max_rate = rate
        #: the key's pace the last lease saw (1: its full rate)
        self.pace = 1.0
        self.local = TokenBucket(rate, burst=burst, clock=clock)
        self.alone_until = float("-inf")

    @property
    def rate(self) -> float:
        return self.local.rate if self.alone() else self.max_rate * self.pace

    def slow_down(self) -> bool:
        self.local.slow_down()
        if not self.alone():
            self.ledger.slow_down_soon(self.key)
        return True

    def alone(self) -> bool:
        return self.clock.now() < self.alone_until

    def lost_database(self, exc: Exception) -> None:
        self.alone_until = self.clock.now() + RETRY_SECONDS
        log.warning(
            "the shared Stripe budget could not be leased (%s); this process paces itself alone "
            "for %.0f s. Check that the metadata database (FLITCH_DATABASE_URL) is up.",
            exc,
            RETRY_SECONDS,
        )

    async def ready(self, demand: int = 1) -> None:
        return None

    def wait_time(self) -> float:
        return self.local.wait_time() if self.alone() else 0.0

    def take(self) -> None:
        if self.alone():
            self.local.take()


@dataclass
class ShareStats:
    """What one process's share of an endpoint's bucket did."""

    leases: int = 0
    booked: int = 0
    used: int = 0
    expired: int = 0
    #: lease statements that found every lane busy and were asked again
    crowded: int = 0
    turns_per_lease: list[int] = field(default_factory=list)


class EndpointShare:
    """One process's share of an endpoint's bucket (and of a lane of the key's) in PostgreSQL;
    it answers the pacer like a :class:`~flitch.stripe_source.pacing.TokenBucket`."""

    def __init__(self, key: KeyShare, endpoint: str, rate: float, *, burst: float) -> None:
        self._key = key
        self._endpoint = endpoint
        self._clock = key.clock
        self._control = TokenBucket(rate, burst=burst, clock=key.clock)
        self._local = TokenBucket(rate, burst=burst, clock=key.clock)
        self._lanes = lanes_of(key.max_rate, rate)
        self._turns: deque[float] = deque()
        self._batch = 1
        self._most = max(1, math.ceil(rate * LEASE_SECONDS))
        self._lease_size = 0
        self._lease_used = 0
        #: how far ahead the last lease's first turn was (others' turns before it)
        self._waited = 0.0
        self._lock = asyncio.Lock()
        self.stats = ShareStats()

    @property
    def max_rate(self) -> float:
        return self._control.max_rate

    @property
    def rate(self) -> float:
        return self._control.rate

    def slow_down(self) -> bool:
        # the turns held were booked at the old pace: let them go, lease again at the new one
        self.stats.expired += len(self._turns)
        self._turns.clear()
        self._local.slow_down()
        return self._control.slow_down()

    def _drop_stale(self) -> None:
        horizon = self._clock.now() - GRACE
        while self._turns and self._turns[0] < horizon:
            self._turns.popleft()
            self.stats.expired += 1

    async def ready(self, demand: int = 1) -> None:
        if self._key.alone():
            return
        async with self._lock:
            self._drop_stale()
            while not self._turns and not self._key.alone():
                await self._lease(demand)

    async def _lease(self, demand: int) -> None:
        if self._lease_size:
            if self._lease_used < self._lease_size:  # turns went unused: book what was used
                self._batch = self._lease_used + 1
            elif self._waited > 2 * LEASE_SECONDS:  # others book far ahead: keep leases short
                self._batch = max(1, self._batch // 2)
            elif self._waited < LEASE_SECONDS:
                self._batch = min(self._most, self._batch * 2)
            self._lease_size = 0
        turns = max(1, min(self._batch, demand))  # not more than the pacer can send soon
        every, lane_every = 1.0 / self._control.rate, self._lanes / self._key.max_rate
        ledger = self._key.ledger
        try:
            lease = await ledger.lease_soon(
                self._key.key, self._endpoint, self._lanes, turns, every, lane_every
            )
        except DatabaseError as exc:
            self._key.lost_database(exc)
            return
        if lease is None:  # every lane is being leased this instant: ask again shortly
            self.stats.crowded += 1
            await self._clock.sleep(0.002)
            return
        base = self._clock.now()
        self._turns.extend(base + lease.start + i * lease.step for i in range(turns))
        self._lease_size, self._lease_used, self._waited = turns, 0, lease.start
        self._key.pace = lease.pace
        self.stats.leases += 1
        self.stats.booked += turns

    def wait_time(self) -> float:
        if self._key.alone():
            return self._local.wait_time()
        self._drop_stale()
        if not self._turns:
            return 1e-3  # the turns just expired: ``ready`` leases more
        return max(0.0, self._turns[0] - self._clock.now())

    def take(self) -> None:
        if self._key.alone():
            self._local.take()
            return
        if self._turns:
            self._turns.popleft()
        self._lease_used += 1
        self.stats.used += 1


def shared_buckets(
    settings: Settings, key_secret: str, clock: Clock | None = None
) -> BucketMaker | None:
    """The bucket maker a key's pacer uses in server mode (None in single-machine mode). The
    pacer makes its global bucket first, then one per endpoint as requests need them."""
    ledger = ledger_for(settings)
    if ledger is None:
        return None
    on = clock or MonotonicClock()
    name = ledger.key_name(key_secret)
    shares: list[KeyShare] = []

    def make(scope: str, rate: float, burst: float) -> Bucket:
        if scope == GLOBAL_SCOPE:
            shares.append(KeyShare(ledger, name, rate, burst=burst, clock=on))
            return shares[-1]
        return EndpointShare(shares[-1], scope, rate, burst=burst)

    return make


__all__ = [
    "GRACE",
    "LEASE_SECONDS",
    "EndpointShare",
    "KeyShare",
    "ShareStats",
    "lanes_of",
    "shared_buckets",
]
