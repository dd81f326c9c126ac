"""The period a dashboard shows: ``[start, end)`` in UTC, and the one before it.

Presets match the date-range picker, and each is a rolling window that ends with today: the
last 7, 30 or 90 days, or the last 12 months (from the day after this date a year ago: 365 days,
or 366 across a 29 February). Each is compared with the period of the same length just before
it, so "the last 12 months" is never Jan 1 to today set against a longer stretch of last year.
A custom range names its first and last day, both included; so does the JSON (``last_day``), so
that every face shows the same two dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flitch import clock as clocks
from flitch.errors import InputError
from flitch.store.results import iso_utc

PRESETS = ("7d", "30d", "90d", "12m")
DAY = 86_400


@dataclass(frozen=True)
class Period:
    start: int
    end: int
    #: The preset it came from (``30d``…), or ``custom``.
    label: str = "custom"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InputError(
                "The period ends before it starts.",
                "Pick a --to date on or after the --from date.",
            )

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - self.length, self.start, "previous")

    def to_dict(self) -> dict[str, Any]:
        prev = self.previous
        return {
            "label": self.label,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "days": round(self.length / DAY, 2),
            "last_day": _last_day(self.end),
            "previous_start": _iso(prev.start),
            "previous_end": _iso(prev.end),
            "previous_last_day": _last_day(prev.end),
        }


def _iso(ts: int) -> str:
    return iso_utc(datetime.fromtimestamp(ts, UTC))


def _last_day(end: int) -> str:
    """The last day a period ending at ``end`` (excluded) includes, as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(end - 1, UTC).date().isoformat()


def _year_before(day: date) -> date:
    """The same date a year earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def _midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{text!r} is not a date ({what}).", "Write dates as YYYY-MM-DD, e.g. 2026-10-01."
        ) from None


def preset(name: str, now: float | None = None) -> Period:
    """``7d``, ``30d``, ``90d`` or ``12m``, each ending at the end of today (included)."""
    today = datetime.fromtimestamp(clocks.now() if now is None else now, UTC).date()
    end = _midnight(today + timedelta(days=1))
    if name in ("7d", "30d", "90d"):
        return Period(end - int(name[:-1]) * DAY, end, name)
    if name == "12m":
        return Period(_midnight(_year_before(today) + timedelta(days=1)), end, name)
    raise InputError(f"{name!r} is not a period.", f"Use one of: {', '.join(PRESETS)}.")


def resolve(
    last: str | None = None,
    start: str | None = None,
    end: str | None = None,
    now: float | None = None,
) -> Period:
    """The period from the picker's choices: a preset, or a custom range (a missing end is
    today; a missing start is 30 days before the end). Defaults to the last 30 days."""
    if start is None and end is None:
        return preset(last or "30d", now)
    if last is not None:
        raise InputError(
            "Pick either a preset period or dates, not both.", "Drop --last, or --from/--to."
        )
    today = datetime.fromtimestamp(clocks.now() if now is None else now, UTC).date()
    last_day = parse_day(end, "--to") if end else today
    stop = _midnight(last_day + timedelta(days=1))
    begin = _midnight(parse_day(start, "--from")) if start else stop - 30 * DAY
    return Period(begin, stop)
