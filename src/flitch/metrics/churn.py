"""Subscribers over time: new, churned, and the subscriber churn rate.

Who is a subscriber when is defined in ``subscribers`` (a customer with a paid subscription).
Over a window ``[lo, hi)``:
- active at the start: subscribers at ``lo``;
- new: customers not subscribers at ``lo`` who became one in the window (returning customers
  included);
- churned: customers who stopped being subscribers in the window (the last of their paid
  subscriptions ended, with no other one running at that moment); a customer is counted once;
- churn rate = churned ÷ (active at the start + new), Stripe's formula.

The headline numbers come from ``SUBSCRIBER_FAMILY``: over the period picked, and over the 30
days ending at its end (the rolling window Stripe's Dashboard shows). Series: one window per
bucket of the grain.

Only subscriptions created before the window's end, and paid at some time from its start on,
matter; their items and discounts come from the typed tables ``subscription_items`` and
``subscription_discounts``.
"""

from __future__ import annotations

from flitch.metrics.model import Metric, Unit, from_family
from flitch.metrics.mrr_sql import subscription_mrr
from flitch.metrics.subscribers import PAID_FROM, PAID_TO, ROLLING_DAYS, SUBSCRIBER_FAMILY

_DATASETS = ("subscriptions", "prices", "coupons")

# the period's grain buckets, each cut to the period
SERIES_GRID = """
SELECT bucket, greatest(bucket, $start::TIMESTAMPTZ) AS lo,
  least(bucket + CAST('1 ' || $grain AS INTERVAL), $end::TIMESTAMPTZ) AS hi
FROM (SELECT unnest(range(date_trunc($grain, $start::TIMESTAMPTZ), $end::TIMESTAMPTZ,
                          CAST('1 ' || $grain AS INTERVAL))) AS bucket)
"""

# The subscriptions that can matter: created before the end, past incomplete, and paid at some
# time from the start on (a paid time that ended before the start changes no count).
_RELEVANT = (
    "created < $end AND status NOT IN ('incomplete', 'incomplete_expired') "
    f"AND COALESCE({PAID_TO}, $end) >= $start"
)


_CARRY = (("paid_from", PAID_FROM), ("paid_to", PAID_TO))


def _series_counts() -> str:
    """SQL with the relation ``counts(bucket, active_start, new, churned)``, per bucket."""
    return (
        subscription_mrr(None, where=_RELEVANT, carry=_CARRY)  # noqa: S608
        + f""",
grid AS ({SERIES_GRID}),
paid AS (
  SELECT customer, paid_from, paid_to FROM subscription_mrr
  WHERE mrr > 0 AND paid_from IS NOT NULL AND (paid_to IS NULL OR paid_to > paid_from)
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
    f"AND {PAID_FROM} >= $start AND {PAID_FROM} < $end"
)
_ENDED = f"created < $end AND {PAID_TO} >= $start AND {PAID_TO} < $end"
_ENDED_ROLLING = (
    f"created < $end AND {PAID_TO} >= $end - INTERVAL {ROLLING_DAYS} DAY AND {PAID_TO} < $end"
)


def _churn_metric(
    name: str, label: str, unit: Unit, definition: str, value: str, drill: str, time_column: str
) -> Metric:
    where = "WHERE active_start + new > 0" if unit is Unit.RATIO else ""
    return Metric(
        name=name,
        label=label,
        unit=unit,
        definition=definition,
        datasets=_DATASETS,
        ranged=False,
        until_end=("subscriptions",),
        sql=from_family(SUBSCRIBER_FAMILY, name),
        family=SUBSCRIBER_FAMILY,
        series=(
            _series_counts() + f"SELECT bucket, 'all', {value} FROM counts {where}"  # noqa: S608
            if value
            else ""
        ),
        drill_dataset="subscriptions",
        drill_where=drill,
        time_column=time_column,
    )


_RULES = (
    "A subscriber churns when the last of their paid subscriptions is canceled (or goes "
    "unpaid or paused); free subscriptions and trials do not count."
)

METRICS: tuple[Metric, ...] = (
    _churn_metric(
        "subscriber_churn_rate",
        "Subscriber churn rate",
        Unit.RATIO,
        "Subscribers who churned in the period ÷ (subscribers at its start + new subscribers "
        f"in it). {_RULES} Over the period picked; the rolling 30-day rate beside it is the "
        "one Stripe's Dashboard shows.",
        "churned / (active_start + new)",
        _ENDED,
        PAID_TO,
    ),
    _churn_metric(
        "subscriber_churn_rate_30d",
        "Subscriber churn rate, rolling 30 days",
        Unit.RATIO,
        f"Stripe's churn rate: subscribers who churned in the {ROLLING_DAYS} days ending at the "
        f"period's end ÷ (subscribers {ROLLING_DAYS} days before that end + new subscribers in "
        f"those days), whatever the period picked. {_RULES} Compared with the {ROLLING_DAYS} "
        "days ending at the period's start.",
        "",
        _ENDED_ROLLING,
        PAID_TO,
    ),
    _churn_metric(
        "churned_subscribers",
        "Churned subscribers",
        Unit.COUNT,
        "Customers who stopped being subscribers in the period: the last of their paid "
        "subscriptions ended (canceled, or went unpaid or paused) with no other one running.",
        "churned",
        _ENDED,
        PAID_TO,
    ),
    _churn_metric(
        "new_subscribers",
        "New subscribers",
        Unit.COUNT,
        "Customers who became subscribers in the period (their first paid subscription, or a "
        "return after churning; a trial counts once it ends and is paid for).",
        "new",
        _STARTED,
        PAID_FROM,
    ),
)
