"""A metric of the MRR family split by segment (``Grouping.segment``): a table of the
segment's values per currency, biggest first, each row drilling down to its subscriptions.

One statement (``metrics.segments.segment_sql``) answers every metric of a segment, so charts
showing MRR and churn by the same segment run it once (``Evaluation`` keeps its rows). The JSON
is a grouped chart's (``evaluate``): ``columns`` and ``rows`` (``group``, ``name``,
``currency``, the metric's value, ``drill``), and ``measures`` naming the value, as a pie needs.
"""

from __future__ import annotations

from typing import Any

from flitch.dashboards.explain import drill
from flitch.dashboards.model import Chart
from flitch.dashboards.period import Period
from flitch.metrics.compute import Queryable, params_for, run, value_of
from flitch.metrics.model import Metric
from flitch.metrics.segments import Segment, parse, segment_sql
from flitch.query.reads import DatasetRead


def segment_of(chart: Chart) -> Segment | None:
    return parse(chart.group.segment) if chart.group.segment else None


def segment_reads(chart: Chart) -> list[DatasetRead]:
    """What a segment reads besides its metric's datasets (whole: every customer matters)."""
    segment = segment_of(chart)
    return [DatasetRead(d) for d in segment.datasets] if segment else []


def segment_rows(
    source: Queryable, segment: Segment, period: Period, currency: str | None
) -> list[dict[str, Any]]:
    """Every metric of the segment, per currency and value (of ``currency`` only if given)."""
    sql = segment_sql(segment, currency is not None)
    return run(source, sql, params_for(sql, period.start, period.end, currency=currency)).dicts()


def segment_chart(
    chart: Chart, metric: Metric, segment: Segment, rows: list[dict[str, Any]], period: Period
) -> dict[str, Any]:
    """The chart's JSON from its segment's rows: those with a value of ``metric``, biggest
    first, at most ``chart.limit`` per currency."""
    table: list[dict[str, Any]] = []
    shown: dict[str, int] = {}
    ranked = sorted(
        (r for r in rows if r[metric.name] is not None),
        key=lambda r: (r["currency"], -float(r[metric.name]), str(r["segment"])),
    )
    for row in ranked:
        currency = str(row["currency"])
        shown[currency] = shown.get(currency, 0) + 1
        if shown[currency] > chart.limit:
            continue
        where = f"{metric.drill_where} AND {segment.drill_where(row['segment'])}"
        table.append(
            {
                "group": row["segment"],
                "name": row["name"],
                "currency": currency,
                metric.name: value_of(metric.unit, row[metric.name]),
                "drill": drill(metric.drill_dataset, where, period, currency),
            }
        )
    value = {"name": metric.name, "label": metric.label, "unit": metric.unit.value}
    name = [{"name": "name", "label": "Name", "unit": None}] if segment.named else []
    return {
        "definition": f"{metric.definition} {segment.definition}",
        "segment": {"name": segment.name, "label": segment.label},
        "measures": [{"key": metric.name, "label": metric.label, "unit": metric.unit.value}],
        "columns": [
            {"name": "group", "label": segment.label, "unit": None},
            *name,
            {"name": "currency", "label": "Currency", "unit": None},
            value,
        ],
        "rows": table,
    }
