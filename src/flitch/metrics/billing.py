"""Billing metrics: MRR and its family, subscriptions and trials, invoices, credit notes,
coupons. Definitions and SQL side by side (see ``model``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.derived import MRR_SUBSCRIPTIONS
from flitch.metrics.model import (
    ALL,
    NO_CURRENCY,
    PREVIOUS_PART,
    Column,
    Metric,
    Report,
    Unit,
    aggregate,
    from_family,
    sql_list,
    sql_text,
)
from flitch.metrics.mrr_sql import MRR_STATUSES
from flitch.metrics.subscribers import SUBSCRIBER_FAMILY

_IN_MRR = f"status IN {sql_list(MRR_STATUSES)}"
_MRR_DATASETS = ("subscriptions", "prices", "coupons")

#: How the value at the period's start is rebuilt (part of each MRR metric's definition).
AT_START = (
    " Compared with its value at the period's start, rebuilt: the subscriptions paid at that "
    "instant, each at today's items, prices, quantities and forever coupons (Stripe keeps no "
    "history of them), so plan and coupon changes since do not show in that change."
)


def _mrr_family(name: str, label: str, unit: Unit, definition: str) -> Metric:
    return Metric(
        name=name,
        label=label,
        unit=unit,
        definition=definition + AT_START,
        datasets=_MRR_DATASETS,
        ranged=False,
        current=True,
        sql=from_family(SUBSCRIBER_FAMILY, name),
        previous_sql=from_family(SUBSCRIBER_FAMILY, name, PREVIOUS_PART),
        family=SUBSCRIBER_FAMILY,
        drill_dataset="subscriptions",
        drill_where=_IN_MRR,
    )


def _current(
    name: str,
    label: str,
    unit: Unit,
    definition: str,
    table: str,
    value: str,
    where: str,
    currency_note: str = "",
    read_filter: tuple[str, str] | None = None,
) -> Metric:
    """A metric of the present state of one dataset (whatever the period), per currency
    unless ``currency_note`` says why not. ``read_filter``: a list parameter and value Stripe
    can narrow the live read with, implied by ``where``."""
    key = sql_text(ALL) if currency_note else "currency"
    return Metric(
        name=name,
        label=label,
        unit=unit,
        definition=definition,
        datasets=(table,),
        ranged=False,
        current=True,
        sql=f"SELECT {key}, {value} FROM {table} WHERE {where} GROUP BY 1",  # noqa: S608
        drill_dataset=table,
        drill_where=where,
        currency_note=currency_note,
        read_filters=((table, *read_filter),) if read_filter else (),
    )


MRR_FAMILY: tuple[Metric, ...] = (
    _mrr_family(
        "mrr",
        "MRR",
        Unit.MONEY,
        "Monthly recurring revenue, Stripe's way: subscriptions that are active or past_due; "
        "each recurring, licensed (not metered) item's amount × quantity (tiered prices: the "
        "tier total for the quantity), normalised to a month (yearly ÷ 12, quarterly ÷ 3; "
        "weekly × 52 ÷ 12 and daily × 365 ÷ 12, calendar averages since Stripe publishes no "
        "factor for them); less forever coupons (percent off, or amount off in the coupon's "
        "currency spread over the billing interval). Once and repeating coupons, taxes, "
        "trials and free subscriptions add nothing. The current value, whatever the period.",
    ),
    _mrr_family(
        "arr",
        "ARR",
        Unit.MONEY,
        "Annual run rate: 12 × MRR, per currency (the current value, whatever the period).",
    ),
    _mrr_family(
        "active_subscribers",
        "Active subscribers",
        Unit.COUNT,
        "Customers with at least one paid subscription (MRR above zero) that is active or "
        "past_due. A customer paying in two currencies counts in each.",
    ),
    _mrr_family(
        "arpu",
        "ARPU",
        Unit.MONEY,
        "Average revenue per user: MRR ÷ active subscribers, per currency.",
    ),
    _mrr_family(
        "mrr_coupon_discount",
        "MRR discounted by coupons",
        Unit.MONEY,
        "How much MRR forever coupons take off: the MRR of active and past_due subscriptions "
        "before their forever coupons, less their MRR after them. Once and repeating coupons "
        "do not reduce MRR, so they discount none of it.",
    ),
)

SUBSCRIPTIONS: tuple[Metric, ...] = (
    aggregate(
        name="new_subscriptions",
        label="New subscriptions",
        unit=Unit.COUNT,
        definition="Subscriptions created in the period, whatever their status now (trials "
        "and incomplete ones included). Per currency.",
        table="subscriptions",
        value="count(*)",
    ),
    aggregate(
        name="canceled_subscriptions",
        label="Canceled subscriptions",
        unit=Unit.COUNT,
        definition="Subscriptions that ended in the period (by ended_at). Per currency.",
        table="subscriptions",
        value="count(*)",
        time_column="ended_at",
        until_end=True,
    ),
    _current(
        "trialing_subscriptions",
        "In trial",
        Unit.COUNT,
        "Subscriptions in their trial now (status trialing): not in MRR until the trial ends "
        "and the first invoice is paid. Per currency.",
        "subscriptions",
        "count(*)",
        "status = 'trialing'",
        read_filter=("status", "trialing"),
    ),
    aggregate(
        name="trials_started",
        label="Trials started",
        unit=Unit.COUNT,
        definition="Subscriptions whose trial started in the period (by trial_start). Per "
        "currency.",
        table="subscriptions",
        value="count(*)",
        time_column="trial_start",
        until_end=True,
    ),
)

# An invoice is past due when it is open and its due date has passed (sent invoices), or,
# charged automatically, when a payment attempt has already failed.
_PAST_DUE = "status = 'open' AND (due_date < $end OR (due_date IS NULL AND attempted))"

INVOICES: tuple[Metric, ...] = (
    aggregate(
        name="invoice_amount_paid",
        label="Invoices paid",
        unit=Unit.MONEY,
        definition="The amount paid on invoices that were paid in the period (by paid_at).",
        table="invoices",
        value="sum(amount_paid)",
        time_column="paid_at",
        until_end=True,
    ),
    _current(
        "invoices_outstanding",
        "Outstanding",
        Unit.MONEY,
        "The amount still due on open invoices now (amount_remaining), per currency. Drafts, "
        "void and uncollectible invoices are left out.",
        "invoices",
        "sum(amount_remaining)",
        "status = 'open'",
        read_filter=("status", "open"),
    ),
    _current(
        "past_due_invoices",
        "Past-due invoices",
        Unit.COUNT,
        "Open invoices whose due date has passed, or, for invoices charged automatically, "
        "whose payment has been attempted and failed. Per currency.",
        "invoices",
        "count(*)",
        _PAST_DUE,
        read_filter=("status", "open"),
    ),
    _current(
        "past_due_amount",
        "Past-due amount",
        Unit.MONEY,
        "The amount still due (amount_remaining) on past-due invoices, per currency.",
        "invoices",
        "sum(amount_remaining)",
        _PAST_DUE,
        read_filter=("status", "open"),
    ),
    aggregate(
        name="credit_notes_total",
        label="Credit notes",
        unit=Unit.MONEY,
        definition="The total of credit notes issued in the period against invoices (void "
        "credit notes left out), per currency.",
        table="credit_notes",
        value="sum(total)",
        where="status <> 'void'",
    ),
    aggregate(
        name="credit_notes_issued",
        label="Credit notes issued",
        unit=Unit.COUNT,
        definition="The number of credit notes issued in the period (void ones left out). "
        "Per currency.",
        table="credit_notes",
        value="count(*)",
        where="status <> 'void'",
    ),
    _current(
        "coupon_redemptions",
        "Coupon redemptions",
        Unit.COUNT,
        "How many times coupons have been applied, ever (the sum of each coupon's "
        "times_redeemed, as Stripe counts it); deleted coupons are not listed by Stripe.",
        "coupons",
        "sum(times_redeemed)",
        "times_redeemed > 0",
        currency_note="Stripe counts a coupon's redemptions (times_redeemed) without their "
        "currency, and a percent-off coupon applies in any: this counts every currency's.",
    ),
)

METRICS: tuple[Metric, ...] = MRR_FAMILY + SUBSCRIPTIONS + INVOICES

_COUPON_USAGE_SQL = f"""
WITH carried AS (
  -- each coupon once per subscription, however many of its discounts carry it (its share is
  -- one of the subscription's distinct forever coupons)
  SELECT DISTINCT coupon, subscription FROM subscription_discounts
),
attached AS (
  SELECT d.coupon, sm.currency, count(*) AS subscriptions,
    sum(CASE WHEN list_contains(sm.forever_coupons, d.coupon)
             THEN (sm.gross_mrr - sm.mrr) / len(sm.forever_coupons) ELSE 0 END) AS discount
  FROM carried d
  JOIN {MRR_SUBSCRIPTIONS.table} sm ON sm.subscription = d.subscription
  WHERE sm.status IN {sql_list(MRR_STATUSES)}
  GROUP BY ALL
)
SELECT COALESCE(a.currency, lower(c.currency), '{NO_CURRENCY}') AS currency, c.id AS coupon, c.name,
  c.duration, c.percent_off, c.amount_off, COALESCE(c.times_redeemed, 0) AS redemptions,
  COALESCE(a.subscriptions, 0) AS subscriptions,
  CAST(round(COALESCE(a.discount, 0)) AS BIGINT) AS mrr_discount
FROM coupons c LEFT JOIN attached a ON a.coupon = c.id
ORDER BY currency, mrr_discount DESC, redemptions DESC, coupon
"""  # noqa: S608


def _coupon_drill(row: Mapping[str, Any]) -> tuple[str, str]:
    cond = [_IN_MRR]
    if row.get("coupon"):
        cond.append(f"CAST(discounts AS VARCHAR) LIKE {sql_text('%' + str(row['coupon']) + '%')}")
    if row.get("currency") and row["currency"] != NO_CURRENCY:
        cond.append(f"currency = {sql_text(str(row['currency']))}")
    return "subscriptions", " AND ".join(cond)


COUPON_USAGE = Report(
    name="coupon_usage",
    label="Coupon usage",
    definition=(
        "Each coupon: its lifetime redemptions (times_redeemed), the active and past_due "
        "subscriptions carrying it now, and the MRR it takes off them (forever coupons only; "
        "a subscription with two forever coupons splits its discount evenly between them). "
        "Per currency of those subscriptions (a coupon on subscriptions in two currencies has "
        "a row in each); a coupon on none is under its own currency (amount off), or none."
    ),
    datasets=_MRR_DATASETS,
    sql=_COUPON_USAGE_SQL,
    columns=(
        Column("currency", "Currency"),
        Column("coupon", "Coupon"),
        Column("name", "Name"),
        Column("duration", "Duration"),
        Column("percent_off", "Percent off"),
        Column("amount_off", "Amount off", Unit.MONEY),
        Column("redemptions", "Redemptions", Unit.COUNT),
        Column("subscriptions", "Subscriptions now", Unit.COUNT),
        Column("mrr_discount", "MRR discounted", Unit.MONEY),
    ),
    drill=_coupon_drill,
    ranged=False,
)
