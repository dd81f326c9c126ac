"""Pacing: how fast, how many at once, and how often again, for the requests of one key.

Stripe limits each account (per mode) to a number of requests per second (100 live, 25 test),
each list endpoint to its own rate (25/s), and the number of requests in flight. A request over
a limit is answered 429 and the SDK does not retry it. So every request of a key goes through one
:class:`Pacer`, which

- waits for a token of the endpoint's bucket, then of the key's global bucket (both smooth, with
  a small burst, so a server whose own limiter is a bucket holding one second of requests never
  has to refuse us in steady state);
- then waits for an in-flight slot (a semaphore) — tokens first, so a request waiting for its
  endpoint's turn does not hold a slot another endpoint could use;
- retries a request that was rate limited, failed with a 5xx or never reached the server, after a
  jittered exponential backoff ("full jitter": a uniform delay between zero and a capped,
  doubling ceiling), up to ``max_retries`` times;
- slows down after a 429 (multiplicative decrease of both buckets' rates) and recovers gradually
  (a linear climb back to the configured rate), because an account's real limit can be lower
  than the configured one.

Time is injected (:class:`Clock`), so the buckets, the backoff and the in-flight cap can be tested
exactly with a virtual clock instead of the wall clock.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, TypeVar

T = TypeVar("T")


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
    The rate can be lowered after a 429 (:meth:`slow_down`); it climbs back linearly to
    ``max_rate`` at ``recovery`` × ``max_rate`` per second.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Clock,
        min_rate_fraction: float = 0.05,
        decrease: float = 0.7,
        recovery: float = 0.05,
        decrease_interval: float = 1.0,
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
        if self._rate < self.max_rate and now > self._rate_updated:
            climbed = (now - self._rate_updated) * self._recovery * self.max_rate
            self._rate = min(self.max_rate, self._rate + climbed)
        self._rate_updated = max(self._rate_updated, now)

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


class Pacer:
    """Rate, concurrency and retries for every request of one key."""

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
        self.global_bucket = TokenBucket(
            global_rate, burst=self._burst(global_rate), clock=self.clock
        )
        self._endpoints: dict[str, TokenBucket] = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self.stats = PacerStats()

    def _burst(self, rate: float) -> float:
        return max(1.0, float(int(rate * self._burst_seconds)))

    def endpoint_bucket(self, endpoint: str) -> TokenBucket:
        bucket = self._endpoints.get(endpoint)
        if bucket is None:
            bucket = TokenBucket(
                self.endpoint_rate, burst=self._burst(self.endpoint_rate), clock=self.clock
            )
            self._endpoints[endpoint] = bucket
        return bucket

    async def _send(self, endpoint: str, send: Callable[[], Awaitable[T]]) -> T:
        await self.endpoint_bucket(endpoint).acquire()
        await self.global_bucket.acquire()
        async with self._slots:
            stats = self.stats
            stats.requests += 1
            stats.by_endpoint[endpoint] = stats.by_endpoint.get(endpoint, 0) + 1
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            try:
                return await send()
            finally:
                stats.in_flight -= 1

    async def run(
        self,
        endpoint: str,
        send: Callable[[], Awaitable[T]],
        advise: Callable[[Exception], RetryAdvice],
    ) -> T:
        """Send one request through the limits, retrying what ``advise`` says may be retried.

        ``send`` makes one attempt; when it raises, ``advise`` classifies the exception. After
        ``max_retries`` retries (or for an exception not to retry) the exception propagates.
        """
        attempt = 0
        while True:
            try:
                return await self._send(endpoint, send)
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
