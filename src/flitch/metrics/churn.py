"""Subscribers over time: new, churned, and the subscriber churn rate.

A subscription is *paid* from the end of its trial (or its start) until it ended (canceled:
``ended_at``), or, when it is unpaid or paused now, until the start of the period it went
unpaid in (``current_period_start``; Stripe records no time for that change). Subscriptions that
never got past ``incomplete``, or whose MRR is zero (free), are never paid. A customer is a
*subscriber* while at least one of their subscriptions is paid.

Over ``[start, end)``:
- active at the start: subscribers at ``start``;
- new: customers not subscribers at ``start`` who became one in the period (returning
  customers included);
- churned: customers who stopped being subscribers in the period (the last of their paid
  subscriptions ended, with no other one running at that moment); a customer is counted once;
- churn rate = churned ÷ (active at the start + new), Stripe's formula. Stripe shows it over a
  rolling 30 days; here it is over the period picked.

Only subscriptions created before the period's end, and paid at some time from its start on,
are read; their items and discounts come from the typed tables ``subscription_items`` and
``subscription_discounts``.
"""

from __future__ import annotations

from flitch.metrics.model import Family, Metric, Unit, from_family
from flitch.metrics.mrr_sql import subscription_mrr

_DATASETS = ("subscriptions", "prices", "coupons")

# one bucket for the headline, the period's grain buckets for a series
HEADLINE_GRID = (
    "SELECT $start::TIMESTAMPTZ AS bucket, $start::TIMESTAMPTZ AS lo, $end::TIMESTAMPTZ AS hi"
)
SERIES_GRID = """
SELECT bucket, greatest(bucket, $start::TIMESTAMPTZ) AS lo,
  least(bucket + CAST('1 ' || $grain AS INTERVAL), $end::TIMESTAMPTZ) AS hi
FROM (SELECT unnest(range(date_trunc($grain, $start::TIMESTAMPTZ), $end::TIMESTAMPTZ,
                          CAST('1 ' || $grain AS INTERVAL))) AS bucket)
"""


# What a drill-down shows: the subscriptions whose paid time began, or ended, in the period.
_PAID_FROM = "(CASE WHEN trial_end > start_date THEN trial_end ELSE start_date END)"
_PAID_TO = (
    "(CASE WHEN status = 'canceled' THEN COALESCE(ended_at, canceled_at) "
    "WHEN status IN ('unpaid', 'paused') THEN current_period_start END)"
)
# The subscriptions that can matter: created before the end, past incomplete, and paid at some
# time from the start on (a paid time that ended before the start changes no count).
_RELEVANT = (
    "created < $end AND status NOT IN ('incomplete', 'incomplete_expired') "
    f"AND COALESCE({_PAID_TO}, $end) >= $start"
)


def _counts(grid: str) -> str:
    """SQL with the relation ``counts(bucket, active_start, new, churned)``."""
    return (
        subscription_mrr(None, where=_RELEVANT)  # noqa: S608
        + f""",
grid AS ({grid}),
spans AS (
  SELECT m.customer,
    CASE WHEN s.trial_end > s.start_date THEN s.trial_end ELSE s.start_date END AS paid_from,
    CASE WHEN s.status = 'canceled' THEN COALESCE(s.ended_at, s.canceled_at)
         WHEN s.status IN ('unpaid', 'paused') THEN s.current_period_start
    END AS paid_to
  FROM subscription_mrr m JOIN subscriptions s ON s.id = m.subscription
  WHERE m.mrr > 0 AND s.status NOT IN ('incomplete', 'incomplete_expired')
),
paid AS (
  SELECT * FROM spans WHERE paid_from IS NOT NULL AND (paid_to IS NULL OR paid_to > paid_from)
),
per_customer AS (
  SELECT g.bucket, p.customer,
    bool_or(p.paid_from <= g.lo AND (p.paid_to IS NULL OR p.paid_to > g.lo)) AS was_active,
    bool_or(p.paid_from >= g.lo AND p.paid_from < g.hi) AS started
  FROM grid g JOIN paid p ON p.paid_from < g.hi AND (p.paid_to IS NULL OR p.paid_to > g.lo)
  GROUP BY ALL
),
churn_events AS (
  SELECT DISTINCT e.customer, e.paid_to AS at FROM paid e
  WHERE e.paid_to >= $start AND e.paid_to < $end
    AND NOT EXISTS (
      SELECT 1 FROM paid o
      WHERE o.customer = e.customer AND o.paid_from <= e.paid_to
        AND (o.paid_to IS NULL OR o.paid_to > e.paid_to))
),
counts AS (
  SELECT g.bucket,
    (SELECT count(*) FROM per_customer c WHERE c.bucket = g.bucket AND c.was_active)
      AS active_start,
    (SELECT count(*) FROM per_customer c
     WHERE c.bucket = g.bucket AND c.started AND NOT c.was_active) AS new,
    (SELECT count(DISTINCT x.customer) FROM churn_events x WHERE x.at >= g.lo AND x.at < g.hi)
      AS churned
  FROM grid g
)
"""  # noqa: S608
    )


_STARTED = (
    "status NOT IN ('incomplete', 'incomplete_expired') AND created < $end "
    f"AND {_PAID_FROM} >= $start AND {_PAID_FROM} < $end"
)
_ENDED = f"created < $end AND {_PAID_TO} >= $start AND {_PAID_TO} < $end"


#: The three counts in one statement (a dashboard shows all three).
CHURN_FAMILY = Family(
    name="churn",
    sql=_counts(HEADLINE_GRID)
    + """
SELECT 'all' AS key,
  CASE WHEN active_start + new > 0 THEN churned / (active_start + new) END
    AS subscriber_churn_rate,
  churned AS churned_subscribers,
  new AS new_subscribers
FROM counts
""",
    columns=("subscriber_churn_rate", "churned_subscribers", "new_subscribers"),
)


def _churn_metric(name: str, label: str, unit: Unit, definition: str, value: str) -> Metric:
    where = "WHERE active_start + new > 0" if unit is Unit.RATIO else ""
    return Metric(
        name=name,
        label=label,
        unit=unit,
        definition=definition,
        datasets=_DATASETS,
        ranged=False,
        until_end=("subscriptions",),
        sql=from_family(CHURN_FAMILY, name),
        family=CHURN_FAMILY,
        series=_counts(SERIES_GRID) + f"SELECT bucket, 'all', {value} FROM counts {where}",  # noqa: S608
        drill_dataset="subscriptions",
        drill_where=_STARTED if name == "new_subscribers" else _ENDED,
        time_column=_PAID_FROM if name == "new_subscribers" else _PAID_TO,
    )


METRICS: tuple[Metric, ...] = (
    _churn_metric(
        "subscriber_churn_rate",
        "Subscriber churn rate",
        Unit.RATIO,
        "Subscribers who churned in the period ÷ (subscribers at its start + new subscribers "
        "in it). A subscriber churns when the last of their paid subscriptions is canceled "
        "(or goes unpaid or paused); free subscriptions and trials do not count. Stripe shows "
        "this over a rolling 30 days; here it is over the period picked (pick 30 days to "
        "compare).",
        "churned / (active_start + new)",
    ),
    _churn_metric(
        "churned_subscribers",
        "Churned subscribers",
        Unit.COUNT,
        "Customers who stopped being subscribers in the period: the last of their paid "
        "subscriptions ended (canceled, or went unpaid or paused) with no other one running.",
        "churned",
    ),
    _churn_metric(
        "new_subscribers",
        "New subscribers",
        Unit.COUNT,
        "Customers who became subscribers in the period (their first paid subscription, or a "
        "return after churning; a trial counts once it ends and is paid for).",
        "new",
    ),
)
