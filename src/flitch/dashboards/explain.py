"""How a dashboard's numbers explain themselves: the rows behind each one, and, for a chart on
a dataset, its definition in words.

A drill-down is ``{"dataset", "where"}``: the rows behind the number are
``SELECT * FROM <dataset> WHERE <where>``, with the period written out (``written``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flitch.dashboards import query
from flitch.dashboards.model import Agg, Chart, Filter
from flitch.dashboards.period import Period
from flitch.metrics.model import ALL, NO_CURRENCY, sql_text

__all__ = ["ALL", "NO_CURRENCY", "describe", "drill", "measure_label", "written"]


def _ts(ts: int) -> str:
    return f"TIMESTAMPTZ '{datetime.fromtimestamp(ts, UTC).strftime('%Y-%m-%d %H:%M:%S')}+00'"


def written(where: str, period: Period, grain: str | None = None) -> str:
    """A condition with its parameters written out, ready for the dataset page."""
    text = where.replace("$start", _ts(period.start)).replace("$end", _ts(period.end))
    return text.replace("$grain", sql_text(grain or "day"))


def drill(
    dataset: str, where: str, period: Period, currency: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The rows behind a number: those of ``where`` over ``period``, of ``currency`` if given
    (``none``: those with no currency; ``all``: every currency)."""
    cond = written(where, period)
    if currency and currency != ALL:
        mine = "currency IS NULL" if currency == NO_CURRENCY else f"currency = {sql_text(currency)}"
        cond = f"{cond} AND {mine}" if cond else mine
    return {"dataset": dataset, "where": cond, **extra}


def measure_label(agg: Agg, column: str | None) -> str:
    if agg is Agg.COUNT:
        return "Count" if column is None else f"Count of {column}"
    return {"sum": "Total", "avg": "Average", "min": "Smallest", "max": "Largest"}[
        agg.value
    ] + f" {column}"


def _filter_words(f: Filter) -> str:
    words = f"{f.column} {f.op.value.replace('_', ' ')}"
    if f.value is None:
        return words
    if isinstance(f.value, tuple):
        return f"{words} {', '.join(query.literal(v) for v in f.value)}"
    return f"{words} {query.literal(f.value)}"


def describe(chart: Chart) -> str:
    """A definition for a dataset chart, in words."""
    what = ", ".join(measure_label(m.agg, m.column).lower() for m in chart.measures)
    scope = (
        "all of them, whatever the period"
        if chart.whole
        else f"those with {chart.time_column} in the period"
    )
    parts = [f"{what.capitalize()} of {chart.dataset} ({scope})"]
    if chart.filters:
        conds = " and ".join(_filter_words(f) for f in chart.filters)
        parts.append(f"where {conds}")
    if chart.group.column:
        parts.append(f"by {chart.group.column}")
    if chart.by_currency:
        parts.append("per currency")
    return " ".join(parts) + "."
