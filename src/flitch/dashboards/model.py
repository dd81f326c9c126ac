"""Dashboards and charts as data: what a chart shows, checked against the catalog and the
metrics registry, and its JSON form (the one exported, imported and stored).

A chart shows either

- a **metric** or report from the registry (``flitch.metrics``): its number, its series over
  time, or its table; or
- a **dataset** (one of the twelve objects) with one or more **measures** (count, or the sum,
  average, minimum or maximum of a column), a **grouping** (a time grain over a timestamp
  column, a column such as ``status`` or ``currency``, or none) and **filters**.

Its **type** is how it is drawn: number, line, bar, area, table, pie (and waterfall, for the
balance bridge and MRR movements). Currencies are kept apart: every chart over a dataset with a
currency (counts too) is split by currency, as every metric is, so that picking a currency shows
that currency's part of it. A chart that cannot be split (a dataset with no currency, a metric
such as coupon redemptions) says why in ``currency_note``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from flitch import catalog
from flitch.catalog import ColumnType
from flitch.errors import InputError
from flitch.metrics import BY_NAME as METRICS
from flitch.metrics import REPORTS_BY_NAME as REPORTS
from flitch.metrics import segments
from flitch.metrics.series import Grain

#: The format of exported dashboards; bumped when the JSON changes incompatibly.
FORMAT = 1
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ChartType(StrEnum):
    NUMBER = "number"
    LINE = "line"
    BAR = "bar"
    AREA = "area"
    TABLE = "table"
    PIE = "pie"
    WATERFALL = "waterfall"


TIME_TYPES = (ChartType.LINE, ChartType.BAR, ChartType.AREA)
#: How a metric split by segment can be drawn.
SEGMENT_TYPES = (ChartType.TABLE, ChartType.BAR, ChartType.PIE)


class Agg(StrEnum):
    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"


_NUMERIC = (ColumnType.AMOUNT, ColumnType.INTEGER, ColumnType.FLOAT)


def _bad(message: str, fix: str) -> InputError:
    return InputError(message, fix)


@dataclass(frozen=True)
class Measure:
    agg: Agg
    column: str | None = None

    @property
    def key(self) -> str:
        """``count`` or ``sum(amount)``: the measure's name in results."""
        return self.agg.value if self.column is None else f"{self.agg.value}({self.column})"

    def to_dict(self) -> dict[str, Any]:
        return {"agg": self.agg.value, "column": self.column}


@dataclass(frozen=True)
class Filter:
    column: str
    op: Op = Op.EQ
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "op": self.op.value, "value": self.value}


@dataclass(frozen=True)
class Grouping:
    """A time grain (over the chart's time column), a column, or neither; for a metric of the
    MRR family, a segment instead (``metrics.segments``: ``product``, ``price``,
    ``interval``, ``country`` or ``metadata.<key>``)."""

    grain: Grain | None = None
    column: str | None = None
    segment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "grain": self.grain.value if self.grain else None,
            "column": self.column,
        }
        if self.segment:
            out["segment"] = self.segment
        return out


@dataclass(frozen=True)
class Chart:
    title: str
    type: ChartType
    metric: str | None = None
    dataset: str | None = None
    measures: tuple[Measure, ...] = ()
    group: Grouping = field(default_factory=Grouping)
    filters: tuple[Filter, ...] = ()
    #: The timestamp column the period (and a time grouping) applies to.
    time_column: str = "created"
    #: All rows, not only those in the period (the present state: subscriptions by status).
    whole: bool = False
    #: Most groups shown for a column grouping.
    limit: int = 20
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title, "type": self.type.value}
        if self.metric:
            out["metric"] = self.metric
            out["group"] = self.group.to_dict()
            return out
        out.update(
            dataset=self.dataset,
            measures=[m.to_dict() for m in self.measures],
            group=self.group.to_dict(),
            filters=[f.to_dict() for f in self.filters],
            time_column=self.time_column,
            whole=self.whole,
            limit=self.limit,
        )
        return out

    def check(self) -> Chart:
        """This chart, checked against the catalog and registry (``InputError`` otherwise)."""
        if not self.title.strip():
            raise _bad("A chart needs a title.", "Give the chart a short title.")
        if (self.metric is None) == (self.dataset is None):
            raise _bad(
                f"Chart {self.title!r} must show either a metric or a dataset.",
                "Set metric (e.g. gross_volume) or dataset (e.g. charges) — one of them.",
            )
        if self.metric is not None:
            return self._check_metric(self.metric)
        return self._check_dataset(str(self.dataset))

    def _check_metric(self, name: str) -> Chart:
        if name in REPORTS:
            return self
        metric = METRICS.get(name)
        if metric is None:
            raise _bad(
                f"Chart {self.title!r}: there is no metric {name!r}.",
                f"Use one of: {', '.join([*METRICS, *REPORTS])}.",
            )
        if self.group.column:
            raise _bad(
                f"Chart {self.title!r}: a metric cannot be grouped by a column.",
                "Group it by a time grain, or chart the dataset instead.",
            )
        if self.group.segment:
            return self._check_segment(name, self.group.segment)
        if self.type in TIME_TYPES and not metric.series:
            raise _bad(
                f"Chart {self.title!r}: {name} is a present-day value with no history.",
                "Show it as a number.",
            )
        return self

    def _check_segment(self, name: str, text: str) -> Chart:
        if name not in segments.METRICS:
            raise _bad(
                f"Chart {self.title!r}: {name} cannot be split by segment.",
                f"Split one of: {', '.join(segments.METRICS)}.",
            )
        try:
            segments.parse(text)
        except ValueError as exc:
            raise _bad(f"Chart {self.title!r}: {exc}.", "Pick another segment.") from None
        if self.group.grain or self.type not in SEGMENT_TYPES:
            raise _bad(
                f"Chart {self.title!r}: a metric split by segment is a table of segments.",
                f"Draw it as {', '.join(SEGMENT_TYPES)}, with no time grain.",
            )
        return self

    def _check_dataset(self, name: str) -> Chart:
        spec = catalog.BY_NAME.get(name)
        if spec is None:
            raise _bad(
                f"Chart {self.title!r}: there is no dataset {name!r}.",
                f"Use one of: {', '.join(catalog.NAMES)}.",
            )
        columns = {c.name: c for c in spec.columns}

        def column(col: str, what: str) -> catalog.Column:
            if col not in columns or col == "raw":
                raise _bad(
                    f"Chart {self.title!r}: {name} has no column {col!r} ({what}).",
                    f"Use one of: {', '.join(c for c in columns if c != 'raw')}.",
                )
            return columns[col]

        if not self.measures:
            raise _bad(f"Chart {self.title!r} has no measure.", "Add one, e.g. count.")
        for m in self.measures:
            if m.agg is Agg.COUNT and m.column is None:
                continue
            if m.column is None:
                raise _bad(f"Chart {self.title!r}: {m.agg} needs a column.", "Name the column.")
            col = column(m.column, m.agg.value)
            if m.agg is not Agg.COUNT and col.type not in _NUMERIC:
                raise _bad(
                    f"Chart {self.title!r}: {m.column} is not a number, so it has no {m.agg}.",
                    "Count it instead, or pick an amount column.",
                )
        if column(self.time_column, "time column").type is not ColumnType.TIMESTAMP:
            raise _bad(
                f"Chart {self.title!r}: {self.time_column} is not a timestamp column.",
                "Use created, or another timestamp column of the dataset.",
            )
        if self.group.column:
            if self.group.grain:
                raise _bad(
                    f"Chart {self.title!r} groups by both time and a column.",
                    "Pick one grouping.",
                )
            column(self.group.column, "grouping")
        for f in self.filters:
            column(f.column, "filter")
            if f.op in (Op.IN, Op.NOT_IN) and not isinstance(f.value, list | tuple):
                raise _bad(
                    f"Chart {self.title!r}: the {f.op} filter on {f.column} needs a list.",
                    'Give the values as a list, e.g. ["open", "paid"].',
                )
        if self.type in TIME_TYPES and not self.group.grain and not self.group.column:
            raise _bad(
                f"Chart {self.title!r} is a {self.type} chart without a grouping.",
                "Group it by a time grain (day, week, month) or a column.",
            )
        if not 1 <= self.limit <= 1000:
            raise _bad(f"Chart {self.title!r}: limit must be 1 to 1000.", "Use e.g. 20.")
        return self

    @property
    def by_currency(self) -> bool:
        """True for a chart on a dataset with a currency: its rows are kept apart by currency
        (those with none apart from every currency)."""
        if self.dataset is None:
            return False
        return any(c.name == "currency" for c in catalog.get(self.dataset).columns)

    @property
    def is_money_split(self) -> bool:
        """True when a measure sums amounts (of the row's currency): its values are money."""
        if not self.by_currency:
            return False
        types = {c.name: c.type for c in catalog.get(str(self.dataset)).columns}
        return any(
            m.column is not None and types.get(m.column) is ColumnType.AMOUNT
            for m in self.measures
            if m.agg is not Agg.COUNT
        )

    @property
    def currency_note(self) -> str | None:
        """Why the chart is not per currency (it shows every currency's whatever currency is
        picked); ``None`` when it is."""
        if self.metric is not None:
            metric = METRICS.get(self.metric)  # reports are all per currency
            return (metric.currency_note or None) if metric is not None else None
        if self.by_currency:
            return None
        label = catalog.get(str(self.dataset)).label
        return f"{label} have no currency: the chart shows them all, whatever the currency."


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    charts: tuple[Chart, ...]
    description: str = ""
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "charts": [c.to_dict() for c in self.charts],
        }

    def check(self) -> Dashboard:
        check_name(self.name)
        if not self.title.strip():
            raise _bad("A dashboard needs a title.", "Give it a title.")
        if len(self.charts) > 60:
            raise _bad("A dashboard holds at most 60 charts.", "Split it in two.")
        return replace(self, charts=with_ids(c.check() for c in self.charts))


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise _bad(
            f"{name!r} cannot name a dashboard.",
            "Use 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit.",
        )
    return name


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "chart"


def with_ids(charts: Sequence[Chart] | Any) -> tuple[Chart, ...]:
    """The charts, each with an id unique in the dashboard (kept where already given)."""
    out: list[Chart] = []
    seen: set[str] = set()
    for chart in charts:
        base = chart.id or slug(chart.title)
        cid, n = base, 2
        while cid in seen:
            cid, n = f"{base}-{n}", n + 1
        seen.add(cid)
        out.append(replace(chart, id=cid))
    return tuple(out)


# -- from JSON -----------------------------------------------------------------------------------
def _enum(kind: type[StrEnum], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(str(v) for v in kind)
        raise _bad(f"{value!r} is not a {what}.", f"Use one of: {valid}.") from None


def chart_from_dict(data: Mapping[str, Any]) -> Chart:
    if not isinstance(data, Mapping):
        raise _bad("A chart must be a JSON object.", "Write each chart as {...}.")
    group = data.get("group") or {}
    grain = group.get("grain")
    filters = []
    for f in data.get("filters") or []:
        value = f.get("value")
        filters.append(
            Filter(
                column=str(f.get("column", "")),
                op=_enum(Op, f.get("op", "eq"), "filter operator"),
                value=tuple(value) if isinstance(value, list) else value,
            )
        )
    return Chart(
        id=str(data.get("id") or ""),
        title=str(data.get("title") or ""),
        type=_enum(ChartType, data.get("type", "number"), "chart type"),
        metric=data.get("metric"),
        dataset=data.get("dataset"),
        measures=tuple(
            Measure(_enum(Agg, m.get("agg", "count"), "measure"), m.get("column"))
            for m in data.get("measures") or []
        ),
        group=Grouping(
            grain=_enum(Grain, grain, "time grain") if grain else None,
            column=group.get("column"),
            segment=group.get("segment") or None,
        ),
        filters=tuple(filters),
        time_column=str(data.get("time_column") or "created"),
        whole=bool(data.get("whole", False)),
        limit=int(data.get("limit", 20)),
    )


def dashboard_from_dict(data: Mapping[str, Any]) -> Dashboard:
    """A dashboard from its JSON form (as exported), checked."""
    if not isinstance(data, Mapping):
        raise _bad("A dashboard must be a JSON object.", "Export one to see the format.")
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise _bad(
            f"This dashboard was exported in format {fmt}; this Flitch reads format {FORMAT}.",
            "Export it again from a Flitch of the same version.",
        )
    charts = data.get("charts")
    if not isinstance(charts, list):
        raise _bad("A dashboard needs a list of charts.", 'Add "charts": [...].')
    return Dashboard(
        name=str(data.get("name") or ""),
        title=str(data.get("title") or data.get("name") or ""),
        description=str(data.get("description") or ""),
        charts=tuple(chart_from_dict(c) for c in charts),
    ).check()
