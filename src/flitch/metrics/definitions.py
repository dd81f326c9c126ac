"""Revenue metrics as data: each one's definition, the datasets it reads, and its SQL.

One entry per metric in ``METRICS`` (payments and balance here; MRR, subscribers, churn,
invoices and coupons in ``billing`` and ``churn``), and one per table-shaped report in
``REPORTS`` (the balance bridge, MRR movements, top customers, coupon usage). The ``definition``
shown next to a number in the product and the SQL that computes it live side by side, so the
explanation cannot drift from the code. Every metric is computed per currency (amounts are never
added across currencies) and in the currency's smallest unit, as Stripe gives amounts.

See ``model`` for what the SQL receives and returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from flitch.metrics import billing, bridge, churn, lifetime, movements, retention, top
from flitch.metrics.bridge import NET_VOLUME_CATEGORIES
from flitch.metrics.model import Metric, Report, Unit, aggregate, currency_key, ratio, sql_list
from flitch.metrics.mrr_sql import MRR_STATUSES

__all__ = [
    "BY_NAME",
    "METRICS",
    "MRR_STATUSES",
    "NET_VOLUME_CATEGORIES",
    "REPORTS",
    "REPORTS_BY_NAME",
    "UP_IS_GOOD",
    "Metric",
    "Report",
    "Unit",
    "get",
    "get_report",
]

_SUCCEEDED = "status = 'succeeded' AND paid"

PAYMENTS: tuple[Metric, ...] = (
    aggregate(
        name="gross_volume",
        label="Gross volume",
        unit=Unit.MONEY,
        definition=(
            "The sum of the amounts of successful charges (status succeeded, paid) created in "
            "the period, before refunds, disputes and fees. Per currency."
        ),
        table="charges",
        value="sum(amount)",
        where=_SUCCEEDED,
    ),
    aggregate(
        name="successful_payments",
        label="Successful payments",
        unit=Unit.COUNT,
        definition="The number of successful charges (status succeeded, paid) created in the "
        "period. Per currency.",
        table="charges",
        value="count(*)",
        where=_SUCCEEDED,
    ),
    aggregate(
        name="failed_payments",
        label="Failed payments",
        unit=Unit.COUNT,
        definition="The number of charges with status failed created in the period. Per currency.",
        table="charges",
        value="count(*)",
        where="status = 'failed'",
    ),
    aggregate(
        name="failed_volume",
        label="Failed payment amount",
        unit=Unit.MONEY,
        definition="The sum of the amounts of failed charges created in the period.",
        table="charges",
        value="sum(amount)",
        where="status = 'failed'",
    ),
    ratio(
        name="failure_rate",
        label="Payment failure rate",
        definition="Failed charges ÷ (successful + failed charges) created in the period; "
        "pending charges are left out. Per currency.",
        numerator=("charges", "status = 'failed'"),
        denominator=("charges", "status IN ('failed', 'succeeded')"),
        drill=("charges", "status IN ('failed', 'succeeded')"),
    ),
    aggregate(
        name="refunds",
        label="Refunds",
        unit=Unit.MONEY,
        definition="The amount refunded (amount_refunded, partial refunds included) on charges "
        "created in the period. Refunds are counted against the charge's date; the Revenue "
        "bridge counts them when the money moved instead.",
        table="charges",
        value="sum(amount_refunded)",
        where="amount_refunded > 0",
    ),
    aggregate(
        name="disputes",
        label="Disputes",
        unit=Unit.COUNT,
        definition="The number of disputes opened in the period. Per currency.",
        table="disputes",
        value="count(*)",
    ),
    aggregate(
        name="disputed_amount",
        label="Disputed amount",
        unit=Unit.MONEY,
        definition="The sum of the amounts of disputes opened in the period.",
        table="disputes",
        value="sum(amount)",
    ),
    ratio(
        name="dispute_rate",
        label="Dispute rate",
        definition="Disputes opened in the period ÷ successful charges created in the period. "
        "Per currency.",
        numerator=("disputes", ""),
        denominator=("charges", _SUCCEEDED),
        drill=("disputes", ""),
    ),
    aggregate(
        name="new_customers",
        label="New customers",
        unit=Unit.COUNT,
        definition="Customers created in the period (deleted customers are not listed by "
        "Stripe and so not counted). Per currency: the one Stripe bills the customer in, set "
        "when they are first billed; customers not billed yet have none and are counted apart.",
        table="customers",
        value="count(*)",
        key=currency_key(),
    ),
)

_NET = f"reporting_category IN {sql_list(NET_VOLUME_CATEGORIES)}"

BALANCE: tuple[Metric, ...] = (
    aggregate(
        name="net_volume",
        label="Net volume",
        unit=Unit.MONEY,
        definition="The money that moved, net of fees: the sum of net over balance transactions "
        "created in the period in the charge, refund, dispute, fee and adjustment categories "
        "(payouts, transfers and top-ups left out).",
        table="balance_transactions",
        value="sum(net)",
        where=_NET,
    ),
    aggregate(
        name="fees",
        label="Fees",
        unit=Unit.MONEY,
        definition="Stripe's fees: the sum of fee over balance transactions created in the "
        "period, plus fees charged on their own (the fee reporting category).",
        table="balance_transactions",
        value="sum(fee) - COALESCE(sum(amount) FILTER (WHERE reporting_category = 'fee'), 0)",
        where="(fee <> 0 OR reporting_category = 'fee')",
    ),
    aggregate(
        name="payouts",
        label="Payouts",
        unit=Unit.MONEY,
        definition="Money paid out to the bank: the sum of payouts arriving in the period "
        "(by arrival_date), failed and canceled payouts left out.",
        table="payouts",
        value="sum(amount)",
        where="status NOT IN ('failed', 'canceled')",
        time_column="arrival_date",
        ranged=False,
    ),
)

METRICS: tuple[Metric, ...] = (
    PAYMENTS + billing.METRICS + churn.METRICS + BALANCE + retention.METRICS + lifetime.METRICS
)

REPORTS: tuple[Report, ...] = (
    top.TOP_CUSTOMERS,
    movements.MRR_MOVEMENTS,
    billing.COUPON_USAGE,
    bridge.BALANCE_BRIDGE,
    retention.MRR_COHORTS,
    lifetime.TRIAL_FUNNEL,
)

#: Whether a rise of each metric is good news (True), bad news (False) or neither (None): a
#: change is shown as better or worse by it, in colour and in words. A metric needs an entry
#: here to be shown as either (a test checks that each has one).
UP_IS_GOOD: Mapping[str, bool | None] = {
    # payments
    "gross_volume": True,
    "successful_payments": True,
    "failed_payments": False,
    "failed_volume": False,
    "failure_rate": False,
    "refunds": False,
    "disputes": False,
    "disputed_amount": False,
    "dispute_rate": False,
    "new_customers": True,
    # recurring revenue and subscribers
    "mrr": True,
    "arr": True,
    "active_subscribers": True,
    "arpu": True,
    "mrr_coupon_discount": False,  # revenue given away
    "new_subscriptions": True,
    "canceled_subscriptions": False,
    "trialing_subscriptions": True,
    "trials_started": True,
    "new_subscribers": True,
    "churned_subscribers": False,
    "subscriber_churn_rate": False,
    "subscriber_churn_rate_30d": False,
    "mrr_churn_rate": False,
    "nrr": True,
    "grr": True,
    "nrr_12m": True,
    "grr_12m": True,
    "subscriber_ltv": True,
    "asp": True,
    "trial_conversion_rate": True,
    # invoices and coupons
    "invoice_amount_paid": True,
    "invoices_outstanding": None,  # more billed, or paid later: it depends
    "past_due_invoices": False,
    "past_due_amount": False,
    "credit_notes_total": False,
    "credit_notes_issued": False,
    "coupon_redemptions": None,
    # balance
    "net_volume": True,
    "fees": False,
    "payouts": None,  # money moved to the bank, neither earned nor lost
}

METRICS = tuple(replace(m, up_is_good=UP_IS_GOOD.get(m.name)) for m in METRICS)

BY_NAME: Mapping[str, Metric] = {m.name: m for m in METRICS}
REPORTS_BY_NAME: Mapping[str, Report] = {r.name: r for r in REPORTS}


def get(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        valid = ", ".join(BY_NAME)
        raise KeyError(f"unknown metric {name!r}; expected one of: {valid}") from None


def get_report(name: str) -> Report:
    try:
        return REPORTS_BY_NAME[name]
    except KeyError:
        valid = ", ".join(REPORTS_BY_NAME)
        raise KeyError(f"unknown report {name!r}; expected one of: {valid}") from None
