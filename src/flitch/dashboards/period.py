"""The period a dashboard shows: ``[start, end)`` in UTC, and the one before it.

Presets match the date-range picker: the last 7, 30 or 90 days (today included), or the last
12 months (from the first day of the month eleven months ago). A custom range names its first
and last day, both included.
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
            "previous_start": _iso(prev.start),
            "previous_end": _iso(prev.end),
        }


def _iso(ts: int) -> str:
    return iso_utc(datetime.fromtimestamp(ts, UTC))


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
    """``7d``, ``30d``, ``90d`` (today included) or ``12m``, ending at the end of today."""
    today = datetime.fromtimestamp(clocks.now() if now is None else now, UTC).date()
    end = _midnight(today + timedelta(days=1))
    if name in ("7d", "30d", "90d"):
        return Period(end - int(name[:-1]) * DAY, end, name)
    if name == "12m":
        month = today.month - 11
        year = today.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        return Period(_midnight(date(year, month, 1)), end, name)
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
