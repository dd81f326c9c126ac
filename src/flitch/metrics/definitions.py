"""Revenue metrics as data: each one's definition, the datasets it reads, and its SQL.

One entry per metric in ``METRICS``. The ``definition`` shown next to a number in the product and
the SQL that computes it live side by side here, so the explanation cannot drift from the code.
Every metric is computed per currency (amounts are never added across currencies) and in the
currency's smallest unit, as Stripe gives amounts.

A metric's SQL runs over the connection's datasets (live or cached, the same tables either way)
with two parameters, ``$start`` and ``$end`` (UTC timestamps; the period is ``[start, end)``).
It returns rows of ``(currency, value)``; metrics that have no currency (new customers) return
the key ``"all"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    MONEY = "money"  # minor units of the row's currency
    COUNT = "count"
    RATIO = "ratio"  # 0..1


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: Unit
    #: The definition shown with the number: what is counted, and the policy behind it.
    definition: str
    #: Datasets the SQL reads.
    datasets: tuple[str, ...]
    #: True when only records created in the period matter (a live read is narrowed to it);
    #: False when the metric needs the current state (MRR needs every live subscription).
    ranged: bool
    sql: str
    #: The dataset whose rows a drill-down shows, and the SQL condition that selects them.
    drill_dataset: str = ""
    drill_where: str = ""


_PERIOD = "created >= $start AND created < $end"
_SUCCEEDED = "status = 'succeeded' AND paid"

#: Balance-transaction reporting categories that make up net volume (money in and out of the
#: business's activity), leaving out payouts, transfers and the like.
NET_VOLUME_CATEGORIES = (
    "charge",
    "refund",
    "dispute",
    "dispute_reversal",
    "partial_capture_reversal",
    "refund_failure",
    "other_adjustment",
    "fee",
)

#: Subscription statuses that count towards MRR (Stripe's default).
MRR_STATUSES = ("active", "past_due")

# Monthly factors by billing interval. Stripe documents month and year; for week and day it
# publishes nothing, so these are calendar averages (52 weeks and 365 days a year).
_MONTHLY_FACTOR = """CASE p.interval
      WHEN 'month' THEN 1.0 / p.interval_count
      WHEN 'year' THEN 1.0 / (12 * p.interval_count)
      WHEN 'week' THEN 52.0 / 12 / p.interval_count
      WHEN 'day' THEN 365.0 / 12 / p.interval_count
    END"""

# Per subscription: its recurring, licensed items normalised to a month, tiered prices priced
# at the quantity (graduated: each tier's units at that tier's price plus its flat fee; volume:
# every unit at the price of the tier the quantity falls in), then forever coupons applied.
_SUBSCRIPTION_MRR = f"""
WITH subs AS (
  SELECT id, customer, status, discounts, items
  FROM subscriptions
  WHERE status IN {MRR_STATUSES}
),
items AS (
  SELECT s.id AS subscription, s.customer, unnest(CAST(s.items AS JSON[])) AS item
  FROM subs s
),
priced AS (
  SELECT
    subscription,
    customer,
    item->>'$.price.id' AS price,
    lower(item->>'$.price.currency') AS currency,
    COALESCE(CAST(item->>'$.quantity' AS BIGINT), 1) AS quantity,
    CAST(item->>'$.price.unit_amount' AS BIGINT) AS unit_amount,
    COALESCE(item->>'$.price.billing_scheme', 'per_unit') AS scheme,
    item->>'$.price.recurring.interval' AS interval,
    COALESCE(CAST(item->>'$.price.recurring.interval_count' AS BIGINT), 1) AS interval_count,
    COALESCE(item->>'$.price.recurring.usage_type', 'licensed') AS usage_type
  FROM items
  WHERE item->>'$.price.type' IS DISTINCT FROM 'one_time'
),
tier_rows AS (
  SELECT pr.id AS price, pr.tiers_mode, t.idx,
    CAST(t.tier->>'up_to' AS BIGINT) AS up_to,
    COALESCE(CAST(t.tier->>'unit_amount' AS BIGINT), 0) AS tier_unit,
    COALESCE(CAST(t.tier->>'flat_amount' AS BIGINT), 0) AS tier_flat
  FROM prices pr, unnest(CAST(pr.tiers AS JSON[])) WITH ORDINALITY AS t(tier, idx)
  WHERE pr.billing_scheme = 'tiered'
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
),
item_mrr AS (
  SELECT p.subscription, p.customer, p.currency, p.interval, p.interval_count,
    CASE WHEN p.scheme = 'tiered' THEN tiered.amount ELSE p.unit_amount * p.quantity END
      * {_MONTHLY_FACTOR} AS mrr
  FROM priced p
  LEFT JOIN tiered ON tiered.price = p.price AND tiered.quantity = p.quantity
  WHERE p.usage_type = 'licensed'
),
sub_mrr AS (
  SELECT subscription, any_value(customer) AS customer, currency,
    sum(mrr) AS gross_mrr,
    -- how often the subscription bills, to turn an amount-off coupon into a monthly amount
    any_value({_MONTHLY_FACTOR.replace("p.", "")}) AS per_month
  FROM item_mrr
  GROUP BY subscription, currency
),
discount_coupons AS (
  SELECT s.id AS subscription,
    COALESCE(d.value->>'$.source.coupon.id', d.value->>'$.source.coupon',
             d.value->>'$.coupon.id', d.value->>'$.coupon') AS coupon
  FROM subs s, json_each(s.discounts) AS d
),
forever AS (
  SELECT dc.subscription,
    max(c.percent_off) AS percent_off,
    sum(c.amount_off) FILTER (WHERE c.amount_off IS NOT NULL) AS amount_off,
    any_value(lower(c.currency)) AS coupon_currency
  FROM discount_coupons dc JOIN coupons c ON c.id = dc.coupon
  WHERE c.duration = 'forever'
  GROUP BY dc.subscription
),
subscription_mrr AS (
  SELECT m.subscription, m.customer, m.currency, m.gross_mrr,
    greatest(0,
      m.gross_mrr * (1 - COALESCE(f.percent_off, 0) / 100.0)
      - CASE WHEN f.coupon_currency = m.currency
             THEN COALESCE(f.amount_off, 0) * m.per_month ELSE 0 END
    ) AS mrr
  FROM sub_mrr m LEFT JOIN forever f ON f.subscription = m.subscription
)
"""

METRICS: tuple[Metric, ...] = (
    Metric(
        name="gross_volume",
        label="Gross volume",
        unit=Unit.MONEY,
        definition=(
            "The sum of the amounts of successful charges (status succeeded, paid) created in "
            "the period, before refunds, disputes and fees. Per currency."
        ),
        datasets=("charges",),
        ranged=True,
        sql=f"SELECT currency, sum(amount) FROM charges WHERE {_SUCCEEDED} AND {_PERIOD} "
        "GROUP BY currency",
        drill_dataset="charges",
        drill_where=f"{_SUCCEEDED} AND {_PERIOD}",
    ),
    Metric(
        name="successful_payments",
        label="Successful payments",
        unit=Unit.COUNT,
        definition="The number of successful charges (status succeeded, paid) created in the "
        "period. Per currency.",
        datasets=("charges",),
        ranged=True,
        sql=f"SELECT currency, count(*) FROM charges WHERE {_SUCCEEDED} AND {_PERIOD} "
        "GROUP BY currency",
        drill_dataset="charges",
        drill_where=f"{_SUCCEEDED} AND {_PERIOD}",
    ),
    Metric(
        name="failed_payments",
        label="Failed payments",
        unit=Unit.COUNT,
        definition="The number of charges with status failed created in the period. Per currency.",
        datasets=("charges",),
        ranged=True,
        sql=f"SELECT currency, count(*) FROM charges WHERE status = 'failed' AND {_PERIOD} "
        "GROUP BY currency",
        drill_dataset="charges",
        drill_where=f"status = 'failed' AND {_PERIOD}",
    ),
    Metric(
        name="failed_volume",
        label="Failed payment amount",
        unit=Unit.MONEY,
        definition="The sum of the amounts of failed charges created in the period.",
        datasets=("charges",),
        ranged=True,
        sql=f"SELECT currency, sum(amount) FROM charges WHERE status = 'failed' AND {_PERIOD} "
        "GROUP BY currency",
        drill_dataset="charges",
        drill_where=f"status = 'failed' AND {_PERIOD}",
    ),
    Metric(
        name="failure_rate",
        label="Payment failure rate",
        unit=Unit.RATIO,
        definition="Failed charges ÷ (successful + failed charges) created in the period; "
        "pending charges are left out. Per currency.",
        datasets=("charges",),
        ranged=True,
        sql="SELECT currency, count(*) FILTER (WHERE status = 'failed') / count(*) "
        f"FROM charges WHERE status IN ('failed', 'succeeded') AND {_PERIOD} "
        "GROUP BY currency",
        drill_dataset="charges",
        drill_where=f"status IN ('failed', 'succeeded') AND {_PERIOD}",
    ),
    Metric(
        name="refunds",
        label="Refunds",
        unit=Unit.MONEY,
        definition="The amount refunded (amount_refunded, partial refunds included) on charges "
        "created in the period. Refunds are counted against the charge's date; the Revenue "
        "bridge counts them when the money moved instead.",
        datasets=("charges",),
        ranged=True,
        sql=f"SELECT currency, sum(amount_refunded) FROM charges WHERE {_PERIOD} "
        "AND amount_refunded > 0 GROUP BY currency",
        drill_dataset="charges",
        drill_where=f"amount_refunded > 0 AND {_PERIOD}",
    ),
    Metric(
        name="disputes",
        label="Disputes",
        unit=Unit.COUNT,
        definition="The number of disputes opened in the period. Per currency.",
        datasets=("disputes",),
        ranged=True,
        sql=f"SELECT currency, count(*) FROM disputes WHERE {_PERIOD} GROUP BY currency",
        drill_dataset="disputes",
        drill_where=_PERIOD,
    ),
    Metric(
        name="disputed_amount",
        label="Disputed amount",
        unit=Unit.MONEY,
        definition="The sum of the amounts of disputes opened in the period.",
        datasets=("disputes",),
        ranged=True,
        sql=f"SELECT currency, sum(amount) FROM disputes WHERE {_PERIOD} GROUP BY currency",
        drill_dataset="disputes",
        drill_where=_PERIOD,
    ),
    Metric(
        name="dispute_rate",
        label="Dispute rate",
        unit=Unit.RATIO,
        definition="Disputes opened in the period ÷ successful charges created in the period. "
        "Per currency.",
        datasets=("charges", "disputes"),
        ranged=True,
        sql=f"""
        WITH d AS (SELECT currency, count(*) AS n FROM disputes WHERE {_PERIOD} GROUP BY 1),
             c AS (SELECT currency, count(*) AS n FROM charges
                   WHERE {_SUCCEEDED} AND {_PERIOD} GROUP BY 1)
        SELECT c.currency, COALESCE(d.n, 0) / c.n FROM c LEFT JOIN d USING (currency)
        """,
        drill_dataset="disputes",
        drill_where=_PERIOD,
    ),
    Metric(
        name="new_customers",
        label="New customers",
        unit=Unit.COUNT,
        definition="Customers created in the period (deleted customers are not listed by "
        "Stripe and so not counted).",
        datasets=("customers",),
        ranged=True,
        sql=f"SELECT 'all', count(*) FROM customers WHERE {_PERIOD}",
        drill_dataset="customers",
        drill_where=_PERIOD,
    ),
    Metric(
        name="mrr",
        label="MRR",
        unit=Unit.MONEY,
        definition=(
            "Monthly recurring revenue, Stripe's way: subscriptions that are active or past_due; "
            "each recurring, licensed (not metered) item's amount × quantity (tiered prices: the "
            "tier total for the quantity), normalised to a month (yearly ÷ 12, quarterly ÷ 3; "
            "weekly × 52 ÷ 12 and daily × 365 ÷ 12, calendar averages since Stripe publishes no "
            "factor for them); less forever coupons (percent off, or amount off in the coupon's "
            "currency spread over the billing interval). Once and repeating coupons, taxes, "
            "trials and free subscriptions add nothing. The current value, whatever the period."
        ),
        datasets=("subscriptions", "prices", "coupons"),
        ranged=False,
        sql=_SUBSCRIPTION_MRR
        + "SELECT currency, round(sum(mrr)) FROM subscription_mrr WHERE mrr > 0 GROUP BY currency",
        drill_dataset="subscriptions",
        drill_where=f"status IN {MRR_STATUSES}",
    ),
    Metric(
        name="arr",
        label="ARR",
        unit=Unit.MONEY,
        definition="Annual run rate: 12 × MRR.",
        datasets=("subscriptions", "prices", "coupons"),
        ranged=False,
        sql=_SUBSCRIPTION_MRR
        + "SELECT currency, round(12 * sum(mrr)) FROM subscription_mrr WHERE mrr > 0 "
        "GROUP BY currency",
        drill_dataset="subscriptions",
        drill_where=f"status IN {MRR_STATUSES}",
    ),
    Metric(
        name="active_subscribers",
        label="Active subscribers",
        unit=Unit.COUNT,
        definition="Customers with at least one paid subscription (MRR above zero) that is "
        "active or past_due. A customer paying in two currencies counts in each.",
        datasets=("subscriptions", "prices", "coupons"),
        ranged=False,
        sql=_SUBSCRIPTION_MRR
        + "SELECT currency, count(DISTINCT customer) FROM subscription_mrr WHERE mrr > 0 "
        "GROUP BY currency",
        drill_dataset="subscriptions",
        drill_where=f"status IN {MRR_STATUSES}",
    ),
    Metric(
        name="arpu",
        label="ARPU",
        unit=Unit.MONEY,
        definition="Average revenue per user: MRR ÷ active subscribers, per currency.",
        datasets=("subscriptions", "prices", "coupons"),
        ranged=False,
        sql=_SUBSCRIPTION_MRR
        + "SELECT currency, round(sum(mrr) / count(DISTINCT customer)) FROM subscription_mrr "
        "WHERE mrr > 0 GROUP BY currency",
        drill_dataset="subscriptions",
        drill_where=f"status IN {MRR_STATUSES}",
    ),
    Metric(
        name="net_volume",
        label="Net volume",
        unit=Unit.MONEY,
        definition="The money that moved, net of fees: the sum of net over balance transactions "
        "created in the period in the charge, refund, dispute and adjustment categories "
        "(payouts and transfers left out).",
        datasets=("balance_transactions",),
        ranged=True,
        sql=f"SELECT currency, sum(net) FROM balance_transactions WHERE {_PERIOD} "
        f"AND reporting_category IN {NET_VOLUME_CATEGORIES} GROUP BY currency",
        drill_dataset="balance_transactions",
        drill_where=f"reporting_category IN {NET_VOLUME_CATEGORIES} AND {_PERIOD}",
    ),
    Metric(
        name="fees",
        label="Fees",
        unit=Unit.MONEY,
        definition="Stripe's fees: the sum of fee over balance transactions created in the period.",
        datasets=("balance_transactions",),
        ranged=True,
        sql=f"SELECT currency, sum(fee) FROM balance_transactions WHERE {_PERIOD} "
        "GROUP BY currency",
        drill_dataset="balance_transactions",
        drill_where=f"fee <> 0 AND {_PERIOD}",
    ),
    Metric(
        name="payouts",
        label="Payouts",
        unit=Unit.MONEY,
        definition="Money paid out to the bank: the sum of payouts arriving in the period "
        "(by arrival_date), failed and canceled payouts left out.",
        datasets=("payouts",),
        ranged=False,
        sql="SELECT currency, sum(amount) FROM payouts WHERE arrival_date >= $start "
        "AND arrival_date < $end AND status NOT IN ('failed', 'canceled') GROUP BY currency",
        drill_dataset="payouts",
        drill_where="arrival_date >= $start AND arrival_date < $end "
        "AND status NOT IN ('failed', 'canceled')",
    ),
)

BY_NAME: Mapping[str, Metric] = {m.name: m for m in METRICS}


def get(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        valid = ", ".join(BY_NAME)
        raise KeyError(f"unknown metric {name!r}; expected one of: {valid}") from None
