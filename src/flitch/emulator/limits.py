"""Rate limits, the concurrency limit, injected faults and added latency.

Stripe limits requests per account and mode (100/s live, 25/s test by default) and per endpoint
(25/s unless stated otherwise), and separately caps requests in flight. The emulator models the
rate limits as token buckets whose capacity is one second's worth of requests: a client may
burst that many at once, then gets ``rate``/s. Rates are read from the live configuration on
every request, so a test can change them while the server runs.

Faults are drawn from a ``random.Random(seed)``, one draw per request in arrival order: with the
same seed and the same sequence of requests, the same requests fail.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class TokenBucket:
    """Tokens refill at ``rate`` per second up to ``rate`` (one second's worth)."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.tokens = max(rate, 1.0)  # a new bucket starts full
        self.stamp = now

    def take(self, rate: float, now: float) -> bool:
        """Take one token if there is one (refilling first at the current ``rate``)."""
        capacity = max(rate, 1.0)
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class Rates:
    """Requests per second allowed; ``None`` means unlimited."""

    live: float | None
    test: float | None
    endpoint: float | None


class RateLimiter:
    """One global bucket per mode and one bucket per (mode, endpoint)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._global: dict[str, TokenBucket] = {}
        self._endpoint: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, mode: str, endpoint: str, rates: Rates) -> bool:
        """Whether a request may go ahead now; takes its tokens only if it may."""
        now = self._clock()
        global_rate = rates.live if mode == "live" else rates.test
        with self._lock:
            if global_rate is not None:
                bucket = self._global.get(mode)
                if bucket is None:
                    bucket = self._global[mode] = TokenBucket(global_rate, now)
                if not _peek(bucket, global_rate, now):
                    return False
            if rates.endpoint is not None:
                key = (mode, endpoint)
                ebucket = self._endpoint.get(key)
                if ebucket is None:
                    ebucket = self._endpoint[key] = TokenBucket(rates.endpoint, now)
                if not ebucket.take(rates.endpoint, now):
                    return False
            if global_rate is not None:
                self._global[mode].take(global_rate, now)
            return True

    def reset(self) -> None:
        """Refill every bucket (e.g. after a test changed the rates)."""
        with self._lock:
            self._global.clear()
            self._endpoint.clear()


def _peek(bucket: TokenBucket, rate: float, now: float) -> bool:
    capacity = max(rate, 1.0)
    return min(capacity, bucket.tokens + (now - bucket.stamp) * rate) >= 1.0


class InFlight:
    """Counts requests being answered, to refuse those over ``max_in_flight``."""

    def __init__(self) -> None:
        self.count = 0

    def enter(self, limit: int | None) -> bool:
        if limit is not None and self.count >= limit:
            return False
        self.count += 1
        return True

    def leave(self) -> None:
        self.count -= 1


class FaultInjector:
    """Decides, per request, whether to fail it: ``"error"`` (a 500), ``"drop"`` or ``None``."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._seed = seed
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)
            self._seed = seed

    @property
    def seed(self) -> int:
        return self._seed

    def draw(self, rate: float, kinds: tuple[str, ...]) -> str | None:
        """Two draws per request whatever the outcome, so later requests do not shift."""
        with self._lock:
            roll = self._rng.random()
            pick = self._rng.random()
        if rate <= 0 or not kinds or roll >= rate:
            return None
        return kinds[min(int(pick * len(kinds)), len(kinds) - 1)]
