"""Evaluate metrics and reports over a connection's datasets for a period ``[start, end)``.

The same functions run over a live load (an in-memory DuckDB of just-fetched pages) and over
the cache, so a metric has one value whichever way it was read.

For one currency, a statement is scoped by ``in_currency``: its rows of that currency, exactly
those it gives for all currencies (DuckDB takes the condition down to the tables it reads where
it can, so less is computed). A report's rows are kept once shaped (``compute_report``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from flitch.metrics.derived import with_derived
from flitch.metrics.model import Metric, Report, Unit
from flitch.query.reads import DatasetRead
from flitch.store.base import QueryResult


class Queryable(Protocol):
    def query(
        self, sql: str, params: Any = None, *, max_rows: int | None = None
    ) -> QueryResult: ...

    def has_table(self, name: str) -> bool: ...


def run(source: Queryable, sql: str, params: Any = None) -> QueryResult:
    """Run one of the metrics' statements. The derived tables it reads (``derived``) that
    ``source`` does not hold come as ``WITH`` clauses of the statement: the same rows, computed
    for it."""
    return source.query(with_derived(sql, source.has_table), params)


@dataclass(frozen=True)
class MetricValues:
    """One metric's value per currency (``"all"`` for metrics without one)."""

    metric: Metric
    values: dict[str, int | float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.metric.label,
            "unit": self.metric.unit.value,
            "definition": self.metric.definition,
            "values": self.values,
        }


def reads_for(items: Iterable[Metric | Report], start: int, end: int) -> list[DatasetRead]:
    """What a live load must fetch: each metric's reads (narrowed where it allows)."""
    reads: list[DatasetRead] = []
    for item in items:
        reads.extend(item.reads(start, end))
    return reads


def period_params(start: int, end: int) -> dict[str, datetime]:
    return {
        "start": datetime.fromtimestamp(start, UTC),
        "end": datetime.fromtimestamp(end, UTC),
    }


def params_for(
    sql: str, start: int, end: int, grain: str | None = None, currency: str | None = None
) -> dict[str, Any] | None:
    """The parameters ``sql`` uses, out of ``$start``, ``$end``, ``$grain`` (NULL when not
    given: a family's statement then leaves its series out) and ``$currency``."""
    given: dict[str, Any] = dict(period_params(start, end))
    given["grain"] = grain
    given["currency"] = currency
    used = {k: v for k, v in given.items() if f"${k}" in sql}
    return used or None


def in_currency(sql: str, before: tuple[str, ...], currency: str | None) -> str:
    """``sql`` keeping only its rows of ``currency`` (bound as ``$currency``); ``before``
    names the columns ahead of its currency key (a metric's ``()``, a series' ``("bucket",)``,
    a family's ``("part", "bucket")``). Without a currency, ``sql`` itself."""
    if currency is None:
        return sql
    names = ", ".join((*before, "key"))
    return f"SELECT * FROM (\n{sql}\n) AS scoped({names}) WHERE key = $currency"  # noqa: S608


def value_of(unit: Unit, raw: Any) -> int | float | None:
    """A value as shown: money and counts whole, ratios as they are; no rate of nothing."""
    if raw is None:
        return None if unit is Unit.RATIO else 0
    if unit is Unit.RATIO:
        return float(raw)
    return round(float(raw))


def _values(
    source: Queryable, metric: Metric, sql: str, start: int, end: int, currency: str | None
) -> MetricValues:
    sql = in_currency(sql, (), currency if not metric.currency_note else None)
    result = run(source, sql, params_for(sql, start, end, currency=currency))
    values: dict[str, int | float] = {}
    for row in result.rows:
        value = value_of(metric.unit, row[1])
        if row[0] is not None and value is not None:
            values[str(row[0])] = value
    return MetricValues(metric, dict(sorted(values.items())))


def compute(
    source: Queryable,
    metrics: Sequence[Metric],
    start: int,
    end: int,
    currency: str | None = None,
) -> dict[str, MetricValues]:
    """Each metric's values for ``[start, end)`` (Unix seconds), of ``currency`` only if
    given (a metric that is not per currency: all of it)."""
    return {m.name: _values(source, m, m.sql, start, end, currency) for m in metrics}


def compute_previous(
    source: Queryable,
    metrics: Sequence[Metric],
    start: int,
    end: int,
    currency: str | None = None,
) -> dict[str, MetricValues | None]:
    """What each metric's values for ``[start, end)`` are compared with: its values over the
    period of the same length before, or, for a present-day metric, its value at ``start``
    (``None`` when it has no comparison)."""
    out: dict[str, MetricValues | None] = {}
    for m in metrics:
        if not m.current:
            out[m.name] = _values(source, m, m.sql, start - (end - start), start, currency)
        elif m.previous_sql:
            out[m.name] = _values(source, m, m.previous_sql, start, end, currency)
        else:
            out[m.name] = None
    return out


def compute_report(
    source: Queryable,
    report: Report,
    start: int,
    end: int,
    grain: str = "month",
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """A report's rows for ``[start, end)`` (``grain`` matters to reports over time), of
    ``currency`` only if given: kept once shaped, since shaping may look across currencies
    (the movements waterfall starts at the period's first snapshot of any of them)."""
    result = run(source, report.sql, params_for(report.sql, start, end, grain))
    rows = result.dicts()
    shaped = report.reshape(rows) if report.reshape is not None else rows
    if currency is None:
        return shaped
    return [row for row in shaped if row.get("currency") == currency]
