"""The periods a dashboard shows: presets are rolling windows that end today, compared with the
period of the same length just before, and both say the last day they include."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from flitch import clock as clocks
from flitch.dashboards.period import Period, preset, resolve

DAY = 86_400


def at(day: date, hour: int = 12) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()


def days(period: Period) -> tuple[date, date]:
    """The first and the last day a period includes."""
    first = datetime.fromtimestamp(period.start, UTC).date()
    return first, datetime.fromtimestamp(period.end - 1, UTC).date()


@pytest.mark.parametrize(
    ("today", "first"),
    [
        (date(2026, 12, 5), date(2025, 12, 6)),  # the day: not Jan 1 - Dec 5
        (date(2028, 2, 29), date(2027, 3, 1)),  # a leap day: 366 days
        (date(2027, 2, 28), date(2026, 3, 1)),
        (date(2028, 3, 1), date(2027, 3, 2)),  # the leap day inside the window
        (date(2027, 1, 1), date(2026, 1, 2)),
    ],
)
def test_twelve_months_roll_up_to_today(
    pin_clock: Callable[[float], clocks.Clock], today: date, first: date
) -> None:
    pin_clock(at(today))
    period = preset("12m")
    assert days(period) == (first, today)
    before = period.previous
    assert before.length == period.length
    assert before.end == period.start
    # twelve calendar months: a year ago tomorrow to today
    assert period.length // DAY in (365, 366)


@pytest.mark.parametrize("name", ["7d", "30d", "90d", "12m"])
def test_every_preset_ends_today_and_compares_with_as_long_before(
    pin_clock: Callable[[float], clocks.Clock], name: str
) -> None:
    today = date(2026, 12, 5)
    pin_clock(at(today, 23))
    period = preset(name)
    assert days(period)[1] == today
    assert period.previous.length == period.length


def test_the_json_names_the_last_day_of_each_period(
    pin_clock: Callable[[float], clocks.Clock],
) -> None:
    pin_clock(at(date(2026, 12, 5)))
    shown = resolve("30d").to_dict()
    assert (shown["start"][:10], shown["last_day"]) == ("2026-11-06", "2026-12-05")
    assert (shown["previous_start"][:10], shown["previous_last_day"]) == (
        "2026-10-07",
        "2026-11-05",
    )
    custom = resolve(start="2026-10-01", end="2026-10-31").to_dict()
    assert custom["last_day"] == "2026-10-31"
    assert custom["previous_last_day"] == "2026-09-30"
    assert date.fromisoformat(custom["previous_start"][:10]) == date(2026, 10, 1) - timedelta(
        days=31
    )
