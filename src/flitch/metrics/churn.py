"""Subscribers over time: new, churned, and the subscriber churn rate.

Who is a subscriber when is defined in ``subscribers`` (a customer with a paid subscription).
Over a window ``[lo, hi)``:
- active at the start: subscribers at ``lo``;
- new: customers not subscribers at ``lo`` who became one in the window (returning customers
  included);
- churned: customers who stopped being subscribers in the window (the last of their paid
  subscriptions ended, with no other one running at that moment); a customer is counted once;
- churn rate = churned ÷ (active at the start + new), Stripe's formula.

Every count and rate is per currency, as MRR and its subscribers are: a customer is a
subscriber in each currency they have a paid subscription in, and churns in a currency when the
last of those ends.

The headline numbers come from ``SUBSCRIBER_FAMILY``: over the period picked, and over the 30
days ending at its end (the rolling window Stripe's Dashboard shows), and per bucket of the
grain (the same statement's series part).

Only subscriptions created before the window's end, and paid at some time from its start on,
matter; their items and discounts come from the typed tables ``subscription_items`` and
``subscription_discounts``.
"""

from __future__ import annotations

from flitch.metrics.derived import PAID_FROM, PAID_TO
from flitch.metrics.model import Metric, Unit, family_series, from_family
from flitch.metrics.subscribers import ROLLING_DAYS, SUBSCRIBER_FAMILY

_DATASETS = ("subscriptions", "prices", "coupons")

_STARTED = (
    "status NOT IN ('incomplete', 'incomplete_expired') AND created < $end "
    f"AND {PAID_FROM} >= $start AND {PAID_FROM} < $end"
)
_ENDED = f"created < $end AND {PAID_TO} >= $start AND {PAID_TO} < $end"
_ENDED_ROLLING = (
    f"created < $end AND {PAID_TO} >= $end - INTERVAL {ROLLING_DAYS} DAY AND {PAID_TO} < $end"
)


def _churn_metric(
    name: str,
    label: str,
    unit: Unit,
    definition: str,
    series: bool,
    drill: str,
    time_column: str,
    rolling_days: int = 0,
) -> Metric:
    return Metric(
        name=name,
        label=label,
        unit=unit,
        definition=definition,
        datasets=_DATASETS,
        ranged=False,
        until_end=("subscriptions",),
        sql=from_family(SUBSCRIBER_FAMILY, name),
        family=SUBSCRIBER_FAMILY,
        series=family_series(SUBSCRIBER_FAMILY, name) if series else "",
        drill_dataset="subscriptions",
        drill_where=drill,
        time_column=time_column,
        rolling_days=rolling_days,
    )


_PER_CURRENCY = (
    " Per currency, as MRR: a customer is a subscriber in each currency they have a paid "
    "subscription in (moving from one currency to another is a churn in the first and a new "
    "subscriber in the second)."
)
_RULES = (
    "A subscriber churns when the last of their paid subscriptions is canceled (or goes "
    "unpaid or paused); free subscriptions and trials do not count." + _PER_CURRENCY
)

METRICS: tuple[Metric, ...] = (
    _churn_metric(
        "subscriber_churn_rate",
        "Subscriber churn rate",
        Unit.RATIO,
        "Subscribers who churned in the period ÷ (subscribers at its start + new subscribers "
        f"in it). {_RULES} Over the period picked; the rolling 30-day rate beside it is the "
        "one Stripe's Dashboard shows.",
        True,
        _ENDED,
        PAID_TO,
    ),
    _churn_metric(
        "subscriber_churn_rate_30d",
        "Subscriber churn rate, rolling 30 days",
        Unit.RATIO,
        f"Stripe's churn rate: subscribers who churned in the {ROLLING_DAYS} days ending at the "
        f"period's end ÷ (subscribers {ROLLING_DAYS} days before that end + new subscribers in "
        f"those days), whatever the period picked. {_RULES} Compared with the {ROLLING_DAYS} "
        f"days ending at the period's start. Over time, each point is the rate over the "
        f"{ROLLING_DAYS} days ending with its bucket.",
        True,
        _ENDED_ROLLING,
        PAID_TO,
        ROLLING_DAYS,
    ),
    _churn_metric(
        "churned_subscribers",
        "Churned subscribers",
        Unit.COUNT,
        "Customers who stopped being subscribers in the period: the last of their paid "
        "subscriptions ended (canceled, or went unpaid or paused) with no other one running."
        + _PER_CURRENCY,
        True,
        _ENDED,
        PAID_TO,
    ),
    _churn_metric(
        "new_subscribers",
        "New subscribers",
        Unit.COUNT,
        "Customers who became subscribers in the period (their first paid subscription, or a "
        "return after churning; a trial counts once it ends and is paid for)." + _PER_CURRENCY,
        True,
        _STARTED,
        PAID_FROM,
    ),
)
