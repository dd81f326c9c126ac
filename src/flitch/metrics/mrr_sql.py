"""The SQL behind MRR: each subscription's monthly recurring revenue, Stripe's way.

``subscription_mrr(statuses)`` is a ``WITH`` clause ending in the relation ``subscription_mrr``
(one row per subscription and currency: ``subscription, customer, currency, status, gross_mrr,
mrr, forever_coupons``). ``gross_mrr`` is before forever coupons, ``mrr`` after them. The MRR
family (MRR, ARR, subscribers, ARPU, the coupons' discount) and churn are built on it; segments
by product, price and interval read its ``item_mrr`` (one row per item, before coupons).

Items and discounts are read from the child tables ``subscription_items`` and
``subscription_discounts`` (typed columns written with the subscriptions), never from JSON; only
the tiers of tiered prices are read from ``prices.tiers``, and only for the prices in use.
"""

from __future__ import annotations

#: Subscription statuses that count towards MRR (Stripe's default).
MRR_STATUSES = ("active", "past_due")


def monthly_factor(interval: str, count: str) -> str:
    """SQL turning one billing interval into months.

    Stripe documents month and year; for week and day it publishes nothing, so these are
    calendar averages (52 weeks and 365 days a year).
    """
    return f"""CASE {interval}
      WHEN 'month' THEN 1.0 / {count}
      WHEN 'year' THEN 1.0 / (12 * {count})
      WHEN 'week' THEN 52.0 / 12 / {count}
      WHEN 'day' THEN 365.0 / 12 / {count}
    END"""


def _status_filter(statuses: tuple[str, ...] | None) -> str:
    if statuses is None:
        return ""
    return "WHERE status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


#: Tier totals of tiered prices at a quantity. Graduated: each tier's units at that tier's price
#: plus its flat fee; volume: every unit at the price of the tier the quantity falls in.
TIERED_SQL = """
tier_rows AS (
  SELECT pr.id AS price, pr.tiers_mode, t.idx,
    CAST(t.tier->>'up_to' AS BIGINT) AS up_to,
    COALESCE(CAST(t.tier->>'unit_amount' AS BIGINT), 0) AS tier_unit,
    COALESCE(CAST(t.tier->>'flat_amount' AS BIGINT), 0) AS tier_flat
  FROM prices pr, unnest(CAST(pr.tiers AS JSON[])) WITH ORDINALITY AS t(tier, idx)
  WHERE pr.billing_scheme = 'tiered'
    AND pr.id IN (SELECT price FROM priced WHERE scheme = 'tiered')
),
tiers AS (
  SELECT *, COALESCE(lag(up_to) OVER (PARTITION BY price ORDER BY idx), 0) AS floor_units
  FROM tier_rows
),
tiered AS (
  SELECT p.price, p.quantity,
    CASE any_value(t.tiers_mode)
      WHEN 'volume' THEN max(CASE WHEN p.quantity > t.floor_units
                                   AND (t.up_to IS NULL OR p.quantity <= t.up_to)
                              THEN p.quantity * t.tier_unit + t.tier_flat END)
      ELSE sum(CASE WHEN least(p.quantity, COALESCE(t.up_to, p.quantity)) > t.floor_units
                    THEN (least(p.quantity, COALESCE(t.up_to, p.quantity)) - t.floor_units)
                         * t.tier_unit + t.tier_flat
                    ELSE 0 END)
    END AS amount
  FROM (SELECT DISTINCT price, quantity FROM priced WHERE scheme = 'tiered') p
  JOIN tiers t ON t.price = p.price
  GROUP BY p.price, p.quantity
)"""


def subscription_mrr(
    statuses: tuple[str, ...] | None = MRR_STATUSES,
    where: str = "",
    carry: tuple[tuple[str, str], ...] = (),
) -> str:
    """The ``WITH`` clause computing ``subscription_mrr`` for subscriptions in ``statuses``
    (all of them with ``None``) that also match ``where`` (SQL over the subscriptions table).
    It also defines ``subs`` (those subscriptions) and ``discount_coupons`` (their discounts'
    coupons: ``subscription, coupon``). ``carry``: ``(name, SQL over the subscriptions table)``
    pairs, more columns of ``subs`` and ``subscription_mrr``."""
    conditions = _status_filter(statuses)
    if where:
        conditions = f"{conditions} AND {where}" if conditions else f"WHERE {where}"
    extra = "".join(f", {sql} AS {name}" for name, sql in carry)
    names = [name for name, _ in carry]
    priced_extra = "".join(f", s.{n}" for n in names)
    item_extra = "".join(f", p.{n}" for n in names)
    sub_extra = "".join(f", any_value({n}) AS {n}" for n in names)
    carried = "".join(f", m.{n}" for n in names)
    return f"""
WITH subs AS (
  SELECT id, customer, status{extra}
  FROM subscriptions
  {conditions}
),
priced AS (
  SELECT
    s.id AS subscription,
    s.customer,
    s.status,
    i.id AS item,
    i.price,
    i.product,
    lower(i.currency) AS currency,
    COALESCE(i.quantity, 1) AS quantity,
    i.unit_amount,
    COALESCE(i.billing_scheme, 'per_unit') AS scheme,
    i.recurring_interval AS interval,
    COALESCE(i.recurring_interval_count, 1) AS interval_count,
    COALESCE(i.recurring_usage_type, 'licensed') AS usage_type{priced_extra}
  FROM subs s JOIN subscription_items i ON i.subscription = s.id
  WHERE i.price_type IS DISTINCT FROM 'one_time'
),{TIERED_SQL},
item_mrr AS (
  SELECT p.subscription, p.customer, p.status, p.currency, p.interval, p.interval_count,
    p.item, p.price, p.product{item_extra},
    CASE WHEN p.scheme = 'tiered' THEN tiered.amount ELSE p.unit_amount * p.quantity END
      * {monthly_factor("p.interval", "p.interval_count")} AS mrr
  FROM priced p
  LEFT JOIN tiered ON tiered.price = p.price AND tiered.quantity = p.quantity
  WHERE p.usage_type = 'licensed'
),
sub_mrr AS (
  SELECT subscription, any_value(customer) AS customer, any_value(status) AS status, currency,
    sum(mrr) AS gross_mrr{sub_extra},
    -- how often the subscription bills, to turn an amount-off coupon into a monthly amount
    any_value({monthly_factor("interval", "interval_count")}) AS per_month
  FROM item_mrr
  GROUP BY subscription, currency
),
discount_coupons AS (
  SELECT d.subscription, d.coupon
  FROM subscription_discounts d SEMI JOIN subs s ON s.id = d.subscription
),
forever AS (
  SELECT dc.subscription,
    max(c.percent_off) AS percent_off,
    sum(c.amount_off) FILTER (WHERE c.amount_off IS NOT NULL) AS amount_off,
    any_value(lower(c.currency)) AS coupon_currency,
    list(DISTINCT c.id ORDER BY c.id) AS coupons
  FROM discount_coupons dc JOIN coupons c ON c.id = dc.coupon
  WHERE c.duration = 'forever'
  GROUP BY dc.subscription
),
subscription_mrr AS (
  SELECT m.subscription, m.customer, m.status, m.currency, m.gross_mrr{carried},
    greatest(0,
      m.gross_mrr * (1 - COALESCE(f.percent_off, 0) / 100.0)
      - CASE WHEN f.coupon_currency = m.currency
             THEN COALESCE(f.amount_off, 0) * m.per_month ELSE 0 END
    ) AS mrr,
    COALESCE(f.coupons, []) AS forever_coupons
  FROM sub_mrr m LEFT JOIN forever f ON f.subscription = m.subscription
)
"""  # noqa: S608
