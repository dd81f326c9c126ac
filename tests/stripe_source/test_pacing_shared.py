"""The pacer's order with shared buckets (server mode), on a virtual clock.

A shared bucket's turns are booked for every process using the key, so the pacer takes a
request's in-flight slot before its turn — but only for the request at the head of its
endpoint's queue, so that requests queued behind a slow endpoint never hold the slots other
endpoints need — and tells the bucket how many turns it may book.
"""

from __future__ import annotations

from flitch.stripe_source.pacing import Bucket, Pacer, RetryAdvice, TokenBucket
from tests.stripe_source.virtual_clock import VirtualClock, run_virtual


class Recording(TokenBucket):
    """A bucket of this process that notes what the pacer asks of it (as a shared one would
    be asked)."""

    def __init__(self, rate: float, clock: VirtualClock, asked: list[int]) -> None:
        super().__init__(rate, clock=clock)
        self.asked = asked

    async def ready(self, demand: int = 1) -> None:
        self.asked.append(demand)


def _pacer(clock: VirtualClock, rates: dict[str, float], asked: list[int]) -> Pacer:
    def make(scope: str, rate: float, burst: float) -> Bucket:
        return Recording(rates.get(scope, rate), clock, asked)

    return Pacer(
        global_rate=1000.0,
        endpoint_rate=1000.0,
        max_in_flight=2,
        max_retries=0,
        clock=clock,
        buckets=make,
    )


def _never(_: Exception) -> RetryAdvice:
    return RetryAdvice(None)


def test_requests_queued_behind_a_slow_endpoint_leave_the_slots_to_others() -> None:
    clock = VirtualClock()
    pacer = _pacer(clock, {"/v1/charges": 1.0}, [])  # charges: one a second
    sent: dict[str, list[float]] = {"/v1/charges": [], "/v1/customers": []}

    async def one(endpoint: str) -> None:
        async def send() -> None:
            sent[endpoint].append(clock.now())

        await pacer.run(endpoint, send, _never)

    run_virtual(clock, *(one("/v1/charges") for _ in range(5)), one("/v1/customers"))
    # two slots: the charges waiting for their turns hold one at most, customers gets the other
    # at once (a millisecond after the first charge: the key's bucket spaces them)
    assert sent["/v1/customers"][0] < 0.01
    assert sent["/v1/charges"] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_turns_are_asked_for_the_requests_that_could_go() -> None:
    clock = VirtualClock()
    asked: list[int] = []
    pacer = _pacer(clock, {}, asked)

    async def one() -> None:
        async def send() -> None:
            await clock.sleep(1.0)  # a slow answer: both slots stay taken meanwhile

        await pacer.run("/v1/charges", send, _never)

    run_virtual(clock, *(one() for _ in range(4)))
    # the first request, with a free slot beside its own: two turns; once both slots are taken
    # by answers that take a second, one turn at a time (a second would pass unused)
    assert asked[0] == 2
    assert set(asked[4:]) == {1}
    assert max(asked) <= 2 * 2  # never more than twice the slots
