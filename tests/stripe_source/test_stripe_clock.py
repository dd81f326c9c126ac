"""Stripe's clock as this machine can tell it, from the Date headers of Stripe's answers."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from flitch.stripe_source.clock import StripeClock


class Wall:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_clock_ahead_of_stripes_is_allowed_for() -> None:
    wall = Wall(1_800_000_600.4)
    clock = StripeClock(wall)
    assert clock.ahead == 0.0  # nothing seen yet
    # Stripe said 1_800_000_000 (to the second) when this machine read 600.4 s later
    clock.observe(formatdate(1_800_000_000, usegmt=True))
    assert clock.ahead == pytest.approx(600.4)
    # a later answer that arrived faster narrows it; a slower one does not widen it
    wall.t = 1_800_000_700.1
    clock.observe(formatdate(1_800_000_100, usegmt=True))
    assert clock.ahead == pytest.approx(600.1)
    wall.t = 1_800_000_805.0
    clock.observe(formatdate(1_800_000_200, usegmt=True))
    assert clock.ahead == pytest.approx(600.1)
    # so a time of this machine is never later than Stripe's at that moment
    assert clock.to_stripe(1_800_001_000.1) == pytest.approx(1_800_000_400.0)


def test_a_clock_behind_stripes_is_left_as_it_is() -> None:
    wall = Wall(1_800_000_000.0)
    clock = StripeClock(wall)
    clock.observe(formatdate(1_800_000_030, usegmt=True))
    assert clock.ahead == 0.0
    assert clock.to_stripe(1_800_000_000.0) == 1_800_000_000.0


@pytest.mark.parametrize("header", [None, "", "yesterday", "Fri, 99 Nov 2026 25:61:00 GMT"])
def test_missing_or_unreadable_headers_are_ignored(header: str | None) -> None:
    clock = StripeClock(Wall(1_800_000_600.0))
    clock.observe(header)
    assert clock.ahead == 0.0


def test_a_large_skew_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = StripeClock(Wall(1_800_000_600.0))
    for _ in range(3):
        clock.observe(formatdate(1_800_000_000, usegmt=True))
    notes = [r.getMessage() for r in caplog.records if "ahead of Stripe" in r.getMessage()]
    assert len(notes) == 1
    assert "NTP" in notes[0]
