"""A dashboard evaluated over a connection's datasets for a period, as JSON a page can draw.

``evaluate(source, dashboard, period)`` runs over anything that answers SQL — a live load, the
cache, in-memory datasets — so the numbers are the same whichever way the data was read.
``plan.plan_reads`` says what a live load must fetch for it (each list once, narrowed where
the metrics allow). Charts are evaluated a few at a time (``WORKERS``); the JSON is the same
whatever order they finish in. The top level has ``metrics`` (each headline metric's values),
``metrics_previous`` and ``metrics_change`` (what they are compared with, and the change); per
chart:

- every chart: ``per_currency`` and, when it is not, ``currency_note`` (why; ``None`` when it
  is). A chart per currency keys its values, series and rows by currency (``none``: records with
  no currency, such as customers not billed yet); picked one currency, it shows exactly its part
  of what all currencies show (each statement reads only that currency's rows). One that is not
  per currency shows the same whichever currency is picked, under the key ``all``;
- ``number``: ``values`` (per currency), ``previous`` and
  ``change`` against what ``compare`` says: ``previous_period`` (the period before, of the
  same length), ``start`` (a present-day value like MRR: its value at the period's start,
  rebuilt from subscription history), or ``None`` (nothing to compare with: both ``None``),
  and a ``drill`` per currency;
- over time (``line``, ``bar``, ``area`` with a grain): ``series``, one per currency (and
  measure), of ``[bucket start, value]`` points, every bucket present;
- grouped by a column, and reports (``table``, ``pie``, ``waterfall``): ``columns`` and
  ``rows``, each row with its ``drill``.

A drill-down (``explain``) is ``{"dataset", "where"}``: the rows behind the number are
``SELECT * FROM <dataset> WHERE <where>``. For a series point add
``<time_column> >= <bucket> AND <time_column> < <next bucket>``; for a point of a rolling
metric (``window_days``), the same condition over the days ending with the point's bucket.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from flitch.dashboards.dataset_chart import changes, dataset_chart
from flitch.dashboards.explain import ALL, NO_CURRENCY, drill
from flitch.dashboards.model import TIME_TYPES, Chart, ChartType, Dashboard
from flitch.dashboards.period import Period
from flitch.dashboards.plan import chart_datasets, draw_order
from flitch.dashboards.segment_chart import segment_chart, segment_of, segment_rows
from flitch.errors import InputError
from flitch.metrics import BY_NAME as METRICS
from flitch.metrics import REPORTS_BY_NAME as REPORTS
from flitch.metrics.compute import (
    Queryable,
    compute_report,
    in_currency,
    params_for,
    run,
    value_of,
)
from flitch.metrics.model import (
    PERIOD_PART,
    PREVIOUS_PART,
    SERIES_PART,
    Family,
    Metric,
    Report,
    Unit,
)
from flitch.metrics.segments import Segment
from flitch.metrics.series import Grain, Point, auto_grain, compute_series, series_points

#: Charts evaluated side by side: most statements of a dashboard read tables of one or a few
#: DuckDB row groups, so each runs on about one core; a few at once keep every core busy.
WORKERS = min(4, os.cpu_count() or 2)


# -- numbers -------------------------------------------------------------------------------------
def _unit(name: str) -> Unit:
    member = METRICS.get(name)
    return member.unit if member is not None else Unit.COUNT


def _values_of(unit: Unit, rows: Iterable[Sequence[Any]]) -> dict[str, int | float]:
    """``(key, raw value)`` rows as values by key, sorted (rows without a value left out)."""
    values: dict[str, int | float] = {}
    for key, raw in rows:
        value = value_of(unit, raw)
        if key is not None and value is not None:
            values[str(key)] = value
    return dict(sorted(values.items()))


def pick_currency(text: str | None) -> str | None:
    """The currency picked (lowercase), or ``None`` for all of them (``all``, or nothing)."""
    if text is None or not text.strip() or text.strip().lower() == ALL:
        return None
    code = text.strip().lower()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InputError(
            f"{text!r} is not a currency.",
            "Give a three-letter currency code such as usd, or all.",
        )
    return code


class Evaluation:
    """Evaluates the charts of one dashboard over one source and period, computing each
    metric once however many charts show it.

    With a currency picked, ``scope`` decides for every chart whether its statements follow
    it (charts per currency) or not; each then reads only that currency's rows: a metric's or
    family's statement through ``compute.in_currency``, a dataset chart's with ``currency =
    $currency`` in its condition, a report's rows kept once shaped."""

    def __init__(
        self, source: Queryable, period: Period, grain: Grain | None, currency: str | None
    ) -> None:
        self.source = source
        self.period = period
        self.grain = grain or auto_grain(period.start, period.end)
        self.currency = pick_currency(currency)
        #: values by ``("<metric> <part>", start, end)``
        self._memo: dict[tuple[str, int, int], dict[str, int | float]] = {}
        #: a family member's series rows by ``(metric, grain, start, end)``
        self._series_rows: dict[tuple[str, str, int, int], list[tuple[Any, Any, Any]]] = {}
        #: the grain a family's statement runs with (its members' series charts'), by name
        self.family_grains: dict[str, Grain] = {}
        self._running: dict[tuple[str, int, int], Future[None]] = {}
        #: a segment's rows (every metric it splits) by ``("segment <name>", start, end)``
        self._segments: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.currencies: set[str] = set()

    def _once(self, key: tuple[str, int, int], work: Callable[[], None]) -> None:
        """Run ``work`` once for ``key`` whichever chart asks first; other charts asking for
        it meanwhile wait for that run rather than start their own."""
        with self._lock:
            running = self._running.get(key)
            mine = running is None
            if running is None:
                running = self._running[key] = Future()
        if mine:
            try:
                work()
            except BaseException as exc:
                running.set_exception(exc)
                raise
            running.set_result(None)
        else:
            running.result()

    def _seen(self, currencies: Iterable[Any]) -> None:
        with self._lock:
            self.currencies.update(str(c) for c in currencies if c not in (None, ALL, NO_CURRENCY))

    def scope(self, per_currency: bool) -> str | None:
        """The currency a statement is scoped to: the one picked, for a chart (or metric) per
        currency; ``None`` (all of them) otherwise."""
        return self.currency if per_currency else None

    def metric_values(
        self, metric: Metric, period: Period, part: str = PERIOD_PART
    ) -> dict[str, int | float]:
        """The metric's values for ``period`` (``part``: of its family's statement), computed
        once per evaluation (a family's statement runs once for all its members and both
        parts)."""
        key = (f"{metric.name} {part}", period.start, period.end)
        family = metric.family
        if family is None:
            sql = metric.previous_sql if part == PREVIOUS_PART else metric.sql
            currency = self.scope(not metric.currency_note)
            sql = in_currency(sql, (), currency)

            def one() -> None:
                params = params_for(sql, period.start, period.end, currency=currency)
                self._memo[key] = _values_of(metric.unit, run(self.source, sql, params).rows)

            self._once(key, one)
            return self._memo[key]

        grain = self.family_grains.get(family.name) if period == self.period else None
        self._family(family, period, grain)
        return self._memo[key]

    def _family(self, family: Family, period: Period, grain: Grain | None) -> None:
        """Run a family's statement once for ``period`` (and ``grain``, for its series part),
        keeping every member's values of every part for the charts that show them."""

        def whole() -> None:
            # every member of a family is per currency
            sql = in_currency(family.sql, ("part", "bucket"), self.currency)
            params = params_for(
                sql, period.start, period.end, grain.value if grain else None, self.currency
            )
            rows = run(self.source, sql, params).rows
            units = [_unit(column) for column in family.columns]
            for name in (PERIOD_PART, PREVIOUS_PART):
                mine = [row for row in rows if row[0] == name]
                for i, column in enumerate(family.columns, start=3):
                    # a row without this column's value is another member's (another key)
                    values = _values_of(
                        units[i - 3], [(row[2], row[i]) for row in mine if row[i] is not None]
                    )
                    self._memo[(f"{column} {name}", period.start, period.end)] = values
            if grain is not None:
                mine = [row for row in rows if row[0] == SERIES_PART]
                for i, column in enumerate(family.columns, start=3):
                    self._series_rows[(column, grain.value, period.start, period.end)] = [
                        (row[1], row[2], row[i]) for row in mine if row[i] is not None
                    ]

        self._once((f"family {family.name} {grain}", period.start, period.end), whole)

    def series(self, metric: Metric, grain: Grain) -> dict[str, list[Point]]:
        """The metric over the period by ``grain`` (a family member's from its family's run)."""
        start, end = self.period.start, self.period.end
        if metric.family is None or not metric.series:
            return compute_series(self.source, metric, start, end, grain, self.currency)
        self._family(metric.family, self.period, grain)
        rows = self._series_rows[(metric.name, grain.value, start, end)]
        return series_points(metric, rows, start, end, grain)

    def previous_values(self, metric: Metric) -> dict[str, int | float] | None:
        """What the metric's values are compared with: its values over the period before,
        or, for a present-day metric, its value at the period's start (``None``: nothing)."""
        if metric.family is not None:
            return self.metric_values(metric, self.period, PREVIOUS_PART)
        if not metric.current:
            return self.metric_values(metric, self.period.previous)
        if metric.previous_sql:
            return self.metric_values(metric, self.period, PREVIOUS_PART)
        return None

    # -- each kind of chart ----------------------------------------------------------------------
    def chart(self, chart: Chart) -> dict[str, Any]:
        base: dict[str, Any] = {"id": chart.id, "title": chart.title, "type": chart.type.value}
        base.update(currency_fields(chart))
        base["spec"] = chart.to_dict()
        if chart.metric in REPORTS:
            return {**base, **self.report(chart, REPORTS[str(chart.metric)])}
        if chart.metric:
            return {**base, **self.metric_chart(chart, METRICS[chart.metric])}
        return {**base, **self.dataset_chart(chart)}

    def chart_grain(self, chart: Chart) -> Grain:
        return chart.group.grain or self.grain

    def metric_chart(self, chart: Chart, metric: Metric) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": metric.name,
            "label": metric.label,
            "unit": metric.unit.value,
            "definition": metric.definition,
            "current": metric.current,
        }
        segment = segment_of(chart)
        if segment is not None:
            return {**out, **self.segment_chart(chart, metric, segment)}
        where = metric.drill_where
        if chart.type in TIME_TYPES:
            grain = self.chart_grain(chart)
            series = self.series(metric, grain)
            out["grain"] = grain.value
            out["series"] = [
                {
                    "key": cur,
                    "currency": cur,
                    "points": [list(p) for p in points],
                    "drill": drill(
                        metric.drill_dataset,
                        where,
                        self.period,
                        cur,
                        time_column=metric.time_column,
                        # a rolling metric's point: these rows over the days ending with it
                        **({"window_days": metric.rolling_days} if metric.rolling_days else {}),
                    ),
                }
                for cur, points in series.items()
            ]
            self._seen(s["currency"] for s in out["series"])
            return out
        values = self.metric_values(metric, self.period)
        previous = self.previous_values(metric)
        # a currency only the comparison has (no activity now) can still be picked
        self._seen({**(previous or {}), **values})
        # what the change is against: the period before, or the value at the period's start
        out["compare"] = None
        if previous is not None:
            out["compare"] = "start" if metric.current else "previous_period"
        out.update(
            values=values,
            previous=previous,
            change=changes(metric.unit.value, values, previous),
            drill={cur: drill(metric.drill_dataset, where, self.period, cur) for cur in values}
            or self._no_values_drill(metric, where),
        )
        return out

    def segment_chart(self, chart: Chart, metric: Metric, segment: Segment) -> dict[str, Any]:
        """The metric split by ``segment``: its statement runs once for every chart of it."""
        key = (f"segment {segment.name}", self.period.start, self.period.end)

        def one() -> None:
            self._segments[key] = segment_rows(self.source, segment, self.period, self.currency)

        self._once(key, one)
        out = segment_chart(chart, metric, segment, self._segments[key], self.period)
        self._seen(r["currency"] for r in out["rows"])
        return out

    def _no_values_drill(self, metric: Metric, where: str) -> dict[str, Any]:
        """A number with no value: the rows it would count (of the currency picked)."""
        currency = self.scope(not metric.currency_note)
        return {currency or ALL: drill(metric.drill_dataset, where, self.period, currency)}

    def report(self, chart: Chart, report: Report) -> dict[str, Any]:
        grain = self.chart_grain(chart)
        if report.uses_grain and grain is Grain.DAY:
            grain = Grain.WEEK  # movements between daily snapshots add rows, not insight
        kept = compute_report(
            self.source, report, self.period.start, self.period.end, grain, self.currency
        )
        for row in kept:
            dataset, where = report.drill(row)
            row["drill"] = drill(dataset, where, self.period)
        self._seen(r.get("currency") for r in kept)
        out: dict[str, Any] = {
            "metric": report.name,
            "label": report.label,
            "definition": report.definition,
            "columns": [
                {"name": c.name, "label": c.label, "unit": c.unit.value if c.unit else None}
                for c in report.columns
            ],
            "rows": kept,
        }
        if report.uses_grain:
            out["grain"] = grain.value
        return out

    def dataset_chart(self, chart: Chart) -> dict[str, Any]:
        grain = self.chart_grain(chart) if chart.group.grain else None
        out = dataset_chart(self.source, chart, self.period, grain, self.scope(chart.by_currency))
        self._seen(out.get("values") or {})
        self._seen(s["currency"] for s in out.get("series", []))
        self._seen(r["currency"] for r in out.get("rows", []))
        return out


def currency_fields(chart: Chart) -> dict[str, Any]:
    """Whether the chart is per currency, and if not, why (shown when a currency is picked)."""
    note = chart.currency_note
    return {"per_currency": note is None, "currency_note": note}


def _draw(ev: Evaluation, charts: Sequence[Chart], workers: int) -> dict[str, dict[str, Any]]:
    """Each chart's JSON by id, evaluated ``workers`` at a time (the answer is the same
    whatever the order: a chart's JSON depends on its own statements only)."""
    if workers <= 1 or len(charts) <= 1:
        return {chart.id: ev.chart(chart) for chart in charts}
    ordered = draw_order(charts)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboard") as pool:
        running = {chart.id: pool.submit(ev.chart, chart) for chart in ordered}
        return {key: job.result() for key, job in running.items()}


class BoardEvaluation:
    """One dashboard's evaluation, a chart at a time: ``chart`` draws one (any order, from
    any thread, once its datasets are queryable), ``assemble`` the dashboard's JSON from the
    charts drawn. ``evaluate`` draws them all; a progressive load draws each as its reads
    complete. ``skip`` maps a dataset the connection cannot read to ``{"reason", "fix"}``."""

    def __init__(
        self,
        source: Queryable,
        dashboard: Dashboard,
        period: Period,
        *,
        grain: Grain | None = None,
        currency: str | None = None,
        skip: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.started = time.perf_counter()
        self.dashboard = dashboard
        self.period = period
        self.skip = skip or {}
        self.ev = Evaluation(source, period, grain, currency)
        self.blocked = {
            chart.id: next((d for d in chart_datasets(chart) if d in self.skip), None)
            for chart in dashboard.charts
        }
        #: the charts drawn (the others are unavailable)
        self.drawn = [chart for chart in dashboard.charts if self.blocked[chart.id] is None]
        for chart in self.drawn:  # a family's statement runs once, with its series' grain
            metric = METRICS.get(chart.metric or "")
            if metric is not None and metric.family and metric.series and chart.type in TIME_TYPES:
                self.ev.family_grains.setdefault(metric.family.name, self.ev.chart_grain(chart))

    def chart(self, chart: Chart) -> dict[str, Any]:
        return self.ev.chart(chart)

    def unavailable(self, chart: Chart) -> dict[str, Any]:
        missing = str(self.blocked[chart.id])
        return {
            "id": chart.id,
            "title": chart.title,
            "type": chart.type.value,
            **currency_fields(chart),
            "spec": chart.to_dict(),
            "unavailable": {"dataset": missing, **self.skip[missing]},
        }

    def assemble(self, done: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """The dashboard's JSON from every drawn chart's (by id)."""
        charts = [
            done[chart.id] if self.blocked[chart.id] is None else self.unavailable(chart)
            for chart in self.dashboard.charts
        ]
        numbers = [
            c
            for c in charts
            if c["type"] == ChartType.NUMBER.value and c.get("metric") in METRICS and "values" in c
        ]
        dashboard = self.dashboard
        return {
            "dashboard": {
                "name": dashboard.name,
                "title": dashboard.title,
                "description": dashboard.description,
                "builtin": dashboard.builtin,
            },
            "period": {**self.period.to_dict(), "grain": self.ev.grain.value},
            "currency": self.ev.currency,
            "currencies": sorted(self.ev.currencies),
            "metrics": {c["metric"]: c["values"] for c in numbers},
            # what each headline metric is compared with (None: nothing), and the change
            "metrics_previous": {c["metric"]: c["previous"] for c in numbers},
            "metrics_change": {c["metric"]: c["change"] for c in numbers},
            "charts": charts,
            "elapsed_ms": round((time.perf_counter() - self.started) * 1000, 1),
        }


def evaluate(
    source: Queryable,
    dashboard: Dashboard,
    period: Period,
    *,
    grain: Grain | None = None,
    currency: str | None = None,
    skip: Mapping[str, Mapping[str, str]] | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """The dashboard's JSON for ``period``. ``skip`` maps a dataset the connection cannot read
    to ``{"reason", "fix"}``; charts that need it are returned with that instead of data.
    ``workers``: charts evaluated at once (``WORKERS`` by default; 1: one after the other)."""
    board = BoardEvaluation(source, dashboard, period, grain=grain, currency=currency, skip=skip)
    done = _draw(board.ev, board.drawn, WORKERS if workers is None else workers)
    return board.assemble(done)


def headline_names(dashboard: Dashboard) -> Sequence[str]:
    """The metrics the dashboard shows as numbers (the keys of its ``metrics`` JSON)."""
    return [c.metric for c in dashboard.charts if c.type is ChartType.NUMBER and c.metric]
