"""What a dashboard reads, and the order its charts are drawn in.

``plan_reads`` says what a live load must fetch for a dashboard: each Stripe list once, narrowed
to the period wherever its metrics allow. ``draw_order`` starts the slowest charts first when
several are evaluated at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flitch.dashboards import query
from flitch.dashboards.model import TIME_TYPES, Chart, ChartType
from flitch.dashboards.period import Period
from flitch.dashboards.segment_chart import segment_of, segment_reads
from flitch.metrics import BY_NAME as METRICS
from flitch.metrics import REPORTS_BY_NAME as REPORTS
from flitch.metrics.model import Metric, Report
from flitch.query.reads import DatasetRead, merge


def chart_datasets(chart: Chart) -> tuple[str, ...]:
    if chart.dataset:
        return (chart.dataset,)
    item = METRICS.get(str(chart.metric)) or REPORTS[str(chart.metric)]
    segment = segment_of(chart)
    return item.datasets + (segment.datasets if segment else ())


def chart_reads(chart: Chart, period: Period) -> list[DatasetRead]:
    """A chart's reads: numbers also cover the previous period, to compare with it."""
    start = period.previous.start if chart.type is ChartType.NUMBER else period.start
    if chart.dataset:
        return query.reads(chart, start, period.end)
    item: Metric | Report = METRICS.get(str(chart.metric)) or REPORTS[str(chart.metric)]
    return item.reads(start, period.end) + segment_reads(chart)


def plan_reads(charts: Iterable[Chart], period: Period) -> list[DatasetRead]:
    """One read per dataset covering every chart (each Stripe list is read once per load)."""
    return merge(r for chart in charts for r in chart_reads(chart, period))


def _weight(chart: Chart) -> int:
    """The order charts start in: the slowest kinds first, so no long statement is left to run
    alone at the end (reports, then metrics over every subscription, then series, the rest)."""
    if chart.metric in REPORTS:
        return 0
    metric = METRICS.get(chart.metric or "")
    if metric is not None and (metric.family is not None or not metric.ranged):
        return 1
    return 2 if chart.type in TIME_TYPES else 3


def draw_order(charts: Sequence[Chart]) -> list[Chart]:
    """Charts by ``_weight``; the charts of a family after its first one go last (they wait
    for its statement, which the first one runs, and would hold a worker meanwhile)."""
    first: set[str] = set()
    keyed = []
    for chart in charts:
        metric = METRICS.get(chart.metric or "")
        family = metric.family.name if metric is not None and metric.family else None
        later = family is not None and family in first
        if family is not None:
            first.add(family)
        keyed.append((4 if later else _weight(chart), chart))
    return [chart for _, chart in sorted(keyed, key=lambda item: item[0])]


def chart_needs(chart: Chart, charts: Sequence[Chart]) -> frozenset[str]:
    """The datasets that must be queryable before ``chart`` can be drawn: its own, and those
    of every chart of ``charts`` in its metric's family (whose statement it runs or waits on)."""
    needs = set(chart_datasets(chart))
    metric = METRICS.get(chart.metric or "")
    if metric is not None and metric.family is not None:
        for other in charts:
            theirs = METRICS.get(other.metric or "")
            if theirs is not None and theirs.family == metric.family:
                needs.update(theirs.datasets)
    return frozenset(needs)


def first_order(charts: Sequence[Chart]) -> list[Chart]:
    """The order charts whose data is in are started when several are: numbers first (one
    statement each, and what a reader looks at first), the others as ``draw_order`` says."""
    ordered = draw_order(charts)
    return sorted(ordered, key=lambda chart: chart.type is not ChartType.NUMBER)
