"""The JSON shapes of dashboards and charts sent to the API, and the checks a chart made in the
browser must pass beyond ``Chart.check`` (filter values that fit their column, a type that fits
what the chart shows), so a saved chart never fails when the dashboard is drawn."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from flitch import catalog
from flitch.catalog import ColumnType
from flitch.dashboards.model import (
    FORMAT,
    SEGMENT_TYPES,
    Chart,
    ChartType,
    Dashboard,
    Op,
    chart_from_dict,
)
from flitch.errors import InputError
from flitch.metrics import REPORTS_BY_NAME as REPORTS
from flitch.web.api.dataset_models import RowsOut

BIG = 2**63 - 1
# Strict: JSON's true and false are not 1 and 0, nor "1" a number; each is refused where the
# other is expected rather than quietly converted.
Int = Annotated[StrictInt, Field(ge=-BIG, le=BIG)]
Value = Int | float | bool | Annotated[str, Field(max_length=500)]
Name = Annotated[str, Field(max_length=64)]

#: Reports that read as a waterfall (their rows are steps); the others are tables.
WATERFALL_REPORTS = frozenset({"balance_bridge", "mrr_movements"})
#: Chart types for each kind of chart.
METRIC_TYPES = ("number", "line", "bar", "area", "table")
DATASET_TYPES = ("number", "line", "bar", "area", "table", "pie")


class MeasureIn(BaseModel):
    agg: Literal["count", "sum", "avg", "min", "max"] = "count"
    column: Name | None = Field(default=None, description="Left out for a count of rows.")


class FilterIn(BaseModel):
    column: Name
    op: Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null", "not_null"] = "eq"
    value: Value | Annotated[list[Value], Field(max_length=100)] | None = None


class GroupIn(BaseModel):
    grain: Literal["day", "week", "month"] | None = Field(
        default=None, description="Group by time (for a metric: leave out to follow the period)."
    )
    column: Name | None = Field(default=None, description="Group by a column (datasets only).")
    segment: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="Split a metric of the MRR family by product, price, interval, country or "
        "metadata.<key> (a customer metadata key); drawn as a table, bar or pie.",
    )


class ChartIn(BaseModel):
    """A chart: a metric (or report) from the registry, or a dataset with measures."""

    id: Name = Field(default="", description="Kept when given; made from the title otherwise.")
    title: str = Field(min_length=1, max_length=200)
    type: Literal["number", "line", "bar", "area", "table", "pie", "waterfall"] = "number"
    metric: Name | None = None
    dataset: Name | None = None
    measures: list[MeasureIn] = Field(default_factory=list, max_length=10)
    group: GroupIn = Field(default_factory=GroupIn)
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)
    time_column: Name = "created"
    whole: StrictBool = Field(default=False, description="All rows, not only those in the period.")
    limit: StrictInt = Field(default=20, ge=1, le=1000)


class DashboardIn(BaseModel):
    """A dashboard as exported (``format`` 1)."""

    format: StrictInt = Field(default=1, ge=0, le=1000)
    name: Name
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    charts: list[ChartIn] = Field(default_factory=list, max_length=60)


class DashboardCreate(BaseModel):
    name: Name = Field(description="1 to 63 lowercase letters, digits, - or _.")
    title: str = Field(default="", max_length=200, description="Shown on the page.")
    description: str = Field(default="", max_length=2000)
    charts: list[ChartIn] = Field(default_factory=list, max_length=60)


class DashboardCopy(BaseModel):
    name: Name = Field(description="The new dashboard's name.")
    title: str | None = Field(default=None, max_length=200)


class DashboardImport(BaseModel):
    dashboard: DashboardIn
    name: Name | None = Field(default=None, description="Save it under this name instead.")
    replace: StrictBool = Field(default=False, description="Replace a dashboard of that name.")


class DashboardMove(BaseModel):
    position: StrictInt = Field(ge=0, le=10_000, description="Its place among yours, 0 first.")


class ChartAdd(BaseModel):
    chart: ChartIn
    position: StrictInt | None = Field(default=None, ge=0, le=60, description="Default: last.")


class ChartOrder(BaseModel):
    order: list[Name] = Field(max_length=60, description="Every chart id, once, in order.")


class DashboardSummary(BaseModel):
    name: str
    title: str
    description: str
    builtin: bool
    charts: int

    @classmethod
    def of(cls, board: Dashboard) -> DashboardSummary:
        return cls(
            name=board.name,
            title=board.title,
            description=board.description,
            builtin=board.builtin,
            charts=len(board.charts),
        )


class DrillOut(BaseModel):
    """What the rows are: the chart, the metric's definition, the condition, the period."""

    dataset: str
    where: str = Field(description="The condition the rows meet (written out, for reading).")
    chart: str
    label: str
    definition: str
    period_start: str
    period_end: str
    currency: str | None
    bucket_start: str | None
    bucket_end: str | None


class DrillRowsOut(RowsOut):
    drill: DrillOut


# -- checks beyond the model's -------------------------------------------------------------------
def _bad(chart: ChartIn, message: str, fix: str) -> InputError:
    return InputError(f"Chart {chart.title!r}: {message}", fix)


def _fits(kind: ColumnType, value: Any) -> bool:
    if kind in (ColumnType.INTEGER, ColumnType.AMOUNT):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is ColumnType.FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is ColumnType.BOOLEAN:
        return isinstance(value, bool)
    if kind is ColumnType.TIMESTAMP:
        if not isinstance(value, str):
            return False
        try:
            (datetime if "T" in value else date).fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    return isinstance(value, str)


def _check_filters(chart: ChartIn) -> None:
    spec = catalog.BY_NAME.get(str(chart.dataset))
    if spec is None:
        return  # Chart.check names the datasets there are
    types = {c.name: c.type for c in spec.columns}
    for f in chart.filters:
        kind = types.get(f.column)
        if kind is None or f.op in ("is_null", "not_null"):
            continue
        if kind is ColumnType.JSON:
            raise _bad(
                chart,
                f"{f.column} holds JSON; it can only be tested for null.",
                "Use is_null or not_null on it, or filter another column.",
            )
        values = f.value if isinstance(f.value, list) else [f.value]
        if f.op not in ("in", "not_in") and isinstance(f.value, list):
            raise _bad(chart, f"the {f.op} filter on {f.column} takes one value.", "Use in.")
        for value in values:
            if value is None or not _fits(kind, value):
                raise _bad(
                    chart,
                    f"{value!r} is not a {kind.value} value for {f.column}.",
                    "Give a number for numbers and amounts (amounts in the smallest currency "
                    "unit), true or false, a date as YYYY-MM-DD, or text.",
                )
    if chart.group.column and types.get(chart.group.column) is ColumnType.JSON:
        raise _bad(chart, f"{chart.group.column} holds JSON and cannot group.", "Pick another.")


def _check_type(chart: ChartIn) -> None:
    allowed: tuple[str, ...]
    if chart.metric in REPORTS:
        allowed = ("table", "waterfall") if chart.metric in WATERFALL_REPORTS else ("table",)
    elif chart.metric and chart.group.segment:
        allowed = tuple(t.value for t in SEGMENT_TYPES)
    elif chart.metric:
        allowed = METRIC_TYPES
    else:
        allowed = DATASET_TYPES
    if chart.type not in allowed:
        raise _bad(
            chart, f"it cannot be drawn as a {chart.type} chart.", f"Use {', '.join(allowed)}."
        )
    if chart.dataset and chart.type == "pie" and not chart.group.column:
        raise _bad(chart, "a pie needs a column to split by.", "Group it by a column.")


def to_chart(body: ChartIn) -> Chart:
    """The chart the body describes, checked (``InputError`` says what to change)."""
    _check_type(body)
    _check_filters(body)
    return chart_from_dict(body.model_dump()).check()


def to_dashboard(body: DashboardIn | DashboardCreate, name: str | None = None) -> Dashboard:
    """The dashboard the body describes, every chart checked."""
    fmt = getattr(body, "format", FORMAT)
    if fmt != FORMAT:
        raise InputError(
            f"This dashboard was exported in format {fmt}; this Flitch reads format {FORMAT}.",
            "Export it again from a Flitch of the same version.",
        )
    board = Dashboard(
        name=name or body.name,
        title=body.title or name or body.name,
        description=body.description,
        charts=tuple(to_chart(c) for c in body.charts),
    )
    return board.check()


def chart_types() -> list[str]:
    return [t.value for t in ChartType]


def filter_ops() -> list[str]:
    return [o.value for o in Op]
