"""The derived table behind MRR movements: each customer's MRR, change by change.

``derived_mrr_changes`` holds one row per instant a customer's MRR (in one currency) changes:
``changed_at``, their MRR just before (``before``) and from then on (``after``), in force at the
instants after ``changed_at`` up to the next change. It is built from the MRR spans
(``derived_mrr_spans``): a span ``(span_from, span_to]`` adds its amount at ``span_from`` and
takes it away at ``span_to``; a customer's changes at one instant are added up, and their MRR
is the running total of them (what float sums leave of a zero, a millionth of a unit at most,
is zero). Instants where the total does not move are left out.

So a customer's MRR at an instant is the ``after`` of their last change before it, and the MRR
movements of a period (``movements``) read only the changes in it: the customers who changed,
with their MRR before the first change and after the last, and, for MRR at the period's start,
every earlier change added up per currency, not a row per customer in MRR then.

``paid_before``: for a change from zero (a customer starting or coming back), when their paid
subscription invoices (with something to pay) were created, of those that can be their latest
before an instant between their previous change (to zero) and this one: the ones paid while
at zero, and the latest one before. "New" and "reactivation" are then told apart by the latest
of them before the instant a dashboard looks from, without reading a year of invoices on each
load. The list is empty when they never paid before.
"""

from __future__ import annotations

from flitch.store.derived import Derived


def mrr_changes(spans: Derived) -> Derived:
    """``derived_mrr_changes``, from the spans table ``spans`` builds."""
    return Derived(
        name="mrr_changes",
        inputs=("invoices", spans.table),
        sql=f"""
WITH events AS (
  SELECT customer, currency, span_from AS changed_at, mrr AS change FROM {spans.table}
  UNION ALL
  SELECT customer, currency, span_to, -mrr FROM {spans.table} WHERE isfinite(span_to)
),
summed AS (
  SELECT customer, currency, changed_at, sum(change) AS change FROM events
  GROUP BY customer, currency, changed_at
),
totals AS (
  SELECT customer, currency, changed_at,
    sum(change) OVER (PARTITION BY customer, currency ORDER BY changed_at) AS total
  FROM summed
),
clipped AS (
  SELECT customer, currency, changed_at,
    CASE WHEN total > 1e-6 THEN total ELSE 0 END AS after
  FROM totals
),
chained AS (
  SELECT customer, currency, changed_at,
    COALESCE(lag(after) OVER (PARTITION BY customer, currency ORDER BY changed_at), 0)
      AS before,
    after
  FROM clipped
),
moved AS MATERIALIZED (
  SELECT *,
    lag(changed_at) OVER (PARTITION BY customer, currency ORDER BY changed_at) AS last_change
  FROM chained WHERE after <> before
),
starts AS (
  SELECT customer, currency, changed_at, last_change FROM moved WHERE before = 0
),
paid AS (
  SELECT customer, currency, created FROM invoices
  WHERE subscription IS NOT NULL AND status = 'paid' AND total > 0
    AND customer IN (SELECT customer FROM starts)
),
-- the payments made while the customer was at zero, before this change
at_zero AS (
  SELECT s.customer, s.currency, s.changed_at, list(p.created ORDER BY p.created) AS paid
  FROM starts s JOIN paid p ON p.customer = s.customer AND p.currency = s.currency
    AND p.created < s.changed_at AND (s.last_change IS NULL OR p.created >= s.last_change)
  GROUP BY s.customer, s.currency, s.changed_at
),
-- and, for those coming back, the latest one before they went to zero
restarts AS MATERIALIZED (
  SELECT * FROM starts WHERE last_change IS NOT NULL
),
earlier AS (
  SELECT s.customer, s.currency, s.changed_at, p.created
  FROM restarts s ASOF JOIN (
    SELECT * FROM paid WHERE customer IN (SELECT customer FROM restarts)
  ) p ON p.customer = s.customer AND p.currency = s.currency AND s.last_change > p.created
)
SELECT m.customer, m.currency, m.changed_at, m.before, m.after,
  CASE WHEN m.before = 0
    THEN list_concat(list_filter([e.created], lambda x: x IS NOT NULL), COALESCE(z.paid, []))
  END AS paid_before
FROM moved m
LEFT JOIN at_zero z
  ON z.customer = m.customer AND z.currency = m.currency AND z.changed_at = m.changed_at
LEFT JOIN earlier e
  ON e.customer = m.customer AND e.currency = m.currency AND e.changed_at = m.changed_at
ORDER BY m.changed_at
""",  # noqa: S608
    )
