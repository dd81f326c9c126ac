"""Tables derived from the datasets for the MRR metrics, built once per version of the data.

They hold the work that does not depend on the period asked for, so that a dashboard load only
reads the rows of its window:

- ``derived_mrr_subscriptions``: each subscription's MRR now (``mrr_sql``), with what the
  subscriber counts need (when it was created, its paid time) and its current period;
- ``derived_mrr_spans``: each subscription's MRR over time, rebuilt from the invoices that
  billed it, as spans ``(span_from, span_to]`` of one amount (consecutive periods of the same
  amount make one span); a subscription in MRR now runs on past them at its MRR now, its last
  span ending at ``infinity``. ``movements`` says what is counted;
- ``derived_mrr_items`` and ``derived_customer_countries``: what segments of MRR split by
  (``derived_segments``).

A refresh builds them into the version it publishes; a live load, or a cache written before
they existed, gets them as ``WITH`` clauses of the statements that read them (``store.derived``):
the same SQL either way, so a number is the same live or cached.
"""

from __future__ import annotations

from collections.abc import Callable

from flitch.metrics.derived_movements import mrr_changes
from flitch.metrics.derived_segments import DERIVED_SEGMENTS
from flitch.metrics.derived_starts import mrr_starts
from flitch.metrics.derived_subscribers import mrr_now, subscriber_runs, subscriber_tally
from flitch.metrics.model import sql_list
from flitch.metrics.mrr_sql import MRR_STATUSES, monthly_factor, subscription_mrr
from flitch.store.derived import Derived, inline, needed

#: Billing periods longer than this (2- and 3-year plans) are not rebuilt from invoices: a live
#: load reads invoices from this many days before its period (``movements.LOOKBACK_DAYS``), so
#: an invoice billing such a period may be out of its reach. Their current period stands.
LONGEST_PERIOD_DAYS = 400

#: Prices billing less often than every ``LONGEST_PERIOD_DAYS``.
_LONG_PRICES = (
    "(SELECT id FROM prices "  # noqa: S608
    "WHERE (recurring_interval = 'year' AND recurring_interval_count > 1) "
    "OR (recurring_interval = 'month' AND recurring_interval_count > 13) "
    "OR (recurring_interval = 'week' AND recurring_interval_count > 57) "
    f"OR (recurring_interval = 'day' AND recurring_interval_count > {LONGEST_PERIOD_DAYS}))"
)

#: When a subscription's paid time starts and ends (SQL over the subscriptions table).
PAID_FROM = "(CASE WHEN trial_end > start_date THEN trial_end ELSE start_date END)"
PAID_TO = (
    "(CASE WHEN status = 'canceled' THEN COALESCE(ended_at, canceled_at) "
    "WHEN status IN ('unpaid', 'paused') THEN current_period_start END)"
)

MRR_SUBSCRIPTIONS = Derived(
    name="mrr_subscriptions",
    inputs=("subscriptions", "subscription_items", "subscription_discounts", "prices", "coupons"),
    sql=subscription_mrr(  # noqa: S608
        None,
        carry=(
            ("created", "created"),
            ("paid_from", PAID_FROM),
            ("paid_to", PAID_TO),
            ("period_start", "current_period_start"),
            ("period_end", "current_period_end"),
            ("ended_at", "ended_at"),
            ("long", f"price IN {_LONG_PRICES}"),
        ),
    )
    + "SELECT * FROM subscription_mrr",
)

_FACTOR = monthly_factor("pr.recurring_interval", "COALESCE(pr.recurring_interval_count, 1)")
#: Where rows overlap, the newest period wins, then the newest invoice.
_RANK = "{'p': r.p_start, 'c': r.created, 'i': COALESCE(r.invoice, '')}"

MRR_SPANS = Derived(
    name="mrr_spans",
    inputs=(
        "invoices",
        "invoice_lines",
        "invoice_discount_amounts",
        "subscriptions",
        "subscription_discounts",
        "prices",
        "coupons",
        MRR_SUBSCRIPTIONS.table,
    ),
    sql=f"""
WITH retried AS (
  SELECT id FROM subscriptions WHERE status IN {sql_list(MRR_STATUSES)}
),
known AS (
  -- subscriptions Stripe's list shows: those it hides (on test clocks) are left out here as
  -- they are from MRR, though their invoices are listed
  SELECT id FROM subscriptions
),
inv AS (
  SELECT i.id, i.customer, i.currency, i.subscription, i.created
  FROM invoices i SEMI JOIN known k ON k.id = i.subscription
  WHERE i.status = 'paid'
  UNION ALL
  SELECT i.id, i.customer, i.currency, i.subscription, i.created
  FROM invoices i SEMI JOIN retried r ON r.id = i.subscription
  WHERE i.status = 'open'
),
inv_lines AS (
  -- per invoice, its recurring, licensed lines (prorations left out) normalised to a month
  SELECT l.invoice, min(l.period_start) AS p_start, max(l.period_end) AS p_end,
    sum(l.amount * {_FACTOR}) AS monthly, sum(l.amount) AS amount
  FROM invoice_lines l JOIN prices pr ON pr.id = l.price
  WHERE NOT COALESCE(l.proration, false)
    AND pr.type = 'recurring' AND COALESCE(pr.recurring_usage_type, 'licensed') = 'licensed'
    AND pr.id NOT IN {_LONG_PRICES}
  GROUP BY l.invoice
  HAVING max(l.period_end) - min(l.period_start) <= INTERVAL {LONGEST_PERIOD_DAYS} DAY
),
forever_off AS (
  -- a forever coupon on the invoice, as MRR now applies it: a percentage off the licensed lines
  -- (the invoice's discount amount also covers metered and one-off lines), or an amount off
  -- taken whole from them
  SELECT a.invoice, max(c.percent_off) AS percent_off,
    sum(a.amount) FILTER (WHERE c.percent_off IS NULL) AS off
  FROM invoice_discount_amounts a
  JOIN subscription_discounts d ON d.id = a.discount
  JOIN coupons c ON c.id = d.coupon AND c.duration = 'forever'
  GROUP BY a.invoice
),
billed AS MATERIALIZED (
  SELECT i.id AS invoice, i.customer, i.currency, i.subscription, i.created, l.p_start,
    CASE WHEN s.ended_at < l.p_end THEN s.ended_at ELSE l.p_end END AS cover_to,
    greatest(0, l.monthly * (1 - COALESCE(f.percent_off, 0) / 100.0)
      - COALESCE(f.off * l.monthly / nullif(l.amount, 0), 0)) AS mrr
  FROM inv i JOIN inv_lines l ON l.invoice = i.id
  LEFT JOIN forever_off f ON f.invoice = i.id
  LEFT JOIN (SELECT id, ended_at FROM subscriptions WHERE ended_at IS NOT NULL) s
    ON s.id = i.subscription
  UNION ALL
  -- 2- and 3-year plans: their current period, at their items and forever coupons
  SELECT NULL, customer, currency, subscription, period_start, period_start,
    CASE WHEN ended_at < period_end THEN ended_at ELSE period_end END, mrr
  FROM {MRR_SUBSCRIPTIONS.table}
  WHERE long AND status IN ('active', 'past_due', 'canceled')
),
billed_to AS (
  SELECT subscription, max(cover_to) AS last_to FROM billed WHERE cover_to > p_start
  GROUP BY subscription
),
rows AS MATERIALIZED (
  SELECT * FROM billed
  UNION ALL
  -- a subscription in MRR now (active, or past_due: being retried) has not churned, whatever
  -- its invoices say: from the end of what they billed (or its current period's start, if
  -- later) it runs on at its MRR now, until it ends. A renewal whose invoice is still a draft,
  -- or a period ending later today, is no churn.
  SELECT NULL, m.customer, m.currency, m.subscription, m.period_start,
    greatest(m.period_start, b.last_to), 'infinity'::TIMESTAMPTZ, m.mrr
  FROM {MRR_SUBSCRIPTIONS.table} m LEFT JOIN billed_to b ON b.subscription = m.subscription
  WHERE m.status IN {sql_list(MRR_STATUSES)}
),
ordered AS (
  SELECT subscription, p_start,
    max(cover_to) OVER (PARTITION BY subscription ORDER BY p_start, cover_to
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_to
  FROM rows WHERE cover_to > p_start
),
-- Most subscriptions' rows follow one another without overlapping: each row is a piece. Where
-- rows overlap, the span between two consecutive boundaries goes to the covering row with the
-- newest period, then the newest invoice.
overlapping AS (
  SELECT DISTINCT subscription FROM ordered WHERE before_to > p_start
),
bounds AS (
  SELECT DISTINCT r.subscription, unnest([r.p_start, r.cover_to]) AS moment
  FROM rows r SEMI JOIN overlapping o ON o.subscription = r.subscription
  WHERE r.cover_to > r.p_start
),
elementary AS (
  SELECT subscription, moment AS f,
    lead(moment) OVER (PARTITION BY subscription ORDER BY moment) AS t
  FROM bounds QUALIFY t IS NOT NULL
),
pieces AS (
  SELECT r.subscription, r.customer, r.currency, r.p_start AS f, r.cover_to AS t, r.mrr
  FROM rows r ANTI JOIN overlapping o ON o.subscription = r.subscription
  WHERE r.cover_to > r.p_start
  UNION ALL
  SELECT e.subscription, any_value(r.customer), any_value(r.currency), e.f, e.t,
    arg_max(r.mrr, {_RANK})
  FROM elementary e JOIN rows r ON r.subscription = e.subscription AND r.p_start <= e.f
    AND r.cover_to >= e.t
  GROUP BY e.subscription, e.f, e.t
),
-- consecutive pieces of the same amount, end to end, make one span
marked AS (
  SELECT *, CASE WHEN lag(t) OVER w = f AND lag(mrr) OVER w = mrr THEN 0 ELSE 1 END AS starts
  FROM pieces WINDOW w AS (PARTITION BY subscription ORDER BY f)
),
numbered AS (
  SELECT *, sum(starts) OVER (PARTITION BY subscription ORDER BY f) AS span FROM marked
)
SELECT subscription, any_value(customer) AS customer, any_value(currency) AS currency,
  min(f) AS span_from, max(t) AS span_to, any_value(mrr) AS mrr
FROM numbered
GROUP BY subscription, span
HAVING any_value(mrr) > 0
""",  # noqa: S608
)

#: Each customer's MRR change by change (``derived_movements``).
MRR_CHANGES = mrr_changes(MRR_SPANS)

#: The instants customers became subscribers (``derived_starts``).
MRR_STARTS = mrr_starts(MRR_SPANS.table)
#: Each customer's runs of paid time, and MRR now (``derived_subscribers``).
SUBSCRIBER_RUNS = subscriber_runs(MRR_SUBSCRIPTIONS.table)
SUBSCRIBER_TALLY = subscriber_tally(SUBSCRIBER_RUNS.table)
MRR_NOW = mrr_now(MRR_SUBSCRIPTIONS.table, sql_list(MRR_STATUSES))

DERIVED: tuple[Derived, ...] = (
    MRR_SUBSCRIPTIONS,
    SUBSCRIBER_RUNS,
    SUBSCRIBER_TALLY,
    MRR_NOW,
    MRR_SPANS,
    *DERIVED_SEGMENTS,
    MRR_CHANGES,
    MRR_STARTS,
)


def with_derived(sql: str, present: Callable[[str], bool]) -> str:
    """``sql`` ready to run on a database holding the tables ``present`` says: the derived
    tables it reads that are not held come as ``WITH`` clauses of the statement."""
    return inline(sql, needed(sql, DERIVED, present))
