"""What a dashboard reads, and the order its charts are drawn in.

``plan_reads`` says what a live load must fetch for a dashboard: each Stripe list once, narrowed
to the period wherever its metrics allow. ``draw_order`` starts the slowest charts first when
several are evaluated at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

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
    """One read per dataset covering every chart (each Stripe list is read once per load).

    When that would leave no chart to draw before a list is read whole (every chart needs
    some list's whole history), the reads of the charts that need only narrow ones (a status,
    a period) are made too, ``early``: a few pages more, and the first chart does not wait
    for the account's size."""
    wanted = [chart_reads(chart, period) for chart in charts]
    merged = merge(r for reads in wanted for r in reads)
    by_dataset = {r.dataset: r for r in merged}
    if any(reads and all(by_dataset[r.dataset].bounded for r in reads) for reads in wanted):
        return merged
    early = [
        replace(r, early=True)
        for reads in wanted
        if reads and all(r.bounded for r in reads)
        for r in reads
    ]
    return merged + merge(early)


def ready(needs: Iterable[DatasetRead], arrived: Iterable[DatasetRead]) -> bool:
    """True when every read of ``needs`` is covered by a read that has arrived."""
    done = list(arrived)
    return all(any(a.covers(need) for a in done) for need in needs)


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


def _family(chart: Chart, charts: Sequence[Chart]) -> list[Chart]:
    """``chart``, and every chart of ``charts`` in its metric's family (whose statement it
    runs or waits on)."""
    metric = METRICS.get(chart.metric or "")
    if metric is None or metric.family is None:
        return [chart]
    kin = [o for o in charts if (m := METRICS.get(o.metric or "")) and m.family == metric.family]
    return [chart, *kin]


def chart_needs(chart: Chart, charts: Sequence[Chart]) -> frozenset[str]:
    """The datasets that must be queryable before ``chart`` can be drawn: its own, and those
    of its family (``_family``)."""
    return frozenset(d for c in _family(chart, charts) for d in chart_datasets(c))


def chart_waits(chart: Chart, charts: Sequence[Chart], period: Period) -> tuple[DatasetRead, ...]:
    """The reads that must be in before ``chart`` can be drawn (``ready``): its own and its
    family's, as each chart asks for them (any read of the load that covers one will do)."""
    return tuple(r for c in _family(chart, charts) for r in chart_reads(c, period))


def first_order(charts: Sequence[Chart]) -> list[Chart]:
    """The order charts whose data is in are started when several are: numbers first (one
    statement each, and what a reader looks at first), the others as ``draw_order`` says."""
    ordered = draw_order(charts)
    return sorted(ordered, key=lambda chart: chart.type is not ChartType.NUMBER)
