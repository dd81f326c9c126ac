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
from flitch.metrics.derived import MRR_SPANS, MRR_STARTS
from flitch.metrics.model import (
    Column,
    Family,
    Metric,
    Report,
    Unit,
    family_series,
    from_family,
    sql_text,
)

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
#: Per customer and currency, the month they first became a subscriber (their first start).
FIRSTS = f"""SELECT customer, currency, date_trunc('month', began_at) AS cohort,
  began_at AS first_at
FROM {MRR_STARTS.table} WHERE first AND began_at < {_E}"""  # noqa: S608

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
  SELECT f.currency, f.cohort, cl.k, f.customer, round(sum(s.mrr), 6) AS mrr
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
_YEAR = f"INTERVAL {NRR_MONTHS} MONTH"
#: The instants the family reads each customer's MRR at: the period's ends, the start of the
#: period before, and a year before each end.
_AT = {
    "e": _E,
    "s": _S,
    "p": f"({_S} - ({_E} - {_S}))",
    "ey": f"({_E} - {_YEAR})",
    "sy": f"({_S} - {_YEAR})",
}
#: Per part, each member's window (the instants at its start and end): the period's own
#: values, and the same over the period before (what they are compared with).
_WINDOWS = {
    "period": {"over": ("s", "e"), "year": ("ey", "e")},
    "previous": {"over": ("p", "s"), "year": ("sy", "s")},
}


def _kept(lo: str) -> str:
    """The customers with MRR at the window's start (the only ones a retention counts)."""
    return f"{lo} > {EPSILON}"


def _end(hi: str) -> str:
    """A customer's MRR at the window's end: none below a millionth of a unit."""
    return f"(CASE WHEN {hi} > {EPSILON} THEN {hi} ELSE 0 END)"


def _share(numerator: str, lo: str) -> str:
    """``numerator`` ÷ the MRR at the start, summed over the customers with MRR then, both to
    the millionth of a unit: the quotient then depends on the amounts alone, not on the order
    a float sum added them in (so it is the same live and cached)."""
    kept = _kept(lo)
    return (
        f"round(sum({numerator}) FILTER (WHERE {kept}), 6) / "
        f"round(sum({lo}) FILTER (WHERE {kept}), 6)"
    )


def _nrr(lo: str, hi: str) -> str:
    return _share(_end(hi), lo)


def _grr(lo: str, hi: str) -> str:
    return _share(f"least({_end(hi)}, {lo})", lo)


def _churn(lo: str, hi: str) -> str:
    return _share(f"greatest({lo} - {_end(hi)}, 0)", lo)


def _part(part: str) -> str:
    over = tuple(f"m_{x}" for x in _WINDOWS[part]["over"])
    year = tuple(f"m_{x}" for x in _WINDOWS[part]["year"])
    return (
        f"SELECT '{part}' AS part, NULL::TIMESTAMPTZ AS bucket, currency AS key, "  # noqa: S608
        f"{_nrr(*over)} AS nrr, {_grr(*over)} AS grr, {_churn(*over)} AS mrr_churn_rate, "
        f"{_nrr(*year)} AS nrr_12m, {_grr(*year)} AS grr_12m FROM mrr_at GROUP BY currency"
    )


_MRR_AT = ",\n    ".join(
    f"round(sum(mrr) FILTER (WHERE span_from < {at} AND span_to >= {at}), 6) AS m_{name}"
    for name, at in _AT.items()
)

#: One statement for NRR, GRR and the MRR churn rate over the period, NRR and GRR over the 12
#: months ending with it, each over the period before too, and (with ``$grain``) the 12-month
#: ones at the end of each month of the period: every customer's MRR at each instant is read in
#: one pass over the spans.
_FAMILY_SQL = f"""
WITH mrr_at AS (
  SELECT customer, currency,
    {_MRR_AT}
  FROM {MRR_SPANS.table}
  WHERE span_from < {_E} AND span_to >= least({_AT["p"]}, {_AT["sy"]})
  GROUP BY customer, currency
),
-- with a grain: each month of the period (cut to it), and the twelve months ending with it
grid AS (
  SELECT bucket, least(bucket + INTERVAL 1 MONTH, {_E}) AS hi
  FROM (SELECT unnest(range(date_trunc('month', {_S}), {_E}, INTERVAL 1 MONTH)) AS bucket)
  WHERE $grain IS NOT NULL
),
marks AS (
  SELECT bucket, hi AS moment, false AS opening FROM grid
  UNION ALL SELECT bucket, hi - {_YEAR}, true FROM grid
),
monthly AS (
  SELECT m.bucket, t.customer, t.currency,
    round(sum(t.mrr) FILTER (WHERE m.opening), 6) AS m_lo,
    round(sum(t.mrr) FILTER (WHERE NOT m.opening), 6) AS m_hi
  FROM marks m JOIN {MRR_SPANS.table} t ON t.span_from < m.moment AND t.span_to >= m.moment
  GROUP BY ALL
)
{_part("period")}
UNION ALL
{_part("previous")}
UNION ALL
SELECT 'series', bucket, currency, NULL, NULL, NULL, {_nrr("m_lo", "m_hi")},
  {_grr("m_lo", "m_hi")}
FROM monthly GROUP BY bucket, currency
"""  # noqa: S608

RETENTION_FAMILY = Family(
    name="retention",
    sql=_FAMILY_SQL,
    columns=("nrr", "grr", "mrr_churn_rate", "nrr_12m", "grr_12m"),
)

_REBUILT = (
    " MRR is rebuilt from subscription invoices as for MRR movements (reconstructed, not "
    "observed). Per currency."
)


def _retention_metric(name: str, label: str, definition: str, series: bool = False) -> Metric:
    return Metric(
        name=name,
        label=label,
        unit=Unit.RATIO,
        definition=definition + _REBUILT,
        datasets=DATASETS,
        ranged=False,
        until_end=("invoices",),
        sql=from_family(RETENTION_FAMILY, name),
        family=RETENTION_FAMILY,
        series=family_series(RETENTION_FAMILY, name) if series else "",
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
        series=True,
    ),
    _retention_metric(
        "grr_12m",
        "Gross revenue retention, 12 months",
        f"Over the {NRR_MONTHS} months ending at the period's end, {_GRR_WORDS} Over time, "
        f"each month's point is over the {NRR_MONTHS} months ending with it.",
        series=True,
    ),
    _retention_metric("nrr", "Net revenue retention", f"Over the period, {_NRR_WORDS}"),
    _retention_metric("grr", "Gross revenue retention", f"Over the period, {_GRR_WORDS}"),
    _retention_metric(
        "mrr_churn_rate",
        "MRR churn rate",
        "(Churned + contraction MRR) ÷ MRR at the period's start: each customer with MRR at "
        "the start counts what they lost between the start and the end (all of it if they "
        "churned); expansion and new customers do not offset it. It is 1 − GRR over the "
        "period.",
    ),
)
