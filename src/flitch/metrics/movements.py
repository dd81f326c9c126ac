"""MRR movements — new, expansion, contraction, churned, reactivation — rebuilt from invoices.

A subscription object only shows the present, so MRR in the past is rebuilt from the invoices
that billed it (every month shown is therefore *reconstructed*, not observed):

- each paid subscription invoice (or open one, while its subscription is active or past_due:
  the invoice being retried) gives its subscription an MRR: its recurring,
  licensed lines (prorations, metered and one-off lines left out) normalised to a month by
  their price's interval, less the share of forever coupons in the invoice's discounts;
- that MRR holds over the period its lines bill (``period.start`` → ``period.end``), cut short
  when the subscription ended; the newest invoice wins where two overlap;
- MRR "at" an instant is the MRR in force just before it, summed per customer and currency.

Between two instants each customer's change is one movement: *new* (from zero, never paid
before), *reactivation* (from zero, paid before), *expansion* / *contraction* (up / down), or
*churned* (to zero). Growth = new + reactivation + expansion − contraction − churned, and MRR at
the end = MRR at the start + growth, exactly.

What is read: the lines (``invoice_lines``) and discount amounts (``invoice_discount_amounts``)
of every subscription invoice created from 45 days before the period (a monthly period and
slack), typed tables written with the invoices, so no invoice's JSON is parsed; a subscription
billed less often (quarterly, yearly…) whose current period began before that is taken from its
current period and items instead, so old invoices are never read. "Paid before"
(reactivation) looks at paid subscription invoices of the 400 days before the period.

Most subscriptions bill the same MRR period after period, their rows end to end: such a *flat*
subscription's MRR is one amount over one span, and its changes are worked out from that span
alone; only the others are evaluated row by row.

An invoice with more lines than Stripe embeds in a listed invoice (``lines.has_more``; its rows
in ``invoice_lines`` say ``truncated``) counts only the lines embedded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.model import Column, Report, Unit, sql_list, sql_text
from flitch.metrics.mrr_sql import MRR_STATUSES, monthly_factor, subscription_mrr

#: Days of invoices read before the period.
LOOKBACK_DAYS = 400
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churned")
_GRAIN = "CAST('1 ' || $grain AS INTERVAL)"
_FACTOR = monthly_factor("pr.recurring_interval", "COALESCE(pr.recurring_interval_count, 1)")

#: Where rows overlap, the newest period wins, then the newest invoice.
_RANK = "{'p': c.p_start, 'c': c.created, 'i': COALESCE(c.invoice, '')}"
#: Invoices created this many days before the period are read in full (a month and slack).
WINDOW_DAYS = 45
#: Prices billed less often than every ``WINDOW_DAYS``: quarterly, yearly…
_LONG_PRICES = (
    "(SELECT id FROM prices WHERE recurring_interval = 'year' "
    "OR (recurring_interval = 'month' AND recurring_interval_count >= 2) "
    "OR (recurring_interval = 'week' AND recurring_interval_count >= 7) "
    "OR (recurring_interval = 'day' AND recurring_interval_count > 45))"
)
# Subscriptions billed less often, whose current period began before the window: their MRR
# over that period is the subscription's own (its items, its forever coupons).
_LONG = subscription_mrr(
    None,
    where=f"price IN {_LONG_PRICES} AND status IN ('active', 'past_due', 'canceled') "
    f"AND current_period_start < $start - INTERVAL {WINDOW_DAYS} DAY",
)

_SQL = (
    _LONG  # noqa: S608
    + f""",
retried AS (
  SELECT id FROM subscriptions WHERE status IN {sql_list(MRR_STATUSES)}
),
inv AS (
  SELECT i.id, i.customer, i.currency, i.subscription, i.created
  FROM invoices i
  WHERE i.subscription IS NOT NULL AND i.status = 'paid'
    AND i.created >= $start - INTERVAL {WINDOW_DAYS} DAY AND i.created < $end
  UNION ALL
  SELECT i.id, i.customer, i.currency, i.subscription, i.created
  FROM invoices i SEMI JOIN retried r ON r.id = i.subscription
  WHERE i.status = 'open'
    AND i.created >= $start - INTERVAL {WINDOW_DAYS} DAY AND i.created < $end
),
inv_lines AS (
  -- per invoice, its recurring, licensed lines (prorations left out) normalised to a month
  SELECT l.invoice, min(l.period_start) AS p_start, max(l.period_end) AS p_end,
    sum(l.amount * {_FACTOR}) AS monthly, sum(l.amount) AS amount
  FROM invoice_lines l JOIN prices pr ON pr.id = l.price
  WHERE l.invoice_created >= $start - INTERVAL {WINDOW_DAYS} DAY AND l.invoice_created < $end
    AND NOT COALESCE(l.proration, false)
    AND pr.type = 'recurring' AND COALESCE(pr.recurring_usage_type, 'licensed') = 'licensed'
  GROUP BY l.invoice
),
forever_off AS (
  SELECT a.invoice, sum(a.amount) AS off
  FROM invoice_discount_amounts a
  JOIN subscription_discounts d ON d.id = a.discount
  JOIN coupons c ON c.id = d.coupon AND c.duration = 'forever'
  WHERE a.invoice IN (SELECT id FROM inv)
  GROUP BY a.invoice
),
inv_mrr AS (
  SELECT i.id AS invoice, i.customer, i.currency, i.subscription, i.created, r.p_start,
    r.p_end, r.monthly * (1 - least(1, COALESCE(f.off / nullif(r.amount, 0), 0))) AS mrr
  FROM inv i JOIN inv_lines r ON r.invoice = i.id
  LEFT JOIN forever_off f ON f.invoice = i.id
),
rows AS (
  SELECT m.invoice, m.customer, m.currency, m.subscription, m.created, m.p_start, m.mrr,
    CASE WHEN s.ended_at < m.p_end THEN s.ended_at ELSE m.p_end END AS cover_to
  FROM inv_mrr m
  LEFT JOIN (SELECT id, ended_at FROM subscriptions WHERE ended_at IS NOT NULL) s
    ON s.id = m.subscription
  UNION ALL
  SELECT NULL, l.customer, l.currency, l.subscription, s.current_period_start,
    s.current_period_start, l.mrr,
    CASE WHEN s.ended_at < s.current_period_end THEN s.ended_at ELSE s.current_period_end END
  FROM subscription_mrr l JOIN subscriptions s ON s.id = l.subscription
),
covered AS MATERIALIZED (
  SELECT * FROM rows WHERE cover_to >= $start
),
points AS (
  SELECT DISTINCT ts FROM (
    SELECT $start::TIMESTAMPTZ AS ts
    UNION ALL SELECT $end::TIMESTAMPTZ
    UNION ALL SELECT unnest(range(date_trunc($grain, $start::TIMESTAMPTZ) + {_GRAIN},
                                  $end::TIMESTAMPTZ, {_GRAIN}))
  )
),
steps AS (
  SELECT lag(ts) OVER (ORDER BY ts) AS prev_ts, ts FROM points QUALIFY prev_ts IS NOT NULL
),
-- Most subscriptions bill the same MRR period after period: rows end to end, no gap, no
-- overlap. Such a *flat* subscription's MRR is ``mrr`` over (p_from, p_to] and zero outside,
-- so it is worked out from those three values. A row of it starts where another ends
-- (``joined``), save the first; their lengths add up to the whole span (no overlap).
joined AS (
  SELECT c.subscription, count(*) AS n FROM covered c
  WHERE EXISTS (SELECT 1 FROM covered d
                WHERE d.subscription = c.subscription AND d.cover_to = c.p_start)
  GROUP BY c.subscription
),
shape AS (
  SELECT c.subscription, any_value(c.customer) AS customer, any_value(c.currency) AS currency,
    min(c.p_start) AS p_from, max(c.cover_to) AS p_to, min(c.mrr) AS mrr,
    min(c.mrr) = max(c.mrr) AND min(c.length) > 0
      AND sum(c.length) = epoch_us(max(c.cover_to)) - epoch_us(min(c.p_start))
      AND count(*) = COALESCE(any_value(j.n), 0) + 1 AS flat
  FROM (SELECT subscription, customer, currency, p_start, cover_to, mrr,
          epoch_us(cover_to) - epoch_us(p_start) AS length FROM covered) c
  LEFT JOIN joined j ON j.subscription = c.subscription
  GROUP BY c.subscription
),
-- A row covers the instants in (p_start, cover_to], so a subscription's MRR can differ between
-- two instants only if one of its rows starts or ends in between. Its MRR is computed at the
-- start, where it is covered, and then only at the instant following such a change (``ts``),
-- less its MRR at the instant before (``prev``); what did not change is left out.
-- At an instant, the covering row with the newest period wins, then the newest invoice.
evals AS (
  SELECT DISTINCT least(date_trunc($grain, moment) + {_GRAIN}, $end::TIMESTAMPTZ) AS ts,
    greatest(date_trunc($grain, moment), $start::TIMESTAMPTZ) AS prev, subscription
  FROM (SELECT c.subscription, unnest([c.p_start, c.cover_to]) AS moment
        FROM covered c SEMI JOIN shape s ON s.subscription = c.subscription AND NOT s.flat)
  WHERE moment >= $start AND moment < $end
),
flat_evals AS (
  -- a flat subscription changes where its span begins and ends, if in the period
  SELECT ts, customer, currency,
    CASE WHEN p_from < ts AND p_to >= ts THEN mrr ELSE 0 END
    - CASE WHEN p_from < prev AND p_to >= prev THEN mrr ELSE 0 END AS change
  FROM (
    SELECT DISTINCT least(date_trunc($grain, moment) + {_GRAIN}, $end::TIMESTAMPTZ) AS ts,
      greatest(date_trunc($grain, moment), $start::TIMESTAMPTZ) AS prev,
      subscription, customer, currency, p_from, p_to, mrr
    FROM (SELECT *, unnest([p_from, p_to]) AS moment FROM shape WHERE flat)
    WHERE moment >= $start AND moment < $end
  )
),
sub_changes AS (
  -- at the start, each covered subscription's MRR
  SELECT $start::TIMESTAMPTZ AS ts, customer, currency, mrr AS change
  FROM shape WHERE flat AND p_from < $start AND p_to >= $start
  UNION ALL
  SELECT $start::TIMESTAMPTZ AS ts, any_value(c.customer) AS customer,
    any_value(c.currency) AS currency, arg_max(c.mrr, {_RANK}) AS change
  FROM covered c SEMI JOIN shape s ON s.subscription = c.subscription AND NOT s.flat
  WHERE c.p_start < $start AND c.cover_to >= $start
  GROUP BY c.subscription
  UNION ALL
  -- then its changes, where there are some
  SELECT * FROM flat_evals WHERE change <> 0
  UNION ALL
  SELECT * FROM (
    SELECT e.ts, any_value(c.customer), any_value(c.currency),
      COALESCE(arg_max(c.mrr, {_RANK}) FILTER (WHERE c.cover_to >= e.ts), 0)
      - COALESCE(arg_max(c.mrr, {_RANK}) FILTER (WHERE c.p_start < e.prev), 0) AS change
    FROM evals e
    JOIN covered c ON c.subscription = e.subscription AND c.p_start < e.ts
      AND c.cover_to >= e.prev
    GROUP BY e.ts, e.subscription
  ) WHERE change <> 0
),
-- a customer's MRR at each instant one of their subscriptions changed at: the changes of their
-- subscriptions added up, nothing below zero
cust_changes AS (
  SELECT customer, currency, ts, sum(change) AS change FROM sub_changes GROUP BY ALL
),
movers AS (
  SELECT DISTINCT customer, currency FROM cust_changes WHERE ts > $start
),
cust_at AS (
  -- most customers only have an MRR at the start: their total is that
  SELECT c.customer, c.currency, c.ts, c.change AS total, c.change FROM cust_changes c
  ANTI JOIN movers m ON m.customer = c.customer AND m.currency = c.currency
  UNION ALL
  SELECT c.customer, c.currency, c.ts,
    sum(c.change) OVER (PARTITION BY c.customer, c.currency ORDER BY c.ts) AS total, c.change
  FROM cust_changes c SEMI JOIN movers m ON m.customer = c.customer AND m.currency = c.currency
),
timeline AS MATERIALIZED (
  -- what float sums leave of a zero (a millionth of a unit at most) is zero
  SELECT customer, currency, ts,
    CASE WHEN total > 1e-6 THEN total ELSE 0 END AS mrr,
    CASE WHEN total - change > 1e-6 THEN total - change ELSE 0 END AS before
  FROM cust_at
),
first_paid AS (
  SELECT customer, currency, min(created) AS first_at FROM invoices
  WHERE subscription IS NOT NULL AND status = 'paid' AND total > 0
    AND created >= $start - INTERVAL {LOOKBACK_DAYS} DAY AND created < $end
    AND customer IN (SELECT customer FROM timeline WHERE before = 0 AND ts > $start)
  GROUP BY ALL
),
changes AS (
  SELECT date_trunc($grain, st.prev_ts) AS bucket, t.currency, t.customer, t.before,
    t.mrr AS after, f.first_at, st.prev_ts
  FROM timeline t JOIN steps st ON st.ts = t.ts
  LEFT JOIN first_paid f ON f.customer = t.customer AND f.currency = t.currency
  WHERE abs(t.mrr - t.before) > 1e-6
),
kinds AS (
  SELECT bucket, currency, customer, after - before AS amount,
    CASE WHEN before = 0 AND first_at < prev_ts THEN 'reactivation'
         WHEN before = 0 THEN 'new'
         WHEN after = 0 THEN 'churned'
         WHEN after > before THEN 'expansion'
         ELSE 'contraction' END AS movement
  FROM changes
),
-- MRR at each instant: the changes up to it, from zero before the start
deltas AS (
  SELECT ts, currency, sum(mrr - before) AS amount,
    sum(CAST(mrr > 0 AS INTEGER) - CAST(before > 0 AS INTEGER)) AS customers
  FROM timeline GROUP BY ALL
),
snap AS (
  SELECT p.ts, d.currency, sum(d.amount) AS amount, sum(d.customers) AS customers
  FROM points p JOIN deltas d ON d.ts <= p.ts
  GROUP BY ALL
)
-- amounts to the millionth of a unit: which way a float sum rounds a half then depends on the
-- amounts alone, not on the order they were added in
SELECT bucket, currency, movement, round(sum(amount), 6) AS amount, count(*) AS customers
FROM kinds GROUP BY ALL
UNION ALL
SELECT ts AS bucket, currency, 'mrr' AS movement, round(amount, 6), customers
FROM snap WHERE customers > 0
ORDER BY bucket, currency, movement
"""  # noqa: S608
)


def _summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows per bucket, rounded, then per currency the period's waterfall (``bucket``
    None): MRR at the start, each movement, growth, MRR at the end (the start plus the
    movements as shown, which may differ by a unit from the rounded snapshot)."""
    out: list[dict[str, Any]] = []
    totals: dict[str, dict[str, float]] = {}
    snapshots = [str(r["bucket"]) for r in rows if r["movement"] == "mrr"]
    first, last = min(snapshots, default=None), max(snapshots, default=None)
    for r in rows:
        out.append({**r, "amount": round(r["amount"] or 0), "reconstructed": True})
        cur = totals.setdefault(str(r["currency"]), {})
        if r["movement"] == "mrr":
            if str(r["bucket"]) == first:
                cur["mrr_start"] = r["amount"]
            if str(r["bucket"]) == last:
                cur["mrr_end"] = r["amount"]
        else:
            cur[r["movement"]] = cur.get(r["movement"], 0.0) + r["amount"]
    for currency, cur in sorted(totals.items()):
        # whole minor units first, so that the waterfall adds up exactly as shown
        steps = {m: round(cur.get(m, 0.0)) for m in ("mrr_start", *MOVEMENTS)}
        steps["growth"] = sum(steps[m] for m in MOVEMENTS)
        steps["mrr_end"] = steps["mrr_start"] + steps["growth"]
        for key, value in steps.items():
            out.append(
                {
                    "bucket": None,
                    "currency": currency,
                    "movement": key,
                    "amount": value,
                    "customers": None,
                    "reconstructed": True,
                }
            )
    return out


def _drill(row: Mapping[str, Any]) -> tuple[str, str]:
    cond = [
        "subscription IS NOT NULL AND status IN ('paid', 'open')",
        f"created >= $start - INTERVAL {LOOKBACK_DAYS} DAY AND created < $end",
    ]
    if row.get("currency"):
        cond.append(f"currency = {sql_text(str(row['currency']))}")
    return "invoices", " AND ".join(cond)


MRR_MOVEMENTS = Report(
    name="mrr_movements",
    label="MRR movements",
    definition=(
        "How MRR changed, rebuilt from subscription invoices (every month shown is "
        "reconstructed, not observed): each paid invoice's (or, while the subscription is "
        "active or past_due, open invoice's) recurring, licensed lines "
        "normalised to a month, less forever coupons, hold over the period they bill. Per "
        "customer and currency between two instants: new (from zero, first time), "
        "reactivation (from zero, paid before), expansion, contraction, churned (to zero). "
        "Growth = new + reactivation + expansion − contraction − churned; MRR at the end = "
        "MRR at the start + growth. Prorations, metered usage and taxes are left out. "
        "Quarterly and yearly subscriptions whose current period began more than 45 days "
        'before the period are taken from that period and their items; "paid before" '
        "looks back 400 days."
    ),
    datasets=("invoices", "prices", "subscriptions", "coupons"),
    sql=_SQL,
    columns=(
        Column("bucket", "From"),
        Column("currency", "Currency"),
        Column("movement", "Movement"),
        Column("amount", "MRR", Unit.MONEY),
        Column("customers", "Customers", Unit.COUNT),
    ),
    drill=_drill,
    ranged=False,
    until_end=("invoices",),
    lookback_days=LOOKBACK_DAYS,
    uses_grain=True,
    reshape=_summarise,
)
