"""Pacing on a virtual clock: the buckets, the backoff, the retries and the in-flight cap."""

from __future__ import annotations

import asyncio
import random

import pytest

from flitch.stripe_source.pacing import (
    Backoff,
    Pacer,
    RetryAdvice,
    RetryKind,
    TokenBucket,
)
from tests.stripe_source.virtual_clock import VirtualClock, run_virtual


# -- the token bucket --------------------------------------------------------------------------
def test_bucket_spaces_requests_exactly_after_the_burst() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(10.0, burst=3, clock=clock)
    delays = [bucket.reserve() for _ in range(6)]
    assert delays == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


def test_bucket_with_no_burst_never_sends_two_at_once() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(4.0, burst=1, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.0, 0.25, 0.5])


def test_idle_time_does_not_save_up_more_than_the_burst() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(10.0, burst=2, clock=clock)
    bucket.reserve()
    clock.t = 100.0  # a long pause
    delays = [bucket.reserve() for _ in range(4)]
    assert delays == pytest.approx([0.0, 0.0, 0.1, 0.2])


def test_waiters_are_granted_at_the_rate_in_arrival_order() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(5.0, burst=1, clock=clock)
    granted: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await bucket.acquire()
        granted.append((i, clock.now()))

    run_virtual(clock, *(one(i) for i in range(10)))
    assert [i for i, _ in granted] == list(range(10))
    assert [t for _, t in granted] == pytest.approx([i * 0.2 for i in range(10)])


def test_no_one_second_window_exceeds_rate_plus_burst() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(20.0, burst=2, clock=clock)
    times: list[float] = []

    async def worker() -> None:
        for _ in range(25):
            await bucket.acquire()
            times.append(clock.now())

    run_virtual(clock, *(worker() for _ in range(8)))
    assert len(times) == 200
    for start in times:
        in_window = [t for t in times if start <= t < start + 1.0 - 1e-9]
        assert len(in_window) <= 20 + 2 - 1
    # and the bucket is used fully: 200 requests at 20/s take (200 - burst)/20 s
    assert max(times) == pytest.approx((200 - 2) / 20)


def test_slow_down_is_multiplicative_once_per_interval_and_recovers_linearly() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(
        10.0,
        clock=clock,
        decrease=0.5,
        recovery=0.1,
        decrease_interval=1.0,
        recovery_delay=3.0,
    )
    assert bucket.slow_down()
    assert bucket.rate == pytest.approx(5.0)
    assert not bucket.slow_down()  # the same burst of 429s
    assert bucket.rate == pytest.approx(5.0)
    clock.t = 2.0  # still in the quiet period after a 429
    assert bucket.rate == pytest.approx(5.0)
    clock.t = 5.0  # recovered for 2 s × 0.1 × 10/s = 2/s
    assert bucket.rate == pytest.approx(7.0)
    assert bucket.slow_down()
    assert bucket.rate == pytest.approx(3.5)
    clock.t = 100.0
    assert bucket.rate == pytest.approx(10.0)  # never above the configured rate


def test_slow_down_has_a_floor() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(10.0, clock=clock, decrease=0.1, min_rate_fraction=0.05)
    for i in range(10):
        clock.t = float(i) * 2
        bucket.slow_down()
    assert bucket.rate >= 0.5


def test_a_slowed_bucket_spaces_requests_wider() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(10.0, clock=clock, decrease=0.5, recovery=0.0)
    bucket.slow_down()
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.0, 0.2, 0.4])


def test_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0.0, clock=VirtualClock())
    with pytest.raises(ValueError):
        TokenBucket(1.0, burst=0.5, clock=VirtualClock())


# -- backoff -----------------------------------------------------------------------------------
def test_backoff_ceiling_doubles_and_is_capped() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_is_full_jitter_within_bounds() -> None:
    backoff = Backoff(base=1.0, cap=8.0, floor=0.01)
    rng = random.Random(7)
    for attempt in range(1, 8):
        draws = [backoff.delay(attempt, rng) for _ in range(2000)]
        ceiling = backoff.ceiling(attempt)
        assert all(0.01 <= d <= ceiling for d in draws)
        # full jitter: spread over the whole range, not bunched at the top
        assert min(draws) < ceiling * 0.05
        assert max(draws) > ceiling * 0.95
        assert sum(draws) / len(draws) == pytest.approx(ceiling / 2, rel=0.1)


def test_backoff_honours_the_servers_hint_up_to_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=5.0)
    rng = random.Random(1)
    assert backoff.delay(1, rng, at_least=3.0) >= 3.0
    assert backoff.delay(1, rng, at_least=60.0) <= 5.0


# -- the pacer: retries ------------------------------------------------------------------------
class Boom(Exception):
    def __init__(self, kind: RetryKind | None) -> None:
        super().__init__(str(kind))
        self.kind = kind


def by_kind(exc: Exception) -> RetryAdvice:
    return RetryAdvice(exc.kind if isinstance(exc, Boom) else None)


def make_pacer(clock: VirtualClock, **kw: object) -> Pacer:
    options: dict[str, object] = {
        "global_rate": 100.0,
        "endpoint_rate": 25.0,
        "max_in_flight": 4,
        "max_retries": 3,
        "backoff": Backoff(base=1.0, cap=10.0, floor=0.0),
        "clock": clock,
        "rng": random.Random(3),
    }
    options.update(kw)
    return Pacer(**options)  # type: ignore[arg-type]


def test_rate_limited_requests_are_retried_then_the_error_propagates() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock)
    calls = 0

    async def always_429() -> str:
        nonlocal calls
        calls += 1
        raise Boom(RetryKind.RATE_LIMITED)

    async def main() -> None:
        with pytest.raises(Boom):
            await pacer.run("/v1/charges", always_429, by_kind)

    run_virtual(clock, main())
    assert calls == 4  # one attempt and max_retries retries
    assert pacer.stats.retries == 3
    assert pacer.stats.rate_limited == 4
    assert pacer.stats.requests == 4
    # waited in backoff, each wait within its full-jitter ceiling (1, 2, 4 s)
    assert 0 < pacer.stats.backoff_seconds <= 1 + 2 + 4
    # and slowed down: the 429s lowered the rates
    assert pacer.global_bucket.rate < 100.0
    assert pacer.endpoint_bucket("/v1/charges").rate < 25.0


def test_unavailable_is_retried_until_it_works() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock)
    answers: list[object] = [Boom(RetryKind.UNAVAILABLE), Boom(RetryKind.UNAVAILABLE), "ok"]

    async def flaky() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    async def main() -> str:
        return await pacer.run("/v1/charges", flaky, by_kind)

    assert run_virtual(clock, main()) == ["ok"]
    assert pacer.stats.retries == 2
    assert pacer.stats.rate_limited == 0
    assert pacer.global_bucket.rate == 100.0  # a 5xx is not a reason to slow down


def test_what_may_not_be_retried_is_raised_at_once() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock)
    calls = 0

    async def refused() -> str:
        nonlocal calls
        calls += 1
        raise Boom(None)

    async def main() -> None:
        with pytest.raises(Boom):
            await pacer.run("/v1/charges", refused, by_kind)

    run_virtual(clock, main())
    assert calls == 1
    assert pacer.stats.retries == 0
    assert clock.now() == 0.0


def test_zero_retries_means_one_attempt() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, max_retries=0)
    calls = 0

    async def always_429() -> str:
        nonlocal calls
        calls += 1
        raise Boom(RetryKind.RATE_LIMITED)

    async def main() -> None:
        with pytest.raises(Boom):
            await pacer.run("/v1/charges", always_429, by_kind)

    run_virtual(clock, main())
    assert calls == 1


# -- the pacer: limits together ----------------------------------------------------------------
def test_in_flight_cap_holds_and_frees_slots() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, max_in_flight=3)
    release = asyncio.Event
    inside = 0
    peak = 0
    gates: list[asyncio.Event] = []

    async def slow() -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        gate = release()
        gates.append(gate)
        await gate.wait()
        inside -= 1

    async def main() -> None:
        tasks = [asyncio.ensure_future(pacer.run("/v1/x", slow, by_kind)) for _ in range(10)]
        done = 0
        while done < 10:
            # let time pass so the buckets grant everyone a token
            await clock.sleep(1.0)
            assert inside <= 3
            assert pacer.stats.in_flight == inside
            open_gates = [g for g in gates if not g.is_set()]
            assert len(open_gates) == min(3, 10 - done)
            open_gates[0].set()
            done += 1
        await asyncio.gather(*tasks)

    run_virtual(clock, main())
    assert peak == 3
    assert pacer.stats.peak_in_flight == 3
    assert pacer.stats.in_flight == 0


def test_each_endpoint_and_the_whole_key_stay_within_their_rates() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, global_rate=8.0, endpoint_rate=5.0, max_in_flight=50)
    sent: list[tuple[str, float]] = []

    def sender(endpoint: str) -> object:
        async def send() -> None:
            sent.append((endpoint, clock.now()))

        return send

    async def worker(endpoint: str) -> None:
        for _ in range(20):
            await pacer.run(endpoint, sender(endpoint), by_kind)  # type: ignore[arg-type]

    run_virtual(clock, *(worker(e) for e in ("/v1/a", "/v1/b", "/v1/c") for _ in range(3)))
    assert len(sent) == 180
    times = [t for _, t in sent]
    for start in times:
        window = [(e, t) for e, t in sent if start <= t < start + 1.0 - 1e-9]
        assert len(window) <= 8
        for endpoint in ("/v1/a", "/v1/b", "/v1/c"):
            assert sum(1 for e, _ in window if e == endpoint) <= 5
    # the global budget is the bottleneck and is used fully: 180 requests at 8/s
    assert max(times) == pytest.approx(179 / 8, abs=0.5)
    assert pacer.stats.by_endpoint == {"/v1/a": 60, "/v1/b": 60, "/v1/c": 60}


def test_pacer_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        make_pacer(VirtualClock(), max_in_flight=0)
    with pytest.raises(ValueError):
        make_pacer(VirtualClock(), max_retries=-1)


def test_tokens_are_taken_when_sent_so_a_full_in_flight_cap_does_not_cause_bursts() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, global_rate=10.0, endpoint_rate=10.0, max_in_flight=2)
    sent: list[float] = []

    async def slow() -> None:
        sent.append(clock.now())
        await clock.sleep(1.0)  # a slow server: the cap, not the rate, is the limit

    async def worker() -> None:
        for _ in range(5):
            await pacer.run("/v1/a", slow, by_kind)

    run_virtual(clock, *(worker() for _ in range(6)))
    assert len(sent) == 30
    # two at a time, one second each: never more than two sends in any second, whatever the
    # tokens saved while waiting for a slot
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 1.0 - 1e-9) <= 2


def test_higher_priority_gets_the_global_budget_first() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, global_rate=2.0, endpoint_rate=100.0, max_in_flight=10)
    order: list[str] = []

    def sender(name: str) -> object:
        async def send() -> None:
            order.append(name)

        return send

    async def worker(endpoint: str, priority: float) -> None:
        for _ in range(5):
            await pacer.run(endpoint, sender(endpoint), by_kind, priority=priority)  # type: ignore[arg-type]

    run_virtual(clock, worker("/v1/low", 1.0), worker("/v1/high", 9.0))
    # whoever came first goes first; from then on the high-priority endpoint is preferred
    assert order[1:6] == ["/v1/high"] * 5 or order[:5] == ["/v1/high"] * 5
    assert order.count("/v1/low") == 5
