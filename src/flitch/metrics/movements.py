"""MRR movements — new, expansion, contraction, churned, reactivation — rebuilt from invoices.

A subscription object only shows the present, so MRR in the past is rebuilt from the invoices
that billed it (every month shown is therefore *reconstructed*, not observed):

- each paid subscription invoice (or open one, while its subscription is active or past_due:
  the invoice being retried) gives its subscription an MRR: its recurring,
  licensed lines (prorations, metered and one-off lines left out) normalised to a month by
  their price's interval, less the share of forever coupons in the invoice's discounts;
- that MRR holds over the period its lines bill (``period.start`` → ``period.end``), cut short
  when the subscription ended; the newest invoice wins where two overlap;
- a subscription in MRR now (active or past_due) has not churned, whatever its invoices say:
  past the last period they bill it holds its MRR now, with no end. Its renewal may be due
  later today, or its next invoice still a draft (Stripe finalizes it about an hour after the
  period starts); it churns once it is canceled, goes unpaid or is paused. So the MRR at the
  end of a period ending now, or at a midnight still to come, is MRR now (but for plan changes
  not invoiced yet);
- MRR "at" an instant is the MRR in force just before it, summed per customer and currency.

Between two instants each customer's change is one movement: *new* (from zero, never paid
before), *reactivation* (from zero, paid before), *expansion* / *contraction* (up / down), or
*churned* (to zero). Growth = new + reactivation + expansion − contraction − churned, and MRR at
the end = MRR at the start + growth, exactly; shown in whole minor units, the movements are
rounded so that they still add up to the rounded MRR at the end (``_whole``).

Every subscription invoice counts for the period it bills, whenever it was created. This work
does not depend on the period asked for, so it is done once per version of the data: the
lines (``invoice_lines``) and discount amounts (``invoice_discount_amounts``) of every
subscription invoice become each subscription's MRR over time, as spans of one amount
(``derived_mrr_spans``, see ``derived``; consecutive periods of the same amount make one span,
overlaps are settled there), then each customer's MRR change by change, with when they had paid
before a change from zero (``derived_mrr_changes``, see ``derived_movements``). A dashboard load
then reads only the changes in its window, and adds up the earlier ones per currency for MRR at
its start.

Plans billed less often than every 400 days (2- and 3-year plans) are taken from their current
period and items instead: a live load reads the invoices created from 400 days before the
period, enough for every other invoice that bills an instant of it, whether yearly, quarterly
or monthly. "Paid before" (reactivation) looks at paid subscription invoices of those 400 days.

Only subscriptions Stripe lists count: it lists the invoices of subscriptions on test clocks
but not the subscriptions, which MRR therefore cannot see either.

An invoice with more lines than Stripe embeds in a listed invoice (``lines.has_more``; its rows
in ``invoice_lines`` say ``truncated``) counts only the lines embedded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.derived import LONGEST_PERIOD_DAYS, MRR_CHANGES
from flitch.metrics.model import Column, Report, Unit, sql_text

#: Days of invoices read before the period: every invoice billing an instant of the period is
#: created in them (longer billing periods are not rebuilt from invoices).
LOOKBACK_DAYS = LONGEST_PERIOD_DAYS
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churned")
_GRAIN = "CAST('1 ' || $grain AS INTERVAL)"
_SQL = f"""
WITH points AS (
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
-- A customer's MRR at an instant is what their last change before it left (the changes are
-- in force after the instant they happen at): each change in the period shows at the first
-- instant looked at after it.
moved AS (
  SELECT c.customer, c.currency, c.changed_at, c.before, c.after, c.paid_before, st.ts
  FROM {MRR_CHANGES.table} c JOIN steps st ON c.changed_at >= st.prev_ts AND c.changed_at < st.ts
  WHERE c.changed_at >= $start AND c.changed_at < $end
),
-- each customer who changed, at each instant looked at after a change: their MRR at the
-- instant before (before the first change in between) and at it (after the last)
timeline AS MATERIALIZED (
  SELECT customer, currency, ts, arg_min(before, changed_at) AS before,
    arg_max(after, changed_at) AS mrr, arg_min_null(paid_before, changed_at) AS paid_before
  FROM moved GROUP BY customer, currency, ts
),
changes AS (
  SELECT date_trunc($grain, st.prev_ts) AS bucket, t.currency, t.customer, t.before,
    t.mrr AS after,
    -- "paid before": a paid subscription invoice created in the 400 days before the period
    -- and before the instant looked from (the latest of those the table keeps for the change)
    t.before = 0 AND COALESCE(list_max(list_filter(t.paid_before, lambda p: p < st.prev_ts))
      >= $start - INTERVAL {LOOKBACK_DAYS} DAY, false) AS paid_earlier
  FROM timeline t JOIN steps st ON st.ts = t.ts
  WHERE abs(t.mrr - t.before) > 1e-6
),
kinds AS (
  SELECT bucket, currency, customer, after - before AS amount,
    CASE WHEN before = 0 AND paid_earlier THEN 'reactivation'
         WHEN before = 0 THEN 'new'
         WHEN after = 0 THEN 'churned'
         WHEN after > before THEN 'expansion'
         ELSE 'contraction' END AS movement
  FROM changes
),
-- MRR at each instant: every change before the period's start added up (compensated, so the
-- order they are added in leaves no trace), then the period's changes up to it
deltas AS (
  SELECT $start::TIMESTAMPTZ AS ts, currency, fsum(after - before) AS amount,
    sum(CAST(after > 0 AS INTEGER) - CAST(before > 0 AS INTEGER)) AS customers
  FROM {MRR_CHANGES.table} WHERE changed_at < $start GROUP BY currency
  UNION ALL
  SELECT ts, currency, sum(mrr - before),
    sum(CAST(mrr > 0 AS INTEGER) - CAST(before > 0 AS INTEGER))
  FROM timeline GROUP BY ALL
),
-- (a currency that moved in the period is shown at its start, if only at zero: its waterfall
-- starts there)
snap AS (
  SELECT p.ts, c.currency, COALESCE(sum(d.amount), 0) AS amount,
    COALESCE(sum(d.customers), 0) AS customers
  FROM points p CROSS JOIN (SELECT DISTINCT currency FROM deltas) c
  LEFT JOIN deltas d ON d.currency = c.currency AND d.ts <= p.ts
  GROUP BY ALL
)
-- amounts to the millionth of a unit: which way a float sum rounds a half then depends on the
-- amounts alone, not on the order they were added in
SELECT bucket, currency, movement, round(sum(amount), 6) AS amount, count(*) AS customers
FROM kinds GROUP BY ALL
UNION ALL
SELECT ts AS bucket, currency, 'mrr' AS movement, round(amount, 6), customers
FROM snap
WHERE customers > 0 OR (ts = $start::TIMESTAMPTZ AND currency IN (SELECT currency FROM timeline))
ORDER BY bucket, currency, movement
"""  # noqa: S608


def _whole(start: float, end: float, moves: Mapping[str, float]) -> dict[str, int]:
    """The waterfall in whole minor units: the start and end rounded as MRR is, and the
    movements rounded so that they add up to the difference exactly. Rounded one by one they
    may miss it by a unit or two; the units missing go to the movements rounding had cut the
    most (then the first in ``MOVEMENTS``), so no movement moves by a unit or more."""
    first, last = round(start), round(end)
    steps = {m: round(moves.get(m, 0.0)) for m in MOVEMENTS}
    short = last - first - sum(steps.values())
    sign = 1 if short > 0 else -1
    cut = sorted(
        (m for m in MOVEMENTS if moves.get(m)),
        key=lambda m: -sign * (moves[m] - steps[m]),
    )
    for m in cut[: abs(short)]:
        steps[m] += sign
    growth = sum(steps.values())
    return {"mrr_start": first, **steps, "growth": growth, "mrr_end": first + growth}


def _summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows per bucket, rounded, then per currency the period's waterfall (``bucket``
    None): MRR at the start, each movement, growth, MRR at the end (``_whole``)."""
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
        steps = _whole(cur.get("mrr_start", 0.0), cur.get("mrr_end", 0.0), cur)
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
        "active or past_due, open invoice's) recurring, licensed lines normalised to a month, "
        "less forever coupons, hold over the period they bill. A subscription still active or "
        "past_due holds its MRR now past the last period it was billed for (a renewal due "
        "later today, or whose invoice is still a draft, is no churn): it churns once "
        "canceled, unpaid or paused, so a period ending now or later ends at MRR now. Per "
        "customer and currency between two instants: new (from zero, first time), "
        "reactivation (from zero, paid before), expansion, contraction, churned (to zero). "
        "Growth = new + reactivation + expansion − contraction − churned; MRR at the end = "
        "MRR at the start + growth. Prorations, metered usage and taxes are left out. "
        '2- and 3-year plans are taken from their current period and items; "paid before" '
        "looks back 400 days. Plan changes show at the next invoice; subscriptions Stripe does "
        "not list (on test clocks) are left out, as from MRR."
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
