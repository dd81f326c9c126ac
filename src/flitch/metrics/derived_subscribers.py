"""Derived tables behind subscriber counts: each customer's runs of paid time, and MRR now.

- ``derived_subscriber_runs``: per customer and currency, each stretch of time they were a
  subscriber without a break: their paid times (``subscribers``) that overlap or touch merged
  into one run, from the first one's start (``began``) to the last one's end (``ended``,
  ``infinity`` while it goes on). A customer's runs never overlap, so the subscribers at an
  instant are the runs in force then, counted without grouping by customer; a run beginning is
  a customer becoming a subscriber, a run ending a churn.
- ``derived_subscriber_tally``: per currency, the subscribers just after each instant a run
  began or ended (the running count of runs begun less runs ended), so subscribers at any
  instant are one lookup;
- ``derived_mrr_now``: MRR, ARR, active subscribers, ARPU and the MRR forever coupons take off,
  per currency, as of now: the same whatever period is asked for.

Both come from ``derived_mrr_subscriptions`` (each subscription's MRR and paid time), so a
refresh builds them with it; a live load gets them as ``WITH`` clauses (``store.derived``).
"""

from __future__ import annotations

from flitch.store.derived import Derived

#: The subscriptions that make a customer a subscriber for some time: past ``incomplete``,
#: with MRR, and a paid time that is not empty.
PAID = (
    "status NOT IN ('incomplete', 'incomplete_expired') AND mrr > 0 "
    "AND paid_from IS NOT NULL AND (paid_to IS NULL OR paid_to > paid_from)"
)


def steady(total: str) -> str:
    """A float sum (SQL) to the millionth of a unit before it is rounded or divided: a sum of
    MRR (monthly amounts of yearly prices and the like) adds its terms in whatever order
    DuckDB's threads meet them, so an amount ending in .5 could round up on one run and down on
    the next; to six decimals it is the same every time."""
    return f"round({total}, 6)"


def mrr_columns(part: str, source: str, where: str) -> str:
    """The MRR family's columns per currency over the priced subscriptions of ``source`` that
    match ``where``, as rows of ``part`` (no churn columns)."""
    return f"""SELECT '{part}' AS part, NULL::TIMESTAMPTZ AS bucket, currency AS key,
  round({steady("sum(mrr) FILTER (WHERE mrr > 0)")}) AS mrr,
  round(12 * {steady("sum(mrr) FILTER (WHERE mrr > 0)")}) AS arr,
  nullif(count(DISTINCT customer) FILTER (WHERE mrr > 0), 0) AS active_subscribers,
  round({steady("sum(mrr) FILTER (WHERE mrr > 0)")}
    / count(DISTINCT customer) FILTER (WHERE mrr > 0)) AS arpu,
  round({steady("sum(gross_mrr - mrr) FILTER (WHERE len(forever_coupons) > 0)")})
    AS mrr_coupon_discount,
  NULL AS subscriber_churn_rate, NULL AS churned_subscribers, NULL AS new_subscribers,
  NULL AS subscriber_churn_rate_30d, NULL AS subscriber_ltv
FROM {source} WHERE {where} GROUP BY currency"""  # noqa: S608


def subscriber_runs(subscriptions: str) -> Derived:
    """``derived_subscriber_runs`` from the priced subscriptions table ``subscriptions``."""
    return Derived(
        name="subscriber_runs",
        inputs=(subscriptions,),
        sql=f"""
WITH paid AS (
  SELECT customer, currency, paid_from,
    COALESCE(paid_to, 'infinity'::TIMESTAMPTZ) AS paid_to
  FROM {subscriptions} WHERE {PAID}
),
ordered AS (
  -- a paid time starts a run when none before it (by start) reaches its start
  SELECT *, max(paid_to) OVER (PARTITION BY customer, currency ORDER BY paid_from, paid_to
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
  FROM paid
),
numbered AS (
  SELECT *, sum(CASE WHEN reach >= paid_from THEN 0 ELSE 1 END)
    OVER (PARTITION BY customer, currency ORDER BY paid_from, paid_to
          ROWS UNBOUNDED PRECEDING) AS run
  FROM ordered
)
SELECT customer, currency, min(paid_from) AS began, max(paid_to) AS ended
FROM numbered GROUP BY customer, currency, run
""",  # noqa: S608
    )


def subscriber_tally(runs: str) -> Derived:
    """``derived_subscriber_tally`` from the runs table named ``runs``."""
    return Derived(
        name="subscriber_tally",
        inputs=(runs,),
        sql=f"""
SELECT currency, moment,
  sum(step) OVER (PARTITION BY currency ORDER BY moment ROWS UNBOUNDED PRECEDING) AS active
FROM (
  SELECT currency, moment, sum(step) AS step FROM (
    SELECT currency, began AS moment, 1 AS step FROM {runs}
    UNION ALL
    SELECT currency, ended, -1 FROM {runs} WHERE ended < 'infinity'::TIMESTAMPTZ
  ) GROUP BY currency, moment
)
""",  # noqa: S608
    )


def mrr_now(subscriptions: str, statuses: str) -> Derived:
    """``derived_mrr_now`` from the priced subscriptions table ``subscriptions``: those whose
    status is in ``statuses`` (an SQL list) are in MRR now."""
    return Derived(
        name="mrr_now",
        inputs=(subscriptions,),
        sql=mrr_columns("period", subscriptions, f"status IN {statuses}"),
    )
