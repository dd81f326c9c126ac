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
the end = MRR at the start + growth, exactly. Invoices created up to 400 days before the period
are read, enough to see every subscription billed yearly or more often.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.model import Column, Report, Unit, sql_list, sql_text
from flitch.metrics.mrr_sql import MRR_STATUSES, monthly_factor

#: Days of invoices read before the period.
LOOKBACK_DAYS = 400
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churned")
_GRAIN = "CAST('1 ' || $grain AS INTERVAL)"
_FACTOR = monthly_factor("pr.recurring_interval", "COALESCE(pr.recurring_interval_count, 1)")

_SQL = f"""
WITH inv AS (
  SELECT i.id, i.customer, i.currency, i.subscription, i.created, i.raw
  FROM invoices i LEFT JOIN subscriptions s ON s.id = i.subscription
  WHERE i.subscription IS NOT NULL
    AND (i.status = 'paid' OR (i.status = 'open' AND s.status IN {sql_list(MRR_STATUSES)}))
    AND i.created >= $start - INTERVAL {LOOKBACK_DAYS} DAY AND i.created < $end
),
line_rows AS (
  SELECT i.id AS invoice, i.customer, i.currency, i.subscription, i.created,
    unnest(CAST(i.raw->'$.lines.data' AS JSON[])) AS line
  FROM inv i
),
lines AS (
  SELECT invoice, customer, currency, subscription, created,
    CAST(line->>'$.amount' AS BIGINT) AS amount,
    to_timestamp(CAST(line->>'$.period.start' AS BIGINT)) AS p_start,
    to_timestamp(CAST(line->>'$.period.end' AS BIGINT)) AS p_end,
    COALESCE(line->>'$.pricing.price_details.price', line->>'$.price.id',
             line->>'$.plan.id') AS price,
    COALESCE(CAST(line->>'$.parent.subscription_item_details.proration' AS BOOLEAN),
             CAST(line->>'$.proration' AS BOOLEAN), false) AS proration
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
  SELECT t.invoice, sum(t.amount) AS off
  FROM (
    SELECT i.id AS invoice, d.value->>'$.discount' AS discount,
      CAST(d.value->>'$.amount' AS BIGINT) AS amount
    FROM inv i, json_each(i.raw->'$.total_discount_amounts') AS d
  ) t
  JOIN coupon_of co ON co.discount = t.discount
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
  SELECT m.*, CASE WHEN s.ended_at < m.p_end THEN s.ended_at ELSE m.p_end END AS cover_to
  FROM inv_mrr m LEFT JOIN subscriptions s ON s.id = m.subscription
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
  SELECT p.ts, c.customer, c.currency, c.mrr,
    row_number() OVER (PARTITION BY p.ts, c.subscription
                       ORDER BY c.p_start DESC, c.created DESC, c.invoice DESC) AS rn
  FROM points p JOIN covered c ON c.p_start < p.ts AND c.cover_to >= p.ts
),
snap AS (
  SELECT ts, customer, currency, sum(mrr) AS mrr FROM cover WHERE rn = 1
  GROUP BY ALL HAVING sum(mrr) > 0
),
steps AS (
  SELECT lag(ts) OVER (ORDER BY ts) AS prev_ts, ts FROM points QUALIFY prev_ts IS NOT NULL
),
first_paid AS (
  SELECT customer, currency, min(p_start) AS first_at FROM covered WHERE mrr > 0 GROUP BY ALL
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


def _summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows per bucket, rounded, then per currency the period's waterfall (``bucket``
    None): MRR at the start, each movement, growth, MRR at the end."""
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
        growth = sum(cur.get(m, 0.0) for m in MOVEMENTS)
        start = cur.get("mrr_start", 0.0)
        for key in ("mrr_start", *MOVEMENTS, "growth", "mrr_end"):
            value = {"growth": growth, "mrr_end": start + growth}.get(key, cur.get(key, 0.0))
            out.append(
                {
                    "bucket": None,
                    "currency": currency,
                    "movement": key,
                    "amount": round(value),
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
        "MRR at the start + growth. Prorations, metered usage and taxes are left out."
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
