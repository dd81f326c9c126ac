"""The built-in dashboards — Payments, Billing, Revenue, Retention — as data.

Each is a list of charts (``model.Chart``): number tiles for the headline metrics (with the
change against the previous period), the same metrics over time, breakdowns of datasets, and
the table-shaped reports (top customers, MRR movements, coupon usage, the balance bridge).
"""

from __future__ import annotations

from collections.abc import Mapping

from flitch.dashboards.model import (
    Agg,
    Chart,
    ChartType,
    Dashboard,
    Filter,
    Grouping,
    Measure,
    Op,
)
from flitch.errors import NotFound
from flitch.metrics.series import Grain

N = ChartType.NUMBER
COUNT = Measure(Agg.COUNT)

#: What each built-in chart on a dataset shows, written for people, keyed by what it counts
#: (``content_key``) rather than by its id: a copy keeps the sentence while it counts the
#: same rows, and once changed it is described from its parts (``explain.describe``).
DESCRIPTIONS: dict[tuple[object, ...], str] = {}


def content_key(chart: Chart) -> tuple[object, ...]:
    """What a dataset chart counts: its dataset, measures, grouping, filters and period."""
    return (
        chart.dataset,
        chart.measures,
        chart.group,
        tuple((f.column, f.op, _frozen(f.value)) for f in chart.filters),
        chart.time_column,
        chart.whole,
    )


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def described(text: str, chart: Chart) -> Chart:
    DESCRIPTIONS[content_key(chart)] = text
    return chart


def number(title: str, metric: str) -> Chart:
    return Chart(title=title, type=N, metric=metric)


def over_time(title: str, metric: str, kind: ChartType = ChartType.LINE) -> Chart:
    """A metric per bucket; the grain follows the period unless the chart says otherwise."""
    return Chart(title=title, type=kind, metric=metric)


PAYMENTS = Dashboard(
    name="payments",
    title="Payments",
    description="Money coming in: volume, successful and failed payments, refunds, disputes, "
    "new and top customers.",
    builtin=True,
    charts=(
        number("Gross volume", "gross_volume"),
        number("Successful payments", "successful_payments"),
        number("Failed payments", "failed_payments"),
        number("Failure rate", "failure_rate"),
        number("Refunds", "refunds"),
        number("Disputes", "disputes"),
        number("Dispute rate", "dispute_rate"),
        number("New customers", "new_customers"),
        over_time("Gross volume", "gross_volume", ChartType.AREA),
        over_time("Successful payments", "successful_payments", ChartType.BAR),
        over_time("Failed payments", "failed_payments", ChartType.BAR),
        over_time("Refunds", "refunds", ChartType.BAR),
        over_time("Disputes", "disputes", ChartType.BAR),
        over_time("New customers", "new_customers", ChartType.BAR),
        described(
            "Charges created in the period, by status (succeeded, pending or failed), per "
            "currency: how many.",
            Chart(
                title="Charges by status",
                type=ChartType.PIE,
                dataset="charges",
                measures=(COUNT,),
                group=Grouping(column="status"),
            ),
        ),
        described(
            "Failed charges in the period, by failure code, per currency: how many, and the "
            "amount that was not collected.",
            Chart(
                title="Why payments failed",
                type=ChartType.TABLE,
                dataset="charges",
                measures=(COUNT, Measure(Agg.SUM, "amount")),
                group=Grouping(column="failure_code"),
                filters=(Filter("status", Op.EQ, "failed"),),
            ),
        ),
        Chart(title="Top customers", type=ChartType.TABLE, metric="top_customers"),
    ),
)

BILLING = Dashboard(
    name="billing",
    title="Billing",
    description="Recurring revenue: MRR and ARR, subscribers and churn, MRR movements, "
    "subscriptions, trials, invoices, credit notes and coupons.",
    builtin=True,
    charts=(
        number("MRR", "mrr"),
        number("ARR", "arr"),
        number("Active subscribers", "active_subscribers"),
        number("ARPU", "arpu"),
        number("Subscriber churn rate", "subscriber_churn_rate"),
        number("Churn rate, rolling 30 days", "subscriber_churn_rate_30d"),
        number("New subscribers", "new_subscribers"),
        number("Churned subscribers", "churned_subscribers"),
        number("In trial", "trialing_subscriptions"),
        number("Trials started", "trials_started"),
        number("Invoices paid", "invoice_amount_paid"),
        number("Outstanding", "invoices_outstanding"),
        number("Past-due invoices", "past_due_invoices"),
        number("Credit notes", "credit_notes_total"),
        number("Coupon redemptions", "coupon_redemptions"),
        number("MRR discounted by coupons", "mrr_coupon_discount"),
        Chart(title="MRR movements", type=ChartType.WATERFALL, metric="mrr_movements"),
        # by week at most: a churn rate per day is noise
        Chart(
            title="Subscriber churn rate",
            type=ChartType.LINE,
            metric="subscriber_churn_rate",
            group=Grouping(grain=Grain.WEEK),
        ),
        # each point: the 30 days ending with its week (Stripe's rate, over time)
        Chart(
            title="Churn rate, rolling 30 days",
            type=ChartType.LINE,
            metric="subscriber_churn_rate_30d",
            group=Grouping(grain=Grain.WEEK),
        ),
        over_time("New subscriptions", "new_subscriptions", ChartType.BAR),
        described(
            "Every subscription as it stands today, whatever the period, by status (active, "
            "trialing, past due, canceled…), per currency: how many.",
            Chart(
                title="Subscriptions by status",
                type=ChartType.PIE,
                dataset="subscriptions",
                measures=(COUNT,),
                group=Grouping(column="status"),
                whole=True,
            ),
        ),
        over_time("Trials started", "trials_started", ChartType.BAR),
        described(
            "Invoices created in the period, by status (draft, open, paid, void or "
            "uncollectible), per currency: how many, how much has been paid on them and how "
            "much is still due.",
            Chart(
                title="Invoices by status",
                type=ChartType.TABLE,
                dataset="invoices",
                measures=(
                    COUNT,
                    Measure(Agg.SUM, "amount_paid"),
                    Measure(Agg.SUM, "amount_remaining"),
                ),
                group=Grouping(column="status"),
            ),
        ),
        over_time("Credit notes", "credit_notes_total", ChartType.BAR),
        Chart(title="Coupon usage", type=ChartType.TABLE, metric="coupon_usage"),
    ),
)

REVENUE = Dashboard(
    name="revenue",
    title="Revenue",
    description="The money that moved: the balance bridge from gross to payouts, net volume, "
    "fees over time, payouts by arrival date.",
    builtin=True,
    charts=(
        number("Net volume", "net_volume"),
        number("Fees", "fees"),
        number("Payouts", "payouts"),
        number("Gross volume", "gross_volume"),
        Chart(title="Balance bridge", type=ChartType.WATERFALL, metric="balance_bridge"),
        over_time("Net volume", "net_volume", ChartType.AREA),
        over_time("Fees", "fees"),
        over_time("Payouts by arrival date", "payouts", ChartType.BAR),
        described(
            "Payouts due to arrive in the bank in the period, by status (paid, pending, in "
            "transit, failed or canceled), per currency: how many and how much.",
            Chart(
                title="Payouts by status",
                type=ChartType.TABLE,
                dataset="payouts",
                measures=(COUNT, Measure(Agg.SUM, "amount")),
                group=Grouping(column="status"),
                time_column="arrival_date",
            ),
        ),
        described(
            "Money that moved through the Stripe balance in the period, by category (charges, "
            "refunds, disputes, fees, payouts…), per currency: how many movements, their gross "
            "amount and Stripe's fees on them.",
            Chart(
                title="Balance transactions by category",
                type=ChartType.TABLE,
                dataset="balance_transactions",
                measures=(COUNT, Measure(Agg.SUM, "amount"), Measure(Agg.SUM, "fee")),
                group=Grouping(column="reporting_category"),
            ),
        ),
    ),
)

RETENTION = Dashboard(
    name="retention",
    title="Retention",
    description="Are the customers and the revenue won kept: cohorts, net and gross revenue "
    "retention, MRR churn, what a subscriber is worth, and how trials convert.",
    builtin=True,
    charts=(
        number("NRR, 12 months", "nrr_12m"),
        number("GRR, 12 months", "grr_12m"),
        number("NRR over the period", "nrr"),
        number("GRR over the period", "grr"),
        number("MRR churn rate", "mrr_churn_rate"),
        number("Subscriber lifetime value", "subscriber_ltv"),
        number("ARPA", "arpu"),
        number("Average sale price", "asp"),
        number("Trial conversion rate", "trial_conversion_rate"),
        # read with status=trialing, a few pages: drawn while the whole lists are still read
        number("In trial", "trialing_subscriptions"),
        Chart(title="Cohorts", type=ChartType.TABLE, metric="mrr_cohorts"),
        # each point: the twelve months ending with its month
        Chart(
            title="NRR, 12 months, by month",
            type=ChartType.LINE,
            metric="nrr_12m",
            group=Grouping(grain=Grain.MONTH),
        ),
        Chart(
            title="GRR, 12 months, by month",
            type=ChartType.LINE,
            metric="grr_12m",
            group=Grouping(grain=Grain.MONTH),
        ),
        Chart(
            title="Average sale price",
            type=ChartType.BAR,
            metric="asp",
            group=Grouping(grain=Grain.MONTH),
        ),
        Chart(title="Trials", type=ChartType.TABLE, metric="trial_funnel"),
    ),
)

BUILTIN: Mapping[str, Dashboard] = {
    d.name: d.check() for d in (PAYMENTS, BILLING, REVENUE, RETENTION)
}
#: Grains a user can pick; ``None`` lets the period decide.
GRAINS = tuple(g.value for g in Grain)


def get_builtin(name: str) -> Dashboard:
    try:
        return BUILTIN[name]
    except KeyError:
        raise NotFound(
            f"There is no built-in dashboard {name!r}.",
            f"Use one of: {', '.join(BUILTIN)}.",
        ) from None
