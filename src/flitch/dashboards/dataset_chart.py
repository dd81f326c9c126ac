"""A chart on a dataset evaluated for a period: a number (with the period before), a series per
currency and measure, or a table of groups, from the statement ``query.build`` writes; and the
change of a number against what it is compared with (every kind of number uses it).

The JSON is the shape ``evaluate`` documents. A chart on a dataset with a currency keeps its
rows apart by currency (``none`` for those without one); with a currency picked its statement
reads that currency's rows only, and a table's limit is per currency, so that one currency's
rows are the same whether or not it is picked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flitch.dashboards import query
from flitch.dashboards.explain import ALL, describe, drill, measure_label
from flitch.dashboards.model import Agg, Chart, ChartType
from flitch.dashboards.period import Period
from flitch.metrics.compute import Queryable, run, value_of
from flitch.metrics.model import Unit
from flitch.metrics.series import Grain, buckets
from flitch.store.results import iso_utc


def change(unit: str, now: int | float | None, before: int | float | None) -> float | None:
    """Relative change (0.1 is +10 %); for rates, the difference in points."""
    if now is None or before is None:
        return None
    if unit == Unit.RATIO.value:
        return round(float(now) - float(before), 6)
    if before == 0:
        return None
    return round((float(now) - float(before)) / abs(float(before)), 6)


def changes(
    unit: str, values: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, float | None] | None:
    """Each value's change against ``previous`` (none there: from zero; a rate: no change)."""
    if previous is None:
        return None
    return {
        k: change(unit, v, previous.get(k, 0 if unit != "ratio" else None))
        for k, v in values.items()
    }


def measure_unit(chart: Chart, i: int) -> str:
    m = chart.measures[i]
    if m.agg is Agg.COUNT:
        return Unit.COUNT.value
    return Unit.MONEY.value if chart.is_money_split else "number"


def _plain(value: Any, unit: str) -> int | float | None:
    if value is None:
        return None
    if unit in (Unit.MONEY.value, Unit.COUNT.value):
        return value_of(Unit.MONEY, value)
    return float(value) if not isinstance(value, int) else value


def _run(
    source: Queryable, q: query.ChartQuery, period: Period, grain: Grain | None
) -> list[dict[str, Any]]:
    params: dict[str, Any] = dict(q.params)
    if "$start" in q.sql:
        params["start"] = datetime.fromtimestamp(period.start, UTC)
        params["end"] = datetime.fromtimestamp(period.end, UTC)
    if grain is not None:
        params["grain"] = grain.value
    return run(source, q.sql, params or None).dicts()


def _number(source: Queryable, chart: Chart, q: query.ChartQuery, period: Period) -> dict[str, Any]:
    rows = _run(source, q, period, None)
    unit = measure_unit(chart, 0)
    return {str(r.get("currency") or ALL): _plain(r["m0"], unit) for r in rows}


def _series(
    chart: Chart, q: query.ChartQuery, rows: list[dict[str, Any]], period: Period, grain: Grain
) -> list[dict[str, Any]]:
    keys = [iso_utc(b) for b in buckets(period.start, period.end, grain)]
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        cur = str(row.get("currency") or ALL)
        for i in range(len(chart.measures)):
            found.setdefault((cur, i), {})[str(row["bucket"])] = row[f"m{i}"]
    out = []
    for (cur, i), points in sorted(found.items()):
        unit = measure_unit(chart, i)
        empty = 0 if chart.measures[i].agg in (Agg.COUNT, Agg.SUM) else None
        out.append(
            {
                "key": f"{cur}:{chart.measures[i].key}",
                "currency": cur,
                "measure": chart.measures[i].key,
                "points": [[k, _plain(points.get(k, empty), unit)] for k in keys],
                "drill": drill(
                    str(chart.dataset), q.where, period, cur, time_column=chart.time_column
                ),
            }
        )
    return out


def _table(
    chart: Chart, q: query.ChartQuery, rows: list[dict[str, Any]], period: Period
) -> list[dict[str, Any]]:
    units = [measure_unit(chart, i) for i in range(len(chart.measures))]
    table = []
    shown: dict[str | None, int] = {}
    for row in rows:
        cur = row.get("currency")
        # the limit is per currency (of this chart's own rows: not of whichever charts ran
        # first), so that one currency's rows are the same whether or not it is picked
        shown[cur] = shown.get(cur, 0) + 1
        if shown[cur] > chart.limit:
            continue
        where = q.where
        if chart.group.column:
            col = chart.group.column
            value = row["grp"]
            cond = f"{col} IS NULL" if value is None else f"{col} = {query.literal(value)}"
            where = f"{where} AND {cond}"
        entry = {
            "group": row.get("grp"),
            "currency": cur,
            **{m.key: _plain(row[f"m{i}"], units[i]) for i, m in enumerate(chart.measures)},
        }
        entry["drill"] = drill(str(chart.dataset), where, period, cur)
        table.append(entry)
    return table


def dataset_chart(
    source: Queryable, chart: Chart, period: Period, grain: Grain | None, currency: str | None
) -> dict[str, Any]:
    """The chart's JSON for ``period`` (``grain``: its series', when grouped by time), of
    ``currency``'s rows only if given."""
    q = query.build(chart, currency)
    units = [measure_unit(chart, i) for i in range(len(chart.measures))]
    measures = [
        {"key": m.key, "label": measure_label(m.agg, m.column), "unit": units[i]}
        for i, m in enumerate(chart.measures)
    ]
    out: dict[str, Any] = {
        "dataset": chart.dataset,
        "definition": describe(chart),
        "measures": measures,
    }
    if chart.type is ChartType.NUMBER and not chart.group.grain and not chart.group.column:
        values = _number(source, chart, q, period)
        previous = None if chart.whole else _number(source, chart, q, period.previous)
        out.update(
            unit=units[0],
            values=values,
            previous=previous,
            change=changes(units[0], values, previous),
            drill={k: drill(str(chart.dataset), q.where, period, k) for k in values},
        )
        return out
    rows = _run(source, q, period, grain if chart.group.grain else None)
    if chart.group.grain and grain is not None:
        out["grain"] = grain.value
        out["series"] = _series(chart, q, rows, period, grain)
        return out
    out["columns"] = [
        {"name": "group", "label": chart.group.column or "", "unit": None},
        *(
            [{"name": "currency", "label": "Currency", "unit": None}]
            if q.keys[-1:] == ("currency",)
            else []
        ),
        *({"name": m["key"], "label": m["label"], "unit": m["unit"]} for m in measures),
    ]
    out["rows"] = _table(chart, q, rows, period)
    return out
