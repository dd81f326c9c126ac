"""Retention: cohort tables, net and gross revenue retention, the MRR churn rate.

All of it reads each customer's MRR over time as MRR movements do: the spans of one amount
rebuilt from the invoices that billed each subscription (``derived_mrr_spans``, see
``derived`` and ``movements``), so every month here is *reconstructed*, not observed. A
customer's MRR *at* an instant is the sum of their spans in force just before it (a span holds
at the instants in ``(span_from, span_to]``), per currency: a customer paying in two currencies
is two customers here, as for subscribers and MRR, and amounts are never added across them.

- A customer's **cohort** (in a currency) is the calendar month their first span begins in:
  the month they first became a subscriber. Every span is looked at, however old (a live load
  reads every invoice created before the period's end), so the cohort is the same whatever
  period is picked.
- **Customer retention** of cohort ``c`` at month ``k``: the share of its customers with MRR
  above zero at the end of month ``c + k`` (month 0 is 100 % by definition; a month not over
  yet ends at the period's end). **Net MRR retention**: the cohort's MRR at the end of month
  ``c + k`` ÷ its MRR at the end of month ``c``.
- **NRR** over a window: the MRR at its end of the customers with MRR at its start ÷ their MRR
  at its start (new customers left out; expansion, contraction, churn and reactivation in).
  **GRR**: the same with each customer's MRR at the end capped at their MRR at the start, so
  expansion is left out and it never exceeds 100 %.
- **MRR churn rate** over the same window: (churned + contraction MRR) ÷ MRR at its start,
  each customer's change taken between the window's two ends; it is 1 − GRR.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flitch.metrics.compute import Queryable, run
from flitch.metrics.derived import MRR_SPANS
from flitch.metrics.model import Column, Metric, Report, Unit, sql_text

#: The window NRR and GRR are quoted over by default (months, ending at the period's end).
NRR_MONTHS = 12
#: The datasets each statement reads (invoices, with their lines and discounts: the spans).
DATASETS = ("invoices", "prices", "subscriptions", "coupons")
#: Most months after its start a cohort is followed for.
MAX_MONTHS = 240
#: A float sum of MRR smaller than this (a millionth of a minor unit) is zero.
EPSILON = "1e-6"

_S = "$start::TIMESTAMPTZ"
_E = "$end::TIMESTAMPTZ"


def mrr_at(at: str, where: str = "") -> str:
    """``(customer, currency, mrr)`` of every customer with MRR at the instant ``at`` (SQL)."""
    more = f" AND {where}" if where else ""
    return (
        f"SELECT customer, currency, sum(mrr) AS mrr FROM {MRR_SPANS.table} "  # noqa: S608
        f"WHERE span_from < {at} AND span_to >= {at}{more} GROUP BY customer, currency "
        f"HAVING sum(mrr) > {EPSILON}"
    )


# -- cohort tables -------------------------------------------------------------------------------
#: Per customer and currency, the month they first became a subscriber (their first span).
FIRSTS = f"""SELECT customer, currency, date_trunc('month', min(span_from)) AS cohort,
  min(span_from) AS first_at
FROM {MRR_SPANS.table} WHERE span_from < {_E} GROUP BY customer, currency"""  # noqa: S608

_COHORTS = f"""
WITH firsts AS MATERIALIZED (
  SELECT * FROM ({FIRSTS}) WHERE cohort >= date_trunc('month', {_S})
),
-- each cohort's months, the last one ending at the period's end if not over by then
cells AS (
  SELECT c.cohort, r.k,
    least(c.cohort + to_months(CAST(r.k + 1 AS INTEGER)), {_E}) AS at_end
  FROM (SELECT DISTINCT cohort FROM firsts) c CROSS JOIN range(0, {MAX_MONTHS}) AS r(k)
  WHERE c.cohort + to_months(CAST(r.k AS INTEGER)) < {_E}
),
member_mrr AS (
  SELECT f.currency, f.cohort, cl.k, f.customer, sum(s.mrr) AS mrr
  FROM firsts f JOIN cells cl ON cl.cohort = f.cohort
  JOIN {MRR_SPANS.table} s ON s.customer = f.customer AND s.currency = f.currency
    AND s.span_from < cl.at_end AND s.span_to >= cl.at_end
  GROUP BY ALL
),
sizes AS (SELECT currency, cohort, count(*) AS customers FROM firsts GROUP BY ALL),
per_cell AS (
  SELECT currency, cohort, k,
    count(*) FILTER (WHERE mrr > {EPSILON}) AS retained,
    COALESCE(round(sum(mrr) FILTER (WHERE mrr > {EPSILON}), 6), 0) AS mrr
  FROM member_mrr GROUP BY ALL
),
grid AS (
  SELECT z.currency, z.cohort, cl.k, z.customers,
    CASE WHEN cl.k = 0 THEN z.customers ELSE COALESCE(p.retained, 0) END AS retained,
    COALESCE(p.mrr, 0) AS mrr
  FROM sizes z JOIN cells cl ON cl.cohort = z.cohort
  LEFT JOIN per_cell p ON p.currency = z.currency AND p.cohort = z.cohort AND p.k = cl.k
)
SELECT g.currency, g.cohort, g.k AS months_since, g.customers, g.retained,
  g.retained / g.customers AS customer_retention,
  round(g0.mrr, 6) AS mrr_start, round(g.mrr, 6) AS mrr,
  CASE WHEN g0.mrr > {EPSILON} THEN g.mrr / g0.mrr END AS net_mrr_retention
FROM grid g JOIN grid g0 ON g0.currency = g.currency AND g0.cohort = g.cohort AND g0.k = 0
ORDER BY g.currency, g.cohort, g.k
"""  # noqa: S608


def _round_money(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Money in whole minor units, as every MRR figure is shown."""
    return [
        {**r, "mrr_start": round(r["mrr_start"] or 0), "mrr": round(r["mrr"] or 0)} for r in rows
    ]


def _invoices_drill(row: Mapping[str, Any]) -> tuple[str, str]:
    """The subscription invoices MRR was rebuilt from, of the row's currency."""
    cond = ["subscription IS NOT NULL AND status IN ('paid', 'open')", "created < $end"]
    if row.get("currency"):
        cond.append(f"currency = {sql_text(str(row['currency']))}")
    return "invoices", " AND ".join(cond)


MRR_COHORTS = Report(
    name="mrr_cohorts",
    label="Cohorts: customer and net MRR retention",
    definition=(
        "Customers grouped by the month they first became subscribers (their cohort, per "
        "currency), followed month by month. Customer retention: the share of the cohort "
        "with MRR above zero at the end of month k after it (month 0 is 100 %). Net MRR "
        "retention: the cohort's MRR at the end of month k ÷ its MRR at the end of month 0 "
        "(above 100 % when expansion and reactivation outweigh churn and contraction). MRR "
        "is rebuilt from subscription invoices as for MRR movements, so every month is "
        "reconstructed, not observed; a month not over yet ends at the period's end. Cohorts "
        "starting in the period are shown, whenever their customers churned or came back."
    ),
    datasets=DATASETS,
    sql=_COHORTS,
    columns=(
        Column("currency", "Currency"),
        Column("cohort", "Cohort"),
        Column("months_since", "Months since"),
        Column("customers", "Customers", Unit.COUNT),
        Column("retained", "Retained", Unit.COUNT),
        Column("customer_retention", "Customer retention", Unit.RATIO),
        Column("mrr_start", "MRR at month 0", Unit.MONEY),
        Column("mrr", "MRR at month k", Unit.MONEY),
        Column("net_mrr_retention", "Net MRR retention", Unit.RATIO),
    ),
    drill=_invoices_drill,
    ranged=False,
    until_end=("invoices",),
    reshape=_round_money,
)

#: The end of month ``$k`` of the cohort starting at ``$cohort`` (the period's end if sooner).
_CELL_END = "least($cohort::TIMESTAMPTZ + to_months(CAST($k + 1 AS INTEGER)), $end::TIMESTAMPTZ)"

_MEMBERS = f"""
WITH firsts AS (
  SELECT * FROM ({FIRSTS}) WHERE cohort = $cohort::TIMESTAMPTZ AND currency = $currency
),
at0 AS ({mrr_at(_CELL_END.replace("$k", "0"))}),
atk AS ({mrr_at(_CELL_END)})
SELECT f.customer, f.currency, f.first_at, round(COALESCE(a.mrr, 0)) AS mrr_start,
  round(COALESCE(b.mrr, 0)) AS mrr
FROM firsts f
LEFT JOIN at0 a ON a.customer = f.customer AND a.currency = f.currency
LEFT JOIN atk b ON b.customer = f.customer AND b.currency = f.currency
ORDER BY mrr DESC, mrr_start DESC, f.customer
"""  # noqa: S608


def cohort_members(
    source: Queryable, currency: str, cohort: int, k: int, end: int
) -> list[dict[str, Any]]:
    """The customers behind one cell of the cohort table: those of ``currency`` whose cohort is
    the month starting at ``cohort`` (Unix seconds), each with their MRR at the end of month 0
    and of month ``k`` (the period's ``end`` if sooner), rounded; biggest first."""
    params = {
        "cohort": datetime.fromtimestamp(cohort, UTC),
        "currency": currency,
        "k": k,
        "end": datetime.fromtimestamp(end, UTC),
    }
    return run(source, _MEMBERS, params).dicts()


# -- NRR, GRR and the MRR churn rate -------------------------------------------------------------
def _window_sql(lo: str, hi: str, value: str) -> str:
    """``(currency, value)`` over the customers with MRR at ``lo``, seen again at ``hi``:
    ``value`` over ``s`` (their MRR at ``lo``) and ``e`` (at ``hi``, zero if none)."""
    return f"""
WITH s AS ({mrr_at(lo)}), e AS ({mrr_at(hi)})
SELECT s.currency, {value}
FROM s LEFT JOIN e ON e.customer = s.customer AND e.currency = s.currency
GROUP BY s.currency"""  # noqa: S608


def _share(numerator: str) -> str:
    """``numerator`` ÷ the MRR at the start, both summed to the millionth of a unit: the
    quotient then depends on the amounts alone, not on the order a float sum added them in
    (so it is the same live and cached)."""
    return f"round(sum({numerator}), 6) / round(sum(s.mrr), 6)"


_NRR = _share("COALESCE(e.mrr, 0)")
_GRR = _share("least(COALESCE(e.mrr, 0), s.mrr)")
_CHURN = _share("greatest(s.mrr - COALESCE(e.mrr, 0), 0)")
_YEAR_BEFORE = f"({_E} - INTERVAL {NRR_MONTHS} MONTH)"


def _window_series(value: str) -> str:
    """The 12-month value ending at each month's end (or the period's), per month bucket."""
    grid = (
        f"SELECT bucket, least(bucket + INTERVAL 1 MONTH, {_E}) AS hi "  # noqa: S608
        f"FROM (SELECT unnest(range(date_trunc('month', {_S}), {_E}, INTERVAL 1 MONTH)) "
        "AS bucket)"
    )
    return f"""
WITH grid AS ({grid}),
s AS (
  SELECT g.bucket, t.customer, t.currency, sum(t.mrr) AS mrr
  FROM grid g JOIN {MRR_SPANS.table} t
    ON t.span_from < g.hi - INTERVAL {NRR_MONTHS} MONTH
    AND t.span_to >= g.hi - INTERVAL {NRR_MONTHS} MONTH
  GROUP BY ALL HAVING sum(t.mrr) > {EPSILON}
),
e AS (
  SELECT g.bucket, t.customer, t.currency, sum(t.mrr) AS mrr
  FROM grid g JOIN {MRR_SPANS.table} t ON t.span_from < g.hi AND t.span_to >= g.hi
  GROUP BY ALL HAVING sum(t.mrr) > {EPSILON}
)
SELECT s.bucket, s.currency, {value}
FROM s LEFT JOIN e ON e.bucket = s.bucket AND e.customer = s.customer
  AND e.currency = s.currency
GROUP BY s.bucket, s.currency"""  # noqa: S608


_REBUILT = (
    " MRR is rebuilt from subscription invoices as for MRR movements (reconstructed, not "
    "observed). Per currency."
)


def _retention_metric(
    name: str, label: str, definition: str, lo: str, value: str, series: str = ""
) -> Metric:
    return Metric(
        name=name,
        label=label,
        unit=Unit.RATIO,
        definition=definition + _REBUILT,
        datasets=DATASETS,
        ranged=False,
        until_end=("invoices",),
        sql=_window_sql(lo, _E, value),
        series=series,
        drill_dataset="invoices",
        drill_where="subscription IS NOT NULL AND status IN ('paid', 'open') AND created < $end",
        time_column="created",
    )


_NRR_WORDS = (
    "the MRR at the window's end of the customers who had MRR at its start ÷ their MRR at its "
    "start: expansion, contraction, churn and reactivation count, new customers do not; above "
    "100 % when expansion outweighs what was lost."
)
_GRR_WORDS = (
    "as NRR, with each customer's MRR at the end capped at their MRR at the start: only what "
    "was lost (churn and contraction) counts, so it never exceeds 100 %."
)

METRICS: tuple[Metric, ...] = (
    _retention_metric(
        "nrr_12m",
        "Net revenue retention, 12 months",
        f"Over the {NRR_MONTHS} months ending at the period's end, {_NRR_WORDS} Over time, "
        f"each month's point is over the {NRR_MONTHS} months ending with it.",
        _YEAR_BEFORE,
        _NRR,
        _window_series(_NRR),
    ),
    _retention_metric(
        "grr_12m",
        "Gross revenue retention, 12 months",
        f"Over the {NRR_MONTHS} months ending at the period's end, {_GRR_WORDS} Over time, "
        f"each month's point is over the {NRR_MONTHS} months ending with it.",
        _YEAR_BEFORE,
        _GRR,
        _window_series(_GRR),
    ),
    _retention_metric("nrr", "Net revenue retention", f"Over the period, {_NRR_WORDS}", _S, _NRR),
    _retention_metric("grr", "Gross revenue retention", f"Over the period, {_GRR_WORDS}", _S, _GRR),
    _retention_metric(
        "mrr_churn_rate",
        "MRR churn rate",
        "(Churned + contraction MRR) ÷ MRR at the period's start: each customer with MRR at "
        "the start counts what they lost between the start and the end (all of it if they "
        "churned); expansion and new customers do not offset it. It is 1 − GRR over the "
        "period.",
        _S,
        _CHURN,
    ),
)
