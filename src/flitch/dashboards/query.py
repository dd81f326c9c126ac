"""SQL for charts built on a dataset: measures, grouping, filters, the period.

Column names come from the catalog (``Chart.check`` refuses any other), and filter values are
bound as parameters, so a user's chart can never inject SQL. The same statement runs live and
on the cache. Its drill-down is the same condition with the values written out.

A chart on a dataset with a currency is grouped by it too (``none`` for rows without one); for
one currency, its statement reads only that currency's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flitch import catalog
from flitch.dashboards.model import Agg, Chart, Filter, Op
from flitch.metrics.model import currency_key, sql_text
from flitch.query.reads import DatasetRead, filter_param, stripe_value
from flitch.store.schema import quote_ident

_OPS = {Op.EQ: "=", Op.NE: "<>", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


@dataclass(frozen=True)
class ChartQuery:
    sql: str
    params: dict[str, Any]
    #: The condition selecting the rows behind the chart, with ``$start``/``$end`` left in.
    where: str
    #: The result's key columns before the measures: ``bucket``/``grp`` and ``currency``.
    keys: tuple[str, ...]


def literal(value: Any) -> str:
    """A value as a SQL literal (for drill-down conditions shown to people)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return sql_text(str(value))


def _condition(f: Filter, n: int, params: dict[str, Any] | None) -> str:
    """One filter as SQL: bound as ``$f<n>`` when ``params`` is given, else written out."""
    col = quote_ident(f.column)

    def bind(value: Any, i: int | str = "") -> str:
        if params is None:
            return literal(value)
        name = f"f{n}{'_' + str(i) if i != '' else ''}"
        params[name] = value
        return f"${name}"

    if f.op is Op.IS_NULL:
        return f"{col} IS NULL"
    if f.op is Op.NOT_NULL:
        return f"{col} IS NOT NULL"
    if f.op in (Op.IN, Op.NOT_IN):
        values = list(f.value or ())
        if not values:
            return "false" if f.op is Op.IN else "true"
        inside = ", ".join(bind(v, i) for i, v in enumerate(values))
        return f"{col} {'IN' if f.op is Op.IN else 'NOT IN'} ({inside})"
    return f"{col} {_OPS[f.op]} {bind(f.value)}"


def where(chart: Chart, params: dict[str, Any] | None) -> str:
    parts = [_condition(f, n, params) for n, f in enumerate(chart.filters)]
    if not chart.whole:
        t = quote_ident(chart.time_column)
        parts.append(f"{t} >= $start AND {t} < $end")
    return " AND ".join(parts) or "true"


def measure_sql(agg: Agg, column: str | None) -> str:
    if column is None:
        return "count(*)"
    return f"{agg.value}({quote_ident(column)})"


def build(chart: Chart, currency: str | None = None) -> ChartQuery:
    """The statement for a dataset chart (checked beforehand with ``Chart.check``), over the
    rows of ``currency`` only if given and the chart is per currency."""
    params: dict[str, Any] = {}
    cond = where(chart, params)
    if currency is not None and chart.by_currency:
        cond = f"{cond} AND currency = $currency"
        params["currency"] = currency
    keys: list[str] = []
    select: list[str] = []
    if chart.group.grain:
        select.append(f"date_trunc($grain, {quote_ident(chart.time_column)}) AS bucket")
        keys.append("bucket")
    elif chart.group.column:
        select.append(f"{quote_ident(chart.group.column)} AS grp")
        keys.append("grp")
    if chart.by_currency:
        select.append(f"{currency_key()} AS currency")
        keys.append("currency")
    select += [f"{measure_sql(m.agg, m.column)} AS m{i}" for i, m in enumerate(chart.measures)]
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    order = ""
    if chart.group.column:
        # every key last, so that rows of equal measure always come in the same order
        order = " ORDER BY m0 DESC NULLS LAST, " + ", ".join(f"{k} NULLS LAST" for k in keys)
    elif keys:
        order = " ORDER BY " + ", ".join(keys)
    table = quote_ident(str(chart.dataset))
    sql = f"SELECT {', '.join(select)} FROM {table} WHERE {cond}{group}{order}"  # noqa: S608
    return ChartQuery(sql=sql, params=params, where=where(chart, None), keys=tuple(keys))


def reads(chart: Chart, start: int, end: int) -> list[DatasetRead]:
    """What a live load fetches for a dataset chart: narrowed by created when the period is on
    created, and by any equality filter Stripe can apply."""
    spec = catalog.get(str(chart.dataset))
    pushed: list[tuple[str, str]] = []
    for f in chart.filters:
        param = filter_param(spec, f.column)
        if param is not None and f.op is Op.EQ and f.value is not None:
            pushed.append((param, stripe_value(f.value)))
    if chart.whole or chart.time_column != "created":
        return [DatasetRead(spec.name, filters=tuple(pushed))]
    return [DatasetRead(spec.name, created_gte=start, created_lt=end, filters=tuple(pushed))]
