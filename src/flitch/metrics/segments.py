"""Segments: MRR, subscribers and churn split by product, price, billing interval, customer
country or a customer metadata key.

A chart of the MRR family may be grouped by a segment (``Grouping.segment`` in the dashboards
model): ``product``, ``price``, ``interval``, ``country`` or ``metadata.<key>``. Its rows are the
segment's values, per currency, each with the metric's value over the subscriptions of that
segment, counted as the unsplit metric counts them (``subscribers``, ``churn``):

- by **product, price or interval**, a subscription's MRR is split between its items
  (``derived_mrr_items``: each item's share of the subscription's MRR), so the segments add up
  to MRR; a customer is a subscriber of each product (price, interval) they pay for, and churns
  from it when the last of their paid subscriptions with an item of it ends. Items are today's
  (Stripe keeps no history of them), so a subscription that changed plan counts under its
  current one over the whole period;
- by **country** (``derived_customer_countries``: the customer's address, else their latest
  card's country, else ``unknown``) or by a **metadata key** of the customer (customers
  without it: no value), every customer is in one segment, so MRR, subscribers, new and
  churned subscribers add up to the unsplit numbers.

The statement (``segment_sql``) answers every metric of ``METRICS`` for one segment at once:
rows of ``(currency, segment, name, <metric columns>)``, ``name`` a segment's readable name
where it has one (a product's, a price's nickname, an interval in words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flitch.metrics.derived import MRR_SUBSCRIPTIONS
from flitch.metrics.derived_segments import (
    COUNTRIES_SQL,
    CUSTOMER_COUNTRIES,
    MRR_ITEMS,
    UNKNOWN_COUNTRY,
)
from flitch.metrics.model import sql_list, sql_text
from flitch.metrics.mrr_sql import MRR_STATUSES

#: The metrics a segment splits (the columns of its statement, in this order).
METRICS = (
    "mrr",
    "arr",
    "active_subscribers",
    "arpu",
    "new_subscribers",
    "churned_subscribers",
    "subscriber_churn_rate",
)
#: The kinds of segment, with their labels.
KINDS = {
    "product": "Product",
    "price": "Price",
    "interval": "Billing interval",
    "country": "Customer country",
    "metadata": "Customer metadata",
}
#: A metadata key a segment may name: Stripe's keys are up to 40 characters, without brackets.
METADATA_KEY = re.compile(r"^[A-Za-z0-9_.:\- ]{1,40}$")

_MRR = f"status IN {sql_list(MRR_STATUSES)}"


@dataclass(frozen=True)
class Segment:
    """One way of splitting the MRR family: ``kind`` (a key of ``KINDS``) and, for
    ``metadata``, the customer metadata ``key``."""

    kind: str
    key: str = ""

    @property
    def name(self) -> str:
        """As a chart's grouping names it: ``product``, ``metadata.plan``."""
        return f"metadata.{self.key}" if self.kind == "metadata" else self.kind

    @property
    def label(self) -> str:
        return f"Customer metadata {self.key}" if self.kind == "metadata" else KINDS[self.kind]

    @property
    def named(self) -> bool:
        """Whether the segment's values have names beside them (a product's id, its name)."""
        return self.kind in ("product", "price", "interval")

    @property
    def definition(self) -> str:
        """How the split counts, said after the metric's own definition."""
        if self.kind in ("product", "price", "interval"):
            what = {"product": "product", "price": "price", "interval": "billing interval"}
            return (
                f"Split by {what[self.kind]}: each subscription's MRR is shared among its items "
                "by their amounts (after forever coupons), so the rows add up to MRR; a "
                f"customer counts once in each {what[self.kind]} they pay for, and churns from "
                "it when the last of their subscriptions with it ends. Items are today's: a "
                "plan changed since counts under the new one."
            )
        where = (
            "the country of the customer's address, else of the card of their latest card "
            "payment, else unknown"
            if self.kind == "country"
            else f"the value of the customer's metadata key {self.key!r} (none: not set)"
        )
        return f"Split by {where}. Each customer is in one segment, so the rows add up."

    @property
    def datasets(self) -> tuple[str, ...]:
        """Datasets read besides the MRR family's (subscriptions, prices, coupons)."""
        if self.kind == "product":
            return ("products",)
        if self.kind == "country":
            return ("customers", "charges")
        if self.kind == "metadata":
            return ("customers",)
        return ()

    def _metadata(self, table: str) -> str:
        path = sql_text(f'$."{self.key}"')
        return f"json_extract_string({table}.metadata, {path})"

    def mapping(self) -> str:
        """``(subscription, currency, segment, name, share)``: which segments each
        subscription's MRR goes to, and what share of it."""
        items = MRR_ITEMS.table
        if self.kind == "product":
            return (
                f"SELECT i.subscription, i.currency, i.product AS segment, "  # noqa: S608
                f"any_value(p.name) AS name, sum(i.share) AS share FROM {items} i "
                "LEFT JOIN products p ON p.id = i.product GROUP BY ALL"
            )
        if self.kind == "price":
            return (
                f"SELECT i.subscription, i.currency, i.price AS segment, "  # noqa: S608
                f"any_value(p.nickname) AS name, sum(i.share) AS share FROM {items} i "
                "LEFT JOIN prices p ON p.id = i.price GROUP BY ALL"
            )
        if self.kind == "interval":
            count = "COALESCE(recurring_interval_count, 1)"
            return (
                f"SELECT subscription, currency, {count} || ' ' || recurring_interval "  # noqa: S608
                f"AS segment, CASE WHEN {count} = 1 THEN CASE recurring_interval "
                "WHEN 'day' THEN 'daily' WHEN 'week' THEN 'weekly' WHEN 'month' THEN 'monthly' "
                "ELSE 'yearly' END "
                f"ELSE 'every ' || {count} || ' ' || recurring_interval || 's' END AS name, "
                f"sum(share) AS share FROM {items} GROUP BY ALL"
            )
        subs = MRR_SUBSCRIPTIONS.table
        if self.kind == "country":
            return (
                f"SELECT m.subscription, m.currency, "  # noqa: S608
                f"COALESCE(c.country, {sql_text(UNKNOWN_COUNTRY)}) AS segment, NULL AS name, "
                f"1.0 AS share FROM {subs} m "
                f"LEFT JOIN {CUSTOMER_COUNTRIES.table} c ON c.customer = m.customer"
            )
        return (
            f"SELECT m.subscription, m.currency, {self._metadata('c')} AS segment, "  # noqa: S608
            f"NULL AS name, 1.0 AS share FROM {subs} m "
            "LEFT JOIN customers c ON c.id = m.customer"
        )

    def drill_where(self, value: str | None) -> str:
        """The subscriptions of the segment ``value`` (SQL over the subscriptions dataset,
        reading only the datasets this segment reads)."""
        if self.kind in ("product", "price", "interval"):
            if self.kind == "interval":
                count, _, interval = (value or "").partition(" ")
                cond = (
                    f"recurring_interval = {sql_text(interval)} "
                    f"AND COALESCE(recurring_interval_count, 1) = {int(count or 0)}"
                )
            elif value is None:
                cond = f"{self.kind} IS NULL"
            else:
                cond = f"{self.kind} = {sql_text(value)}"
            return f"id IN (SELECT subscription FROM subscription_items WHERE {cond})"  # noqa: S608
        if self.kind == "country":
            known = f"SELECT customer FROM ({COUNTRIES_SQL}) AS countries"  # noqa: S608
            if value in (None, UNKNOWN_COUNTRY):
                return f"customer NOT IN ({known} WHERE country IS NOT NULL)"
            return f"customer IN ({known} WHERE country = {sql_text(str(value))})"
        meta = self._metadata("customers")
        if value is None:
            return f"customer NOT IN (SELECT id FROM customers WHERE {meta} IS NOT NULL)"  # noqa: S608
        return f"customer IN (SELECT id FROM customers WHERE {meta} = {sql_text(value)})"  # noqa: S608


def parse(text: str) -> Segment:
    """The segment a chart names (``ValueError`` with what is accepted otherwise)."""
    kind, dot, key = text.partition(".")
    if kind == "metadata" and dot:
        if not METADATA_KEY.match(key):
            raise ValueError(
                f"{key!r} cannot be a metadata key here: use up to 40 letters, digits, "
                "spaces, _ - . or :"
            )
        return Segment("metadata", key)
    if kind in KINDS and kind != "metadata" and not dot:
        return Segment(kind)
    raise ValueError(
        f"{text!r} is not a segment: use product, price, interval, country or "
        "metadata.<key> (a customer metadata key)"
    )


def segment_sql(segment: Segment, currency: bool = False) -> str:
    """Every metric of ``METRICS`` per currency and value of ``segment`` over ``[$start,
    $end)``, as ``subscribers`` counts them (only ``$currency``'s rows, if ``currency``)."""
    scoped = " AND m.currency = $currency" if currency else ""
    return f"""
WITH seg AS MATERIALIZED ({segment.mapping()}),
subs AS MATERIALIZED (
  SELECT m.customer, m.currency, m.status, m.created, m.paid_from, m.paid_to, g.segment,
    m.mrr * g.share AS mrr
  FROM {MRR_SUBSCRIPTIONS.table} m JOIN seg g ON g.subscription = m.subscription
    AND g.currency = m.currency
  WHERE m.status NOT IN ('incomplete', 'incomplete_expired')
    AND (m.status IN {sql_list(MRR_STATUSES)}
         OR (m.created < $end AND COALESCE(m.paid_to, $end) >= $start)){scoped}
),
paid AS MATERIALIZED (
  SELECT customer, currency, segment, paid_from,
    COALESCE(paid_to, 'infinity'::TIMESTAMPTZ) AS paid_to
  FROM subs
  WHERE mrr > 0 AND paid_from IS NOT NULL AND (paid_to IS NULL OR paid_to > paid_from)
    AND created < $end AND COALESCE(paid_to, $end) >= $start
),
per_customer AS (
  SELECT customer, currency, segment,
    bool_or(paid_from <= $start AND paid_to > $start) AS active,
    bool_or(paid_from >= $start AND paid_from < $end) AS began
  FROM paid GROUP BY ALL
),
ends AS (
  -- a paid time ending in the period with no other of the customer's in the segment running
  -- on: the customer churned from the segment
  SELECT e.customer, e.currency, e.segment, bool_or(o.customer IS NOT NULL) AS covered
  FROM paid e LEFT JOIN paid o ON o.customer = e.customer AND o.currency = e.currency
    AND o.segment IS NOT DISTINCT FROM e.segment
    AND o.paid_from <= e.paid_to AND o.paid_to > e.paid_to
  WHERE e.paid_to >= $start AND e.paid_to < $end
  GROUP BY e.customer, e.currency, e.segment, e.paid_to
),
parts AS (
  SELECT currency, segment, sum(mrr) AS mrr, count(DISTINCT customer) AS subscribers,
    0 AS active, 0 AS new, 0 AS churned
  FROM subs WHERE {_MRR} AND mrr > 0 GROUP BY ALL
  UNION ALL
  SELECT currency, segment, NULL, NULL, count(*) FILTER (WHERE active),
    count(*) FILTER (WHERE began AND NOT active), 0
  FROM per_customer GROUP BY ALL
  UNION ALL
  SELECT currency, segment, NULL, NULL, 0, 0, count(DISTINCT customer)
  FROM ends WHERE NOT covered GROUP BY ALL
),
names AS (SELECT segment, any_value(name) AS name FROM seg GROUP BY segment),
totals AS (
  SELECT currency, segment, sum(mrr) AS mrr, sum(subscribers) AS subscribers,
    sum(active) AS active, sum(new) AS new, sum(churned) AS churned
  FROM parts GROUP BY currency, segment
)
SELECT t.currency, t.segment, n.name,
  round(t.mrr) AS mrr,
  round(12 * t.mrr) AS arr,
  t.subscribers AS active_subscribers,
  round(t.mrr / t.subscribers) AS arpu,
  t.new AS new_subscribers,
  t.churned AS churned_subscribers,
  CASE WHEN t.active + t.new > 0 THEN t.churned / (t.active + t.new) END AS subscriber_churn_rate
FROM totals t LEFT JOIN names n ON n.segment IS NOT DISTINCT FROM t.segment
ORDER BY t.currency, t.mrr DESC NULLS LAST, t.segment
"""  # noqa: S608
