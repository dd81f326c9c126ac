"""Pacing: how fast, how many at once, and how often again, for the requests of one key.

Stripe limits each account (per mode) to a number of requests per second (100 live, 25 test),
each list endpoint to its own rate (25/s), and the number of requests in flight. A request over
a limit is answered 429 and the SDK does not retry it. So every request of a key goes through one
:class:`Pacer`, which

- waits until the endpoint's bucket, then the key's global bucket, allow one more request, takes
  an in-flight slot (a semaphore), and only then takes both tokens — so what is sent never exceeds
  a bucket, and a request waiting for its endpoint's turn holds neither a slot nor a global token
  another endpoint could use. The buckets are smooth with a small burst, so a server whose own
  limiter is a bucket holding one second of requests never has to refuse us in steady state;
- retries a request that was rate limited, failed with a 5xx or never reached the server, after a
  jittered exponential backoff ("full jitter": a uniform delay between zero and a capped,
  doubling ceiling), up to ``max_retries`` times;
- slows down after a 429 (multiplicative decrease of both buckets' rates) and recovers gradually
  (a linear climb back to the configured rate), because an account's real limit can be lower
  than the configured one.

Time is injected (:class:`Clock`), so the buckets, the backoff and the in-flight cap can be tested
exactly with a virtual clock instead of the wall clock.

Where the buckets live is injected too (``buckets``, a :data:`BucketMaker`): by default each
pacer holds its own :class:`TokenBucket` per scope; in server mode the buckets are shares of a
budget held in PostgreSQL for every process using the key
(:mod:`flitch.stripe_source.shared_budget`). Any object with :class:`Bucket`'s methods will do.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, TypeVar

T = TypeVar("T")

#: The scope name of a key's own (global) budget; endpoint buckets are named by their endpoint.
GLOBAL_SCOPE = "all"


class Clock(Protocol):
    """Where the pacer reads the time and how it waits."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (at least zero) on this clock."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class TokenBucket:
    """A smooth token bucket (the "generic cell rate" form): ``rate`` per second, ``burst`` at once.

    Each ``reserve`` books the next free slot and says how long to wait for it, so waiting
    callers are served in arrival order and spaced exactly ``1/rate`` apart once the burst is used.
    The rate can be lowered after a 429 (:meth:`slow_down`); after ``recovery_delay`` seconds
    without another decrease it climbs back linearly to ``max_rate`` at ``recovery`` ×
    ``max_rate`` per second. The quiet period matters when an account's real limit is far below
    the configured one: climbing at once would meet the limit again within a second or two, and
    a steady trickle of 429s can exhaust a request's retries.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Clock,
        min_rate_fraction: float = 0.05,
        decrease: float = 0.7,
        recovery: float = 0.02,
        decrease_interval: float = 1.0,
        recovery_delay: float = 5.0,
    ) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        if burst < 1:
            raise ValueError("a token bucket's burst is at least one request")
        self.max_rate = rate
        self.burst = burst
        self._clock = clock
        self._rate = rate
        self._min_rate = rate * min_rate_fraction
        self._decrease = decrease
        self._recovery = recovery
        self._decrease_interval = decrease_interval
        self._recovery_delay = recovery_delay
        # theoretical arrival time of the next request at the current rate
        self._tat = clock.now()
        self._rate_updated = self._tat
        self._last_decrease = float("-inf")

    @property
    def rate(self) -> float:
        """The current rate (below ``max_rate`` while recovering from a 429)."""
        self._recover(self._clock.now())
        return self._rate

    def _recover(self, now: float) -> None:
        start = max(self._rate_updated, self._last_decrease + self._recovery_delay)
        if self._rate < self.max_rate and now > start:
            climbed = (now - start) * self._recovery * self.max_rate
            self._rate = min(self.max_rate, self._rate + climbed)
        self._rate_updated = max(self._rate_updated, now)

    def wait_time(self) -> float:
        """Seconds until one more request would be within the limit (0: now). Books nothing."""
        now = self._clock.now()
        self._recover(now)
        tolerance = (self.burst - 1.0) / self._rate
        return max(0.0, self._tat - tolerance - now)

    def take(self) -> None:
        """Book one request sent now (call when :meth:`wait_time` is 0)."""
        now = self._clock.now()
        self._recover(now)
        self._tat = max(self._tat, now) + 1.0 / self._rate

    def reserve(self) -> float:
        """Book one request; return the seconds to wait before sending it (0: now)."""
        now = self._clock.now()
        self._recover(now)
        interval = 1.0 / self._rate
        tolerance = (self.burst - 1.0) * interval
        tat = max(self._tat, now)
        send_at = max(now, tat - tolerance)
        self._tat = tat + interval
        return send_at - now

    async def acquire(self) -> None:
        """Wait for a token."""
        delay = self.reserve()
        if delay > 0:
            await self._clock.sleep(delay)

    async def ready(self, demand: int = 1) -> None:
        """Nothing to prepare: this bucket is all in this process (see :class:`Bucket`)."""

    def slow_down(self) -> bool:
        """Lower the rate after a 429; at most once per ``decrease_interval`` (one burst of
        429s is one signal). Returns whether the rate was lowered."""
        now = self._clock.now()
        self._recover(now)
        if now - self._last_decrease < self._decrease_interval:
            return False
        self._last_decrease = now
        self._rate = max(self._min_rate, self._rate * self._decrease)
        return True


class Bucket(Protocol):
    """What the pacer needs of a bucket: :class:`TokenBucket` here, or a share of a budget kept
    elsewhere. The pacer calls :meth:`ready` before :meth:`wait_time`, and :meth:`take` only once
    :meth:`wait_time` said 0 with no wait in between."""

    @property
    def max_rate(self) -> float: ...

    @property
    def rate(self) -> float: ...

    async def ready(self, demand: int = 1) -> None:
        """Make sure :meth:`wait_time` can answer (a shared bucket may fetch a lease here);
        ``demand`` is how many requests of this pacer wait for this bucket now."""
        ...

    def wait_time(self) -> float: ...

    def take(self) -> None: ...

    def slow_down(self) -> bool: ...


#: Makes the bucket of one scope (:data:`GLOBAL_SCOPE` or an endpoint) at ``rate`` per second
#: with ``burst`` at once: ``maker(scope, rate, burst)``.
BucketMaker = Callable[[str, float, float], Bucket]


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: attempt ``n`` (1-based) waits uniform in
    ``[0, min(cap, base × 2^(n-1))]``. ``floor`` keeps a retry from being immediate."""

    base: float = 0.5
    cap: float = 20.0
    floor: float = 0.05

    def ceiling(self, attempt: int) -> float:
        """The largest delay of retry number ``attempt`` (1 for the first retry)."""
        return float(min(self.cap, self.base * (2 ** max(0, attempt - 1))))

    def delay(self, attempt: int, rng: random.Random, *, at_least: float = 0.0) -> float:
        """A random delay for retry ``attempt``; never below ``at_least`` (a server's hint)."""
        drawn = rng.uniform(0.0, self.ceiling(attempt))
        return max(self.floor, drawn, min(at_least, self.cap))


class RetryKind(Enum):
    """Why a failed attempt may be tried again."""

    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class RetryAdvice:
    """How a failure should be handled: ``kind`` None means do not retry."""

    kind: RetryKind | None
    #: The least delay the server asked for (``Retry-After``), in seconds.
    at_least: float = 0.0


@dataclass
class PacerStats:
    """Counters of one key's requests, for progress reports and benchmarks."""

    #: attempts sent (retries included)
    requests: int = 0
    #: attempts that were retried
    retries: int = 0
    #: answers that were 429
    rate_limited: int = 0
    #: requests in flight now, and the most seen at once
    in_flight: int = 0
    peak_in_flight: int = 0
    #: seconds spent sleeping in backoff
    backoff_seconds: float = 0.0
    #: attempts per endpoint
    by_endpoint: dict[str, int] = field(default_factory=dict)
    #: smoothed seconds a request takes once sent (None until one was sent)
    latency: float | None = None


class _Gate:
    """One holder at a time; waiters enter by priority (higher first), then in arrival order."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: float = 0.0) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-priority, next(self._seq), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed the gate just as we were cancelled: pass it on
            raise

    def best_waiting(self) -> float:
        """The highest priority among the waiters (-inf when nobody waits)."""
        while self._waiting and self._waiting[0][2].done():
            heapq.heappop(self._waiting)
        return -self._waiting[0][0] if self._waiting else float("-inf")

    def release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._busy = False


class Pacer:
    """Rate, concurrency and retries for every request of one key.

    A request is admitted in three steps, and its tokens are taken only at the moment it is
    sent, so what goes on the wire never exceeds either bucket, however long a step waited:

    1. it queues behind the other requests for its endpoint (one at a time per endpoint) and
       waits until the endpoint's bucket allows one more;
    2. it then queues for the key's global bucket among the other endpoints' ready requests
       (highest ``priority`` first, then first come) and waits until that bucket allows one more;
    3. it takes an in-flight slot, then both tokens, and is sent.

    A request that waits in step 2 is always ready for its endpoint, so the global budget is
    never left unused while some endpoint could have sent.

    With shared buckets (server mode) the request at the head of its endpoint's queue takes its
    slot before step 1 instead: a shared bucket's turns are booked for every process, and one
    booked while its request waited for a slot would be lost to all of them.
    """

    def __init__(
        self,
        *,
        global_rate: float,
        endpoint_rate: float,
        max_in_flight: int,
        max_retries: int,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        burst_seconds: float = 0.1,
        buckets: BucketMaker | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries cannot be negative")
        self.clock: Clock = clock or MonotonicClock()
        self.backoff = backoff or Backoff()
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight
        self.endpoint_rate = endpoint_rate
        self._rng = rng or random.Random()
        self._burst_seconds = burst_seconds
        self._make: BucketMaker = buckets or self._local_bucket
        self._shared = buckets is not None
        self.global_bucket = self._make(GLOBAL_SCOPE, global_rate, self._burst(global_rate))
        self._endpoints: dict[str, Bucket] = {}
        self._endpoint_queues: dict[str, asyncio.Lock] = {}
        #: requests waiting for each endpoint now (a shared bucket books no more turns)
        self._queued: dict[str, int] = {}
        self._global_gate = _Gate()
        self._slots = asyncio.Semaphore(max_in_flight)
        self.stats = PacerStats()

    def _burst(self, rate: float) -> float:
        return max(1.0, float(int(rate * self._burst_seconds)))

    def _local_bucket(self, scope: str, rate: float, burst: float) -> Bucket:
        return TokenBucket(rate, burst=burst, clock=self.clock)

    def endpoint_bucket(self, endpoint: str) -> Bucket:
        bucket = self._endpoints.get(endpoint)
        if bucket is None:
            bucket = self._make(endpoint, self.endpoint_rate, self._burst(self.endpoint_rate))
            self._endpoints[endpoint] = bucket
            self._endpoint_queues[endpoint] = asyncio.Lock()
        return bucket

    async def _until_allowed(self, bucket: Bucket, demand: int = 1) -> None:
        """Wait until ``bucket`` allows one more request."""
        if self._shared:
            await bucket.ready(demand)
        while (delay := bucket.wait_time()) > 0:
            await self.clock.sleep(delay)
            if self._shared:
                await bucket.ready(demand)

    async def _until_both_allow(self, endpoint: Bucket, demand: int) -> None:
        """Wait until the endpoint's bucket and the key's allow one more at the same moment
        (shared buckets only: a turn booked for this request may have passed meanwhile)."""
        while True:
            await endpoint.ready(demand)
            await self.global_bucket.ready()
            delay = max(endpoint.wait_time(), self.global_bucket.wait_time())
            if delay <= 0:
                return
            await self.clock.sleep(delay)

    async def _admit(self, endpoint: str, priority: float) -> None:
        """Wait until one request to ``endpoint`` may be sent; take its tokens and a slot."""
        bucket = self.endpoint_bucket(endpoint)
        if not self._shared:
            await self._admit_queued(endpoint, bucket, priority)
            return
        queued = self._queued
        queued[endpoint] = queued.get(endpoint, 0) + 1
        try:
            await self._admit_queued(endpoint, bucket, priority)
        finally:
            queued[endpoint] -= 1

    def _demand(self, endpoint: str) -> int:
        """How many turns of ``endpoint`` a shared bucket may book now: twice the requests
        that could go at once (the first holds its slot; those behind it need a free one), as
        more keep coming while slots are free; one while every slot is taken (a turn booked for
        a request still waiting for a slot would pass unused, lost to every process)."""
        free = self._slots._value
        if free <= 0:
            return 1
        behind = self._queued.get(endpoint, 1) - 1
        return 2 * (1 + min(behind, free))

    async def _admit_queued(self, endpoint: str, bucket: Bucket, priority: float) -> None:
        async with self._endpoint_queues[endpoint]:
            if self._shared:
                # A shared bucket's turns are booked for everyone: the request at the head of
                # its endpoint's queue takes its in-flight slot first, so that no turn passes
                # unused while it waits for one.
                await self._slots.acquire()
                try:
                    await self._admit_head(endpoint, bucket, priority)
                except BaseException:
                    self._slots.release()
                    raise
            else:
                await self._admit_head(endpoint, bucket, priority)

    async def _admit_head(self, endpoint: str, bucket: Bucket, priority: float) -> None:
        await self._until_allowed(bucket, self._demand(endpoint) if self._shared else 1)
        gate = self._global_gate
        await gate.acquire(priority)
        holding = True
        try:
            while True:
                await self._until_allowed(self.global_bucket)
                if gate.best_waiting() <= priority:
                    break
                # A more urgent request arrived while we waited: let it go first.
                holding = False
                gate.release()
                await gate.acquire(priority)
                holding = True
            if self._shared:  # its slot is held already; its turn may have passed meanwhile
                await self._until_both_allow(bucket, self._demand(endpoint))
            else:
                # Nobody else takes from these buckets while we hold both queues: still
                # allowed after waiting for a slot.
                await self._slots.acquire()
            bucket.take()
            self.global_bucket.take()
        finally:
            if holding:
                gate.release()

    async def _send(self, endpoint: str, send: Callable[[], Awaitable[T]], priority: float) -> T:
        await self._admit(endpoint, priority)
        stats = self.stats
        stats.requests += 1
        stats.by_endpoint[endpoint] = stats.by_endpoint.get(endpoint, 0) + 1
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        started = self.clock.now()
        try:
            return await send()
        finally:
            stats.in_flight -= 1
            self._slots.release()
            elapsed = max(0.0, self.clock.now() - started)
            previous = elapsed if stats.latency is None else stats.latency
            stats.latency = 0.8 * previous + 0.2 * elapsed

    async def run(
        self,
        endpoint: str,
        send: Callable[[], Awaitable[T]],
        advise: Callable[[Exception], RetryAdvice],
        *,
        priority: float = 0.0,
    ) -> T:
        """Send one request through the limits, retrying what ``advise`` says may be retried.

        ``send`` makes one attempt; when it raises, ``advise`` classifies the exception. After
        ``max_retries`` retries (or for an exception not to retry) the exception propagates.
        ``priority`` orders requests of different endpoints waiting for the global budget.
        """
        attempt = 0
        while True:
            try:
                return await self._send(endpoint, send, priority)
            except Exception as exc:
                advice = advise(exc)
                if advice.kind is RetryKind.RATE_LIMITED:
                    self.stats.rate_limited += 1
                    self.endpoint_bucket(endpoint).slow_down()
                    self.global_bucket.slow_down()
                if advice.kind is None or attempt >= self.max_retries:
                    raise
                attempt += 1
                self.stats.retries += 1
                delay = self.backoff.delay(attempt, self._rng, at_least=advice.at_least)
                self.stats.backoff_seconds += delay
                await self.clock.sleep(delay)
