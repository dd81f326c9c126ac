"""Drill-downs: from a number on a dashboard to the dataset rows it was computed from.

The browser never sends SQL. It names what was clicked — the dashboard, the chart's id, the
period, the currency, the bucket of a series point, the label cells of a table row — and the
condition is looked up here, from the same chart definition and metric registry the number came
from (:mod:`flitch.dashboards.explain` writes the same condition into the dashboard's JSON). The
values it names only ever become quoted SQL literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flitch import catalog
from flitch.dashboards import query
from flitch.dashboards.explain import ALL, describe, drill
from flitch.dashboards.model import Chart, Dashboard
from flitch.dashboards.period import Period
from flitch.dashboards.segment_chart import segment_of, segment_reads
from flitch.errors import InputError, NotFound
from flitch.metrics import BY_NAME as METRICS
from flitch.metrics import REPORTS_BY_NAME as REPORTS
from flitch.metrics.series import Grain, step, truncate
from flitch.query.reads import DatasetRead, merge
from flitch.store.results import iso_utc
from flitch.store.schema import quote_ident

#: Longest text value a row key may carry (ids, emails, names).
MAX_VALUE = 500
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class DrillRef:
    """What was clicked, as the browser names it."""

    dashboard: str
    chart: str
    start: int
    end: int
    currency: str | None = None
    #: The start of a series point's bucket (Unix seconds), and its grain.
    bucket: int | None = None
    grain: Grain | None = None
    #: A table row's label cells (a column grouping's ``group``, a report's key columns).
    row: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Drill:
    """The rows behind a number: the dataset, the condition (values written out), and what a
    page needs to say what they are."""

    dataset: str
    where: str
    reads: tuple[DatasetRead, ...]
    chart_title: str
    label: str
    definition: str
    period: Period
    currency: str | None
    bucket: tuple[str, str] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "where": self.where,
            "chart": self.chart_title,
            "label": self.label,
            "definition": self.definition,
            "period_start": iso_utc(datetime.fromtimestamp(self.period.start, UTC)),
            "period_end": iso_utc(datetime.fromtimestamp(self.period.end, UTC)),
            "currency": self.currency,
            "bucket_start": self.bucket[0] if self.bucket else None,
            "bucket_end": self.bucket[1] if self.bucket else None,
        }


def find_chart(board: Dashboard, chart_id: str) -> Chart:
    for chart in board.charts:
        if chart.id == chart_id:
            return chart
    raise NotFound(
        f"The dashboard {board.name!r} has no chart {chart_id!r}.",
        "Open the dashboard again and follow the link from the chart as it is now.",
    )


def _check_row(row: Mapping[str, Any]) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    for key, value in row.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise InputError(
                f"The row value of {key!r} is not a plain value.",
                "Follow the drill-down link from the dashboard as it is.",
            )
        if isinstance(value, str) and len(value) > MAX_VALUE:
            raise InputError(f"The row value of {key!r} is too long.", "Shorten it.")
        out[str(key)] = value
    return out


def _bucket(ref: DrillRef) -> tuple[datetime, datetime] | None:
    """The clicked series point's bucket: its start and end."""
    if ref.bucket is None:
        return None
    grain = ref.grain or Grain.DAY
    start = truncate(datetime.fromtimestamp(ref.bucket, UTC), grain)
    return start, step(start, grain)


def _window(time_column: str, bucket: tuple[datetime, datetime]) -> str:
    """The condition putting rows in the clicked bucket."""
    low, high = (f"TIMESTAMPTZ '{t.strftime('%Y-%m-%d %H:%M:%S')}+00'" for t in bucket)
    return f"({time_column}) >= {low} AND ({time_column}) < {high}"


def _rolling(days: int, bucket: tuple[datetime, datetime], period: Period) -> Period:
    """A rolling metric's point: the ``days`` ending with its bucket (cut to the period)."""
    end = min(int(bucket[1].timestamp()), period.end)
    return Period(end - days * 86_400, end)


def resolve(board: Dashboard, ref: DrillRef) -> Drill:
    """The rows behind what ``ref`` names on ``board`` (``NotFound`` for a chart it lacks)."""
    chart = find_chart(board, ref.chart)
    period = Period(ref.start, ref.end)
    row = _check_row(ref.row)
    currency = ref.currency.lower() if ref.currency and ref.currency != ALL else None
    bucket = _bucket(ref)
    rolling: Period | None = None
    if chart.metric in REPORTS:
        report = REPORTS[str(chart.metric)]
        keys = {c.name for c in report.columns if c.unit is None}
        dataset, where = report.drill({k: v for k, v in row.items() if k in keys})
        found = drill(dataset, where, period)
        if row.get("currency") not in (None, ALL):
            currency = str(row["currency"])
        reads = report.reads(period.start, period.end)
        label, definition, time_column = report.label, report.definition, "created"
    elif chart.metric:
        metric = METRICS[chart.metric]
        dataset = metric.drill_dataset
        if metric.rolling_days and bucket is not None:
            # a point of a rolling metric: the metric's rows over the days ending with its
            # bucket (the metric over that window), not the rows in the bucket
            rolling = _rolling(metric.rolling_days, bucket, period)
        where = metric.drill_where
        segment = segment_of(chart)
        if segment is not None and "group" in row:
            # a segment's row: the metric's subscriptions in that segment
            value = row["group"]
            where = f"{where} AND {segment.drill_where(None if value is None else str(value))}"
            if row.get("currency") not in (None, ALL):
                currency = str(row["currency"]).lower()
        found = drill(dataset, where, rolling or period, currency)
        reads = metric.reads((rolling or period).start, (rolling or period).end)
        reads += segment_reads(chart)
        label, definition, time_column = metric.label, metric.definition, metric.time_column
        if segment is not None:
            definition = f"{definition} {segment.definition}"
    else:
        dataset = str(chart.dataset)
        where = query.build(chart).where
        if chart.group.column and "group" in row:
            value = row["group"]
            col = chart.group.column
            cond = f"{col} IS NULL" if value is None else f"{col} = {query.literal(value)}"
            where = f"{where} AND {cond}"
        if chart.by_currency and row.get("currency"):
            currency = str(row["currency"]).lower()
        found = drill(dataset, where, period, currency)
        reads = query.reads(chart, period.start, period.end)
        label, definition = chart.title, describe(chart)
        time_column = quote_ident(chart.time_column)
    where = str(found["where"])
    shown: tuple[str, str] | None = None
    if rolling is not None:
        start, end = (datetime.fromtimestamp(t, UTC) for t in (rolling.start, rolling.end))
        shown = (iso_utc(start), iso_utc(end))
    elif bucket is not None:
        where = f"{where} AND {_window(time_column, bucket)}"
        shown = (iso_utc(bucket[0]), iso_utc(bucket[1]))
    catalog.get(dataset)  # the drill always names a dataset of the catalog
    # what a segment's condition reads besides the dataset (its customers, their charges)
    segment = segment_of(chart) if chart.metric else None
    also = set(segment.datasets) if segment is not None else set()
    return Drill(
        dataset=dataset,
        where=where,
        reads=tuple(merge(r for r in reads if r.dataset == dataset or r.dataset in also)),
        chart_title=chart.title,
        label=label,
        definition=definition,
        period=period,
        currency=currency,
        bucket=shown,
    )
