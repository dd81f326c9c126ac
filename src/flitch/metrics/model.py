"""What a metric is: its definition text and its SQL, side by side, as one value.

A metric's SQL runs over a connection's datasets (live or cached: the same tables either way)
with the parameters ``$start`` and ``$end`` (UTC timestamps; the period is ``[start, end)``). Its
headline SQL returns rows of ``(currency, value)``; what has no currency (a customer never
billed) comes under the key ``"none"``, apart from every currency. Its series SQL (if it has
one) also takes ``$grain`` (``day``, ``week`` or ``month``) and returns ``(bucket, currency,
value)``, ``bucket`` being the start of a ``date_trunc`` bucket.

Every metric is per currency, so that picking a currency shows that currency's part of what all
currencies show (``compute.in_currency``), except one that cannot be: it says why in
``currency_note``, and its one value comes under the key ``"all"``.

The helpers below write both statements from one description, so a metric's headline and its
chart can never disagree about what is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from flitch.query.reads import DatasetRead

#: Seconds in a day.
DAY = 86_400
#: The key of a metric's value that is not per currency (``Metric.currency_note``).
ALL = "all"
#: The key of values over records with no currency (a customer not billed yet).
NO_CURRENCY = "none"


def currency_key(column: str = "currency") -> str:
    """A currency column as a metric's key: its records with no currency under ``"none"``."""
    return f"COALESCE({column}, '{NO_CURRENCY}')"


class Unit(StrEnum):
    MONEY = "money"  # minor units of the row's currency
    COUNT = "count"
    RATIO = "ratio"  # 0..1


#: A family's rows for the values shown, for what they are compared with, and over time.
PERIOD_PART = "period"
PREVIOUS_PART = "previous"
SERIES_PART = "series"


@dataclass(frozen=True)
class Family:
    """One statement computing several metrics at once (MRR, ARR, subscribers, churn… share
    all their work). It returns ``part``, ``bucket``, a key (the currency), then one
    column per metric. ``part`` is ``'period'`` for the values shown and ``'previous'`` for
    what they are compared with (a metric over the period is compared with the period before;
    a present-day one, ``Metric.current``, with its value at the period's start); ``'series'``
    rows are per ``bucket`` of ``$grain`` (none when ``$grain`` is NULL). A metric's own SQL
    selects its column of one part, so both give the same value."""

    name: str
    sql: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: Unit
    #: The definition shown with the number: what is counted, and the policy behind it.
    definition: str
    #: Datasets the SQL reads.
    datasets: tuple[str, ...]
    #: True when only records created in the period matter (a live read is narrowed to it);
    #: False when the metric needs older records too (MRR needs every live subscription).
    ranged: bool
    sql: str
    #: The dataset whose rows a drill-down shows, and the SQL condition that selects them.
    drill_dataset: str = ""
    drill_where: str = ""
    #: ``(bucket, currency, value)`` over the period by ``$grain``; empty: no time series.
    series: str = ""
    #: The drill dataset's column a series point is bucketed by.
    time_column: str = "created"
    #: True when the value is the present state whatever the period (MRR): it is compared
    #: with its value at the period's start (``previous_sql``), or with nothing.
    current: bool = False
    #: For a present-day metric: ``(key, value)`` at the period's start (``$start``), rebuilt
    #: from history; empty: no comparison. Other metrics compare with the period before.
    previous_sql: str = ""
    #: For a metric that is not ranged: datasets of which only records created before the
    #: period's end matter (its SQL says so too), so a live read is narrowed to ``created < end``.
    until_end: tuple[str, ...] = ()
    #: The statement this metric shares with others, if any (its ``sql`` reads its column).
    family: Family | None = None
    #: Records created this many days before the period matter too (its SQL says so), so a
    #: live read of the ranged (or ``until_end``) datasets starts that much earlier.
    lookback_days: int = 0
    #: A rolling metric's window in days: its value, and each point of its series, is over the
    #: ``rolling_days`` ending at the period's (the point's bucket's) end; 0: over the period
    #: (the bucket). A series point then drills down to that window, not to its bucket.
    rolling_days: int = 0
    #: Why the metric is not per currency, shown with it when a currency is picked; empty: it
    #: is, its values keyed by currency.
    currency_note: str = ""
    #: Whether a rise is good news (True: revenue, subscribers), bad news (False: failures,
    #: churn, disputes, costs) or neither (None: money moved, amounts due). Declared for every
    #: metric in ``definitions.UP_IS_GOOD``; a change is shown good or bad by it.
    up_is_good: bool | None = None
    #: ``(dataset, list parameter, value)``: a filter Stripe applies for this metric's live
    #: read, because its SQL counts no row the filter leaves out (outstanding invoices are
    #: open ones: ``status=open`` reads a few pages where the whole list is every invoice ever).
    read_filters: tuple[tuple[str, str, str], ...] = ()

    def reads(self, start: int, end: int) -> list[DatasetRead]:
        """What a live load must fetch for this metric over ``[start, end)``."""
        reads = _reads(self.datasets, self.ranged, self.until_end, self.lookback_days, start, end)
        return [_narrowed(read, self.read_filters) for read in reads]


def _reads(
    datasets: tuple[str, ...],
    ranged: bool,
    until_end: tuple[str, ...],
    lookback_days: int,
    start: int,
    end: int,
) -> list[DatasetRead]:
    since = start - lookback_days * DAY
    if ranged:
        return [DatasetRead(d, created_gte=since, created_lt=end) for d in datasets]
    if not lookback_days:
        return [
            DatasetRead(d, created_lt=end) if d in until_end else DatasetRead(d) for d in datasets
        ]
    return [
        DatasetRead(d, created_gte=since, created_lt=end) if d in until_end else DatasetRead(d)
        for d in datasets
    ]


def _narrowed(read: DatasetRead, filters: tuple[tuple[str, str, str], ...]) -> DatasetRead:
    """``read`` with the filters given for its dataset (a merge keeps them only when every
    chart reading the list has them)."""
    mine = tuple((param, value) for dataset, param, value in filters if dataset == read.dataset)
    if not mine:
        return read
    return replace(read, filters=read.filters + mine)


def from_family(family: Family, column: str, part: str = PERIOD_PART) -> str:
    """A metric's own SQL: its column of one part of the family's statement (no value: no
    row)."""
    if column not in family.columns:
        raise ValueError(f"{family.name} has no column {column}")
    return (
        f"SELECT key, {column} FROM ({family.sql}) AS family "  # noqa: S608
        f"WHERE part = {sql_text(part)} AND {column} IS NOT NULL"
    )


def family_series(family: Family, column: str) -> str:
    """A member's series SQL: ``(bucket, key, value)`` of the family's series part."""
    if column not in family.columns:
        raise ValueError(f"{family.name} has no column {column}")
    return (
        f"SELECT bucket, key, {column} FROM ({family.sql}) AS family "  # noqa: S608
        f"WHERE part = {sql_text(SERIES_PART)} AND {column} IS NOT NULL"
    )


def bucket(column: str = "created") -> str:
    """``date_trunc($grain, column)`` in UTC, as SQL. Days and weeks (from Monday) are counted
    from the Unix epoch (a Thursday) in plain arithmetic: DuckDB's ``date_trunc`` on a
    timestamp with time zone goes through its calendar library row by row, most of a series'
    time over a month of 10 M charges (91 -> 20 ms by day). Months keep ``date_trunc``."""
    days = f"floor(epoch_us({column}) / 86400000000)"
    return (
        f"CASE $grain WHEN 'day' THEN to_timestamp({days} * 86400) "
        f"WHEN 'week' THEN to_timestamp((floor(({days} + 3) / 7) * 7 - 3) * 86400) "
        f"ELSE date_trunc($grain, {column}) END"
    )


def period(column: str = "created") -> str:
    """The SQL condition ``column in [start, end)``."""
    return f"{column} >= $start AND {column} < $end"


def aggregate(
    *,
    name: str,
    label: str,
    unit: Unit,
    definition: str,
    table: str,
    value: str,
    where: str = "",
    time_column: str = "created",
    key: str = "currency",
    ranged: bool = True,
    until_end: bool = False,
) -> Metric:
    """A metric that is one aggregate over one dataset's rows in the period, per currency
    (``key``: how a row's currency is read, e.g. ``currency_key()`` where it may have none).

    ``until_end``: the period is on another column than ``created`` but no record created after
    the period can be in it; the SQL says ``created < $end`` and a live read is narrowed to it.
    """
    bound = "created < $end" if until_end else ""
    cond = " AND ".join(c for c in (where, bound, period(time_column)) if c)
    return Metric(
        name=name,
        label=label,
        unit=unit,
        definition=definition,
        datasets=(table,),
        ranged=ranged and not until_end,
        sql=f"SELECT {key}, {value} FROM {table} WHERE {cond} GROUP BY 1",  # noqa: S608
        series=(
            f"SELECT {bucket(time_column)} AS bucket, {key}, {value} "  # noqa: S608
            f"FROM {table} WHERE {cond} GROUP BY 1, 2"
        ),
        drill_dataset=table,
        drill_where=cond,
        time_column=time_column,
        until_end=(table,) if until_end else (),
    )


def ratio(
    *,
    name: str,
    label: str,
    definition: str,
    numerator: tuple[str, str],
    denominator: tuple[str, str],
    drill: tuple[str, str],
) -> Metric:
    """A ratio of two counts in the period, per currency: ``(table, where)`` for each side.

    Currencies with no denominator rows have no value (no rate of nothing).
    """

    def side(table: str, where: str, bucket: str) -> str:
        cond = " AND ".join(c for c in (where, period()) if c)
        return (
            f"SELECT {bucket} AS bucket, currency, count(*) AS n FROM {table} WHERE {cond} "  # noqa: S608
            "GROUP BY ALL"
        )

    def statement(bucket: str) -> str:
        return (
            f"WITH num AS ({side(*numerator, bucket)}), den AS ({side(*denominator, bucket)}) "  # noqa: S608
            "SELECT {cols} COALESCE(num.n, 0) / den.n FROM den "
            "LEFT JOIN num ON num.bucket = den.bucket AND num.currency = den.currency"
        )

    headline = statement("'all'").replace("{cols}", "den.currency,")
    series = statement(bucket()).replace("{cols}", "den.bucket, den.currency,")
    tables = tuple(dict.fromkeys((numerator[0], denominator[0])))
    return Metric(
        name=name,
        label=label,
        unit=Unit.RATIO,
        definition=definition,
        datasets=tables,
        ranged=True,
        sql=headline,
        series=series,
        drill_dataset=drill[0],
        drill_where=" AND ".join(c for c in (drill[1], period()) if c),
    )


@dataclass(frozen=True)
class Column:
    """One column of a report's rows: its name, label and unit (``None``: a label column)."""

    name: str
    label: str
    unit: Unit | None = None


@dataclass(frozen=True)
class Report:
    """A metric whose answer is a table rather than one value per currency: the balance
    bridge, MRR movements, top customers, coupon usage.

    ``sql`` returns rows with the ``columns`` named here (every report has a ``currency``
    column, so currencies are never added together). ``drill`` says, for one row, which
    dataset rows it was computed from: ``(dataset, SQL condition)`` with ``$start``/``$end``.
    """

    name: str
    label: str
    definition: str
    datasets: tuple[str, ...]
    sql: str
    columns: tuple[Column, ...]
    drill: Callable[[Mapping[str, Any]], tuple[str, str]]
    ranged: bool = True
    until_end: tuple[str, ...] = ()
    lookback_days: int = 0
    #: Turns the SQL's rows into the report's rows (e.g. one row per step of a waterfall).
    reshape: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    #: ``$grain`` matters to the SQL (the rows carry a ``bucket`` column).
    uses_grain: bool = False

    def reads(self, start: int, end: int) -> list[DatasetRead]:
        return _reads(self.datasets, self.ranged, self.until_end, self.lookback_days, start, end)


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    """A SQL list of string literals: ``('a', 'b')``."""
    return "(" + ", ".join(sql_text(v) for v in values) + ")"
