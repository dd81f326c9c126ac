"""Derived tables behind MRR segments: what each subscription's MRR is made of, and where each
customer is.

- ``derived_mrr_items``: each recurring, licensed item of a subscription with its price, product
  and billing interval, and its ``share`` of the subscription's MRR before coupons (its own
  amount ÷ the subscription's). A forever coupon takes the same share off every item, so an
  item's MRR after coupons is the subscription's MRR × its share, and the shares of a
  subscription add up to one: MRR split by product, price or interval adds up to MRR.
- ``derived_customer_countries``: each customer's country, as METRICS.md orders the sources:
  the country of their address, else the country of the card of their latest charge that was
  paid (or tried) by card, else none (shown as ``unknown``). Stripe's API gives no default
  payment method's card to a key that reads customers and charges, but every card payment
  carries its card's country, and a customer's latest one is their card now.

Both are built with the others (``derived.DERIVED``), so a dashboard reads them instead of
pricing items or scanning every charge on each load.
"""

from __future__ import annotations

from flitch.metrics.mrr_sql import subscription_mrr
from flitch.store.derived import Derived

#: What a customer's country is when neither their address nor a card says it.
UNKNOWN_COUNTRY = "unknown"

MRR_ITEMS = Derived(
    name="mrr_items",
    inputs=("subscriptions", "subscription_items", "subscription_discounts", "prices", "coupons"),
    sql=subscription_mrr(None)
    + """SELECT subscription, currency, item, price, product,
  interval AS recurring_interval, interval_count AS recurring_interval_count, mrr AS gross_mrr,
  CASE WHEN sum(mrr) OVER whole > 0 THEN mrr / sum(mrr) OVER whole END AS share
FROM item_mrr
WINDOW whole AS (PARTITION BY subscription, currency)""",
)

#: ``(customer, address_country, card_country, country)`` of every customer listed (SQL over
#: the datasets, so a drill-down can name it too).
COUNTRIES_SQL = """SELECT c.id AS customer,
  nullif(upper(trim(c.address_country)), '') AS address_country,
  k.card_country,
  COALESCE(nullif(upper(trim(c.address_country)), ''), k.card_country) AS country
FROM customers c LEFT JOIN (
  SELECT customer, upper(arg_max(card_country, {'at': created, 'id': id})) AS card_country
  FROM charges WHERE customer IS NOT NULL AND nullif(trim(card_country), '') IS NOT NULL
  GROUP BY customer
) k ON k.customer = c.id"""

CUSTOMER_COUNTRIES = Derived(
    name="customer_countries",
    inputs=("customers", "charges"),
    sql=COUNTRIES_SQL,
)

DERIVED_SEGMENTS: tuple[Derived, ...] = (MRR_ITEMS, CUSTOMER_COUNTRIES)
