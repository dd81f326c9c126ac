"""How a dashboard's numbers explain themselves: the rows behind each one, and, for a chart on
a dataset, what it shows in words — written for each built-in chart, made from its parts for
the others ("Charges created in the period whose status is failed, by failure code, per
currency: how many and the total amount"), never the query read aloud.

A drill-down is ``{"dataset", "where"}``: the rows behind the number are
``SELECT * FROM <dataset> WHERE <where>``, with the period written out (``written``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flitch import catalog
from flitch.dashboards.builtin import DESCRIPTIONS, content_key
from flitch.dashboards.model import Agg, Chart, Filter, Measure, Op
from flitch.dashboards.period import Period
from flitch.metrics.model import ALL, NO_CURRENCY, sql_text

__all__ = ["ALL", "NO_CURRENCY", "describe", "drill", "measure_label", "words", "written"]


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


def words(column: str) -> str:
    """A column's name as words: ``failure_code`` reads "failure code"."""
    return column.replace("_", " ")


def measure_label(agg: Agg, column: str | None) -> str:
    if agg is Agg.COUNT:
        return "Count" if column is None else f"Count of {words(column)}"
    return {"sum": "Total", "avg": "Average", "min": "Smallest", "max": "Largest"}[
        agg.value
    ] + f" {words(column or '')}"


#: Each filter operator as words, between the column and its value.
_OPS = {
    Op.EQ: "is",
    Op.NE: "is not",
    Op.IN: "is",
    Op.NOT_IN: "is neither",
    Op.GT: "is above",
    Op.GTE: "is at least",
    Op.LT: "is below",
    Op.LTE: "is at most",
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _one_of(values: tuple[Any, ...] | list[Any], last: str) -> str:
    shown = [_value(v) for v in values]
    if len(shown) < 2:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} {last} {shown[-1]}"


def _filter_words(f: Filter) -> str:
    """A filter as a phrase: "status is failed", "amount is at least 100", "no customer"."""
    column = words(f.column)
    if f.op is Op.IS_NULL:
        return f"no {column}"
    if f.op is Op.NOT_NULL:
        return f"a {column}"
    if f.op in (Op.IN, Op.NOT_IN):
        values = f.value if isinstance(f.value, tuple | list) else (f.value,)
        last = "or" if f.op is Op.IN else "nor"
        return f"{column} {_OPS[f.op]} {_one_of(values, last)}"
    return f"{column} {_OPS[f.op]} {_value(f.value)}"


def _measure_words(m: Measure) -> str:
    if m.agg is Agg.COUNT:
        return "how many" if m.column is None else f"how many have a {words(m.column)}"
    name = {"sum": "the total", "avg": "the average", "min": "the smallest", "max": "the largest"}
    return f"{name[m.agg.value]} {words(m.column or '')}"


def _with(conds: list[str]) -> str:
    """Filters as a clause: those with a value ("whose status is failed") and those with or
    without a column ("with no customer")."""
    having = [c for c in conds if c.startswith(("no ", "a "))]
    whose = [c for c in conds if c not in having]
    parts = []
    if whose:
        parts.append("whose " + " and ".join(whose))
    if having:
        parts.append("with " + " and ".join(having))
    return ", ".join(parts)


def describe(chart: Chart) -> str:
    """What a dataset chart shows, in a sentence: the built-in charts' own (found by what they
    count, so an unchanged copy keeps it), else one made from its parts in plain words."""
    written = DESCRIPTIONS.get(content_key(chart))
    if written is not None:
        return written
    dataset = catalog.get(str(chart.dataset)).label.lower()
    if chart.whole:
        sentence = f"All {dataset}"
    else:
        sentence = f"{dataset.capitalize()} {words(chart.time_column)} in the period"
    if chart.filters:
        sentence += " " + _with([_filter_words(f) for f in chart.filters])
    if chart.whole:
        sentence += ", as they are now whatever the period"
    if chart.group.column:
        sentence += f", by {words(chart.group.column)}"
    elif chart.group.grain:
        sentence += f", by {chart.group.grain.value}"
    if chart.by_currency:
        sentence += ", per currency"
    measures = [_measure_words(m) for m in chart.measures]
    if measures:
        sentence += ": " + (_one_of(measures, "and") if len(measures) > 1 else measures[0])
    return sentence + "."
