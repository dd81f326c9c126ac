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

What is read: every subscription invoice created from 45 days before the period (a monthly
period and slack); a subscription billed less often (quarterly, yearly…) whose current period
began before that is taken from its current period and items instead, so old invoices are
never parsed. "Paid before" (reactivation) looks at paid subscription invoices of the 400
days before the period.
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
#: What is read of each invoice, parsed once (``json_transform``): its lines (amount, period,
#: price — where the API version keeps it — and whether it is a proration), its discounts.
INVOICE_SHAPE = (
    '{"lines": {"data": [{"amount": "BIGINT", "period": {"start": "BIGINT", "end": "BIGINT"}, '
    '"pricing": {"price_details": {"price": "VARCHAR"}}, "price": {"id": "VARCHAR"}, '
    '"plan": {"id": "VARCHAR"}, "proration": "BOOLEAN", '
    '"parent": {"subscription_item_details": {"proration": "BOOLEAN"}}}]}, '
    '"total_discount_amounts": [{"amount": "BIGINT", "discount": "VARCHAR"}]}'
)
_FACTOR = monthly_factor("pr.recurring_interval", "COALESCE(pr.recurring_interval_count, 1)")

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
  SELECT i.id, i.customer, i.currency, i.subscription, i.created,
    json_transform(i.raw, '{INVOICE_SHAPE}') AS doc
  FROM invoices i
  WHERE i.subscription IS NOT NULL AND i.status = 'paid'
    AND i.created >= $start - INTERVAL {WINDOW_DAYS} DAY AND i.created < $end
  UNION ALL
  SELECT i.id, i.customer, i.currency, i.subscription, i.created,
    json_transform(i.raw, '{INVOICE_SHAPE}') AS doc
  FROM invoices i SEMI JOIN retried r ON r.id = i.subscription
  WHERE i.status = 'open'
    AND i.created >= $start - INTERVAL {WINDOW_DAYS} DAY AND i.created < $end
),
line_rows AS (
  SELECT id AS invoice, customer, currency, subscription, created, unnest(doc.lines.data) AS line
  FROM inv
),
lines AS (
  SELECT invoice, customer, currency, subscription, created,
    line.amount AS amount,
    to_timestamp(line.period.start) AS p_start,
    to_timestamp(line.period."end") AS p_end,
    COALESCE(line.pricing.price_details.price, line.price.id, line.plan.id) AS price,
    COALESCE(line.parent.subscription_item_details.proration, line.proration, false)
      AS proration
  FROM line_rows
),
recurring AS (
  SELECT l.*, l.amount * {_FACTOR} AS monthly
  FROM lines l JOIN prices pr ON pr.id = l.price
  WHERE NOT l.proration AND pr.type = 'recurring'
    AND COALESCE(pr.recurring_usage_type, 'licensed') = 'licensed'
),
coupon_of AS (
  SELECT d.value->>'$.id' AS discount,
    COALESCE(d.value->>'$.source.coupon.id', d.value->>'$.source.coupon',
             d.value->>'$.coupon.id', d.value->>'$.coupon') AS coupon
  FROM subscriptions s, json_each(s.discounts) AS d
),
forever_off AS (
  SELECT t.invoice, sum(t.d.amount) AS off
  FROM (SELECT id AS invoice, unnest(doc.total_discount_amounts) AS d FROM inv) t
  JOIN coupon_of co ON co.discount = t.d.discount
  JOIN coupons c ON c.id = co.coupon AND c.duration = 'forever'
  GROUP BY t.invoice
),
inv_mrr AS (
  SELECT r.invoice, any_value(r.customer) AS customer, any_value(r.currency) AS currency,
    any_value(r.subscription) AS subscription, any_value(r.created) AS created,
    min(r.p_start) AS p_start, max(r.p_end) AS p_end,
    sum(r.monthly) * (1 - least(1, COALESCE(any_value(f.off) / nullif(sum(r.amount), 0), 0)))
      AS mrr
  FROM recurring r LEFT JOIN forever_off f ON f.invoice = r.invoice
  GROUP BY r.invoice
),
covered AS (
  SELECT m.invoice, m.customer, m.currency, m.subscription, m.created, m.p_start, m.mrr,
    CASE WHEN s.ended_at < m.p_end THEN s.ended_at ELSE m.p_end END AS cover_to
  FROM inv_mrr m LEFT JOIN subscriptions s ON s.id = m.subscription
  UNION ALL
  SELECT NULL, l.customer, l.currency, l.subscription, s.current_period_start,
    s.current_period_start, l.mrr,
    CASE WHEN s.ended_at < s.current_period_end THEN s.ended_at ELSE s.current_period_end END
  FROM subscription_mrr l JOIN subscriptions s ON s.id = l.subscription
),
points AS (
  SELECT DISTINCT ts FROM (
    SELECT $start::TIMESTAMPTZ AS ts
    UNION ALL SELECT $end::TIMESTAMPTZ
    UNION ALL SELECT unnest(range(date_trunc($grain, $start::TIMESTAMPTZ) + {_GRAIN},
                                  $end::TIMESTAMPTZ, {_GRAIN}))
  )
),
cover AS (
  -- per instant and subscription, the covering invoice with the newest period wins
  SELECT p.ts, c.subscription, any_value(c.customer) AS customer,
    any_value(c.currency) AS currency,
    arg_max(c.mrr, struct_pack(a := c.p_start, b := c.created, c := COALESCE(c.invoice, '')))
      AS mrr
  FROM points p JOIN covered c ON c.p_start < p.ts AND c.cover_to >= p.ts
  GROUP BY p.ts, c.subscription
),
snap AS (
  SELECT ts, customer, currency, sum(mrr) AS mrr FROM cover
  GROUP BY ALL HAVING sum(mrr) > 0
),
steps AS (
  SELECT lag(ts) OVER (ORDER BY ts) AS prev_ts, ts FROM points QUALIFY prev_ts IS NOT NULL
),
first_paid AS (
  SELECT customer, currency, min(created) AS first_at FROM invoices
  WHERE subscription IS NOT NULL AND status = 'paid' AND total > 0
    AND created >= $start - INTERVAL {LOOKBACK_DAYS} DAY AND created < $end
  GROUP BY ALL
),
pairs AS (
  SELECT st.prev_ts, st.ts, k.customer, k.currency
  FROM steps st, (SELECT DISTINCT customer, currency FROM snap) k
),
changes AS (
  SELECT date_trunc($grain, p.prev_ts) AS bucket, p.currency, p.customer,
    COALESCE(s0.mrr, 0) AS before, COALESCE(s1.mrr, 0) AS after, f.first_at, p.prev_ts
  FROM pairs p
  LEFT JOIN snap s0 ON s0.ts = p.prev_ts AND s0.customer = p.customer
    AND s0.currency = p.currency
  LEFT JOIN snap s1 ON s1.ts = p.ts AND s1.customer = p.customer AND s1.currency = p.currency
  LEFT JOIN first_paid f ON f.customer = p.customer AND f.currency = p.currency
  WHERE COALESCE(s0.mrr, 0) <> COALESCE(s1.mrr, 0)
),
kinds AS (
  SELECT bucket, currency, customer, after - before AS amount,
    CASE WHEN before = 0 AND first_at < prev_ts THEN 'reactivation'
         WHEN before = 0 THEN 'new'
         WHEN after = 0 THEN 'churned'
         WHEN after > before THEN 'expansion'
         ELSE 'contraction' END AS movement
  FROM changes
)
SELECT bucket, currency, movement, sum(amount) AS amount, count(*) AS customers
FROM kinds GROUP BY ALL
UNION ALL
SELECT ts AS bucket, currency, 'mrr' AS movement, sum(mrr) AS amount, count(*) AS customers
FROM snap GROUP BY ALL
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
