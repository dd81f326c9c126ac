"""Metrics over time: one value per bucket of a grain (day, week, month) and currency.

Buckets are ``date_trunc`` buckets in UTC (weeks start on Monday, as DuckDB's do); the first and
last may be cut by the period. Buckets with no rows are filled: zero for amounts and counts, no
value (``None``) for rates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from flitch.metrics.compute import Queryable, in_currency, params_for, run, value_of
from flitch.metrics.model import Metric, Unit
from flitch.store.results import iso_utc


class Grain(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


#: A point: the bucket's start (ISO 8601, UTC) and its value.
Point = tuple[str, int | float | None]


def truncate(at: datetime, grain: Grain) -> datetime:
    """``date_trunc(grain, at)`` in UTC."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if grain is Grain.DAY:
        return day
    if grain is Grain.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def step(at: datetime, grain: Grain) -> datetime:
    """The start of the bucket after the one starting at ``at``."""
    if grain is Grain.DAY:
        return at + timedelta(days=1)
    if grain is Grain.WEEK:
        return at + timedelta(days=7)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return at.replace(year=year, month=month)


def buckets(start: int, end: int, grain: Grain) -> list[datetime]:
    """The starts of the buckets that ``[start, end)`` touches."""
    out: list[datetime] = []
    at = truncate(datetime.fromtimestamp(start, UTC), grain)
    stop = datetime.fromtimestamp(end, UTC)
    while at < stop:
        out.append(at)
        at = step(at, grain)
    return out


def auto_grain(start: int, end: int) -> Grain:
    """The grain a chart of this period reads best at: days up to ~2 months, weeks up to
    ~6 months, then months."""
    days = (end - start) / 86_400
    if days <= 62:
        return Grain.DAY
    if days <= 190:
        return Grain.WEEK
    return Grain.MONTH


def compute_series(
    source: Queryable,
    metric: Metric,
    start: int,
    end: int,
    grain: Grain,
    currency: str | None = None,
) -> dict[str, list[Point]]:
    """The metric per bucket and currency (currencies sorted; every bucket present), of
    ``currency`` only if given and the metric is per currency."""
    if not metric.series:
        return {}
    sql = in_currency(metric.series, ("bucket",), None if metric.currency_note else currency)
    result = run(source, sql, params_for(sql, start, end, grain.value, currency))
    return series_points(metric, result.rows, start, end, grain)


def series_points(
    metric: Metric, rows: Iterable[Sequence[Any]], start: int, end: int, grain: Grain
) -> dict[str, list[Point]]:
    """``(bucket, currency, value)`` rows as the metric's points per currency (currencies
    sorted; every bucket present, the empty ones filled)."""
    found: dict[str, dict[str, int | float | None]] = {}
    for bucket, currency, raw in rows:
        if currency is None or bucket is None:
            continue
        found.setdefault(str(currency), {})[str(bucket)] = value_of(metric.unit, raw)
    empty: int | None = None if metric.unit is Unit.RATIO else 0
    keys = [iso_utc(b) for b in buckets(start, end, grain)]
    return {
        currency: [(k, values.get(k, empty)) for k in keys]
        for currency, values in sorted(found.items())
    }
