"""What a subscriber is worth, and how trials turn into subscribers.

- **Subscriber lifetime value** (the form Stripe's Billing analytics shows): ARPU ÷ the
  subscriber churn rate over the rolling 30 days, both from the subscriber family
  (``subscribers``). With no churn the quotient has no value: a currency without churn has
  no lifetime value rather than an infinite (or zero) one, and the definition says so.
- **ASP** (average sale price): the mean MRR, at the moment they started, of the customers who
  became subscribers in the period (from no MRR: new or returning, as new subscribers are),
  read from the instants customers became subscribers (``derived_mrr_starts``), rebuilt from
  invoices. Beside ARPA (MRR ÷
  subscribers, Flitch's ARPU) it says whether new business is bigger or smaller than the base.
- **Trial conversion**: of the trials that ended in the period (at their trial end, or earlier
  when the subscription was canceled during it), the share whose first invoice after the
  trial was paid with an amount above zero. A trial converting to a free invoice did not
  convert: it made no subscriber. The funnel beside it counts trials started, ended and
  converted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.derived import MRR_STARTS
from flitch.metrics.model import (
    PREVIOUS_PART,
    Column,
    Family,
    Metric,
    Report,
    Unit,
    family_series,
    from_family,
    period,
    sql_text,
)
from flitch.metrics.retention import DATASETS, EPSILON
from flitch.metrics.subscribers import ROLLING_DAYS, SUBSCRIBER_FAMILY

# -- lifetime value ------------------------------------------------------------------------------
SUBSCRIBER_LTV = Metric(
    name="subscriber_ltv",
    label="Subscriber lifetime value",
    unit=Unit.MONEY,
    definition=(
        f"ARPU (MRR ÷ active subscribers) ÷ the subscriber churn rate over the {ROLLING_DAYS} "
        "days ending at the period's end: what a subscriber brings in over their life at "
        "today's churn, as Stripe's Billing analytics computes it. Undefined when no "
        "subscriber churned in those days (a churn rate of 0): that currency then has no "
        "value, not an infinite one. Compared with its value at the period's start. Per "
        "currency."
    ),
    datasets=("subscriptions", "prices", "coupons"),
    ranged=False,
    until_end=("subscriptions",),
    current=True,
    # a column of the subscriber family: its ARPU and churn rate are that statement's own
    sql=from_family(SUBSCRIBER_FAMILY, "subscriber_ltv"),
    previous_sql=from_family(SUBSCRIBER_FAMILY, "subscriber_ltv", PREVIOUS_PART),
    family=SUBSCRIBER_FAMILY,
    drill_dataset="subscriptions",
    drill_where="status IN ('active', 'past_due')",
)


# -- average sale price --------------------------------------------------------------------------
#: The start of the period before (what ASP is compared with).
_BEFORE = "($start::TIMESTAMPTZ - ($end::TIMESTAMPTZ - $start::TIMESTAMPTZ))"
_MEAN = f"round(avg(round(mrr, 6)) FILTER (WHERE mrr > {EPSILON}), 6)"

#: ASP over the period and the period before, and (with ``$grain``) per bucket of the period:
#: per customer and currency, their first start in each (``derived_mrr_starts``: an instant
#: they went from no MRR to some), at the MRR they started with.
_ASP_SQL = f"""
WITH starts AS (
  SELECT customer, currency, began_at, mrr FROM {MRR_STARTS.table}
  WHERE began_at >= {_BEFORE} AND began_at < $end
),
firsts AS (
  SELECT CASE WHEN began_at >= $start THEN 'period' ELSE 'previous' END AS part,
    customer, currency, arg_min(mrr, began_at) AS mrr
  FROM starts GROUP BY ALL
),
bucketed AS (
  SELECT date_trunc($grain, began_at) AS bucket, customer, currency,
    arg_min(mrr, began_at) AS mrr
  FROM starts WHERE $grain IS NOT NULL AND began_at >= $start GROUP BY ALL
)
SELECT part, NULL::TIMESTAMPTZ AS bucket, currency AS key, {_MEAN} AS asp
FROM firsts GROUP BY part, currency
UNION ALL
SELECT 'series', bucket, currency, {_MEAN} FROM bucketed GROUP BY bucket, currency
"""  # noqa: S608

ASP_FAMILY = Family(name="asp", sql=_ASP_SQL, columns=("asp",))

ASP = Metric(
    name="asp",
    label="Average sale price",
    unit=Unit.MONEY,
    definition=(
        "The mean MRR, at the moment they started, of the customers who became subscribers "
        "in the period (new, or returning after churning, as for new subscribers). Compare "
        "it with ARPA (MRR ÷ subscribers): above it, new business is bigger than the base. "
        "MRR is rebuilt from subscription invoices as for MRR movements. Per currency."
    ),
    datasets=DATASETS,
    ranged=False,
    until_end=("invoices",),
    sql=from_family(ASP_FAMILY, "asp"),
    family=ASP_FAMILY,
    series=family_series(ASP_FAMILY, "asp"),
    drill_dataset="invoices",
    drill_where="subscription IS NOT NULL AND status = 'paid' AND " + period(),
)


# -- trials --------------------------------------------------------------------------------------
#: When a trial ended: at its end, or when the subscription was canceled during it.
_OVER = "CASE WHEN ended_at < trial_end THEN ended_at ELSE trial_end END"
#: The subscriptions whose trial ended in the period (what a conversion rate counts).
_ENDED_IN_PERIOD = f"trial_end IS NOT NULL AND {_OVER} >= $start AND {_OVER} < $end"

_TRIALS = f"""
WITH trials AS (
  SELECT id, currency, trial_start, trial_end, {_OVER} AS over_at
  FROM subscriptions
  WHERE trial_end IS NOT NULL AND created < $end
),
ended AS (
  SELECT * FROM trials WHERE over_at >= $start AND over_at < $end AND over_at <= now()
),
first_after AS (
  -- each ended trial's first invoice after it (none: it did not convert)
  SELECT i.subscription, i.status, i.total
  FROM invoices i JOIN ended t ON t.id = i.subscription AND t.over_at = t.trial_end
  -- after a trial that ended in the period, so in it: the bounds let the scan skip the rest
  WHERE i.created >= t.trial_end AND i.created >= $start AND i.created < $end
  QUALIFY row_number() OVER (PARTITION BY i.subscription ORDER BY i.created, i.id) = 1
),
outcome AS (
  SELECT t.currency, COALESCE(f.status = 'paid' AND f.total > 0, false) AS converted
  FROM ended t LEFT JOIN first_after f ON f.subscription = t.id
)"""  # noqa: S608


#: Trial conversion over the period and over the period before, in one statement: each part
#: sees what was known by its end (trials created, and first invoices made, before it).
_CONVERSION_SQL = f"""
WITH trials AS (
  SELECT id, currency, created, trial_end, over_at,
    CASE WHEN over_at >= $start THEN 'period' ELSE 'previous' END AS part,
    CASE WHEN over_at >= $start THEN $end::TIMESTAMPTZ ELSE $start::TIMESTAMPTZ END AS part_end
  FROM (
    SELECT id, currency, created, trial_end, {_OVER} AS over_at
    FROM subscriptions
    WHERE trial_end IS NOT NULL AND created < $end
  )
),
ended AS (
  SELECT id, currency, trial_end, over_at, part, part_end FROM trials
  WHERE over_at >= {_BEFORE} AND over_at < $end AND over_at <= now() AND created < part_end
),
first_after AS (
  SELECT i.subscription, i.status, i.total
  FROM invoices i JOIN ended t ON t.id = i.subscription AND t.over_at = t.trial_end
  WHERE i.created >= t.trial_end AND i.created < t.part_end
    AND i.created >= {_BEFORE} AND i.created < $end
  QUALIFY row_number() OVER (PARTITION BY i.subscription ORDER BY i.created, i.id) = 1
)
SELECT t.part, NULL::TIMESTAMPTZ AS bucket, t.currency AS key,
  avg(CAST(COALESCE(f.status = 'paid' AND f.total > 0, false) AS INTEGER))
    AS trial_conversion_rate
FROM ended t LEFT JOIN first_after f ON f.subscription = t.id
GROUP BY t.part, t.currency
"""  # noqa: S608

TRIALS_FAMILY = Family(name="trials", sql=_CONVERSION_SQL, columns=("trial_conversion_rate",))

TRIAL_CONVERSION_RATE = Metric(
    name="trial_conversion_rate",
    label="Trial conversion rate",
    unit=Unit.RATIO,
    definition=(
        "Of the trials that ended in the period (at their trial end, or when the subscription "
        "was canceled during the trial), the share whose first invoice after the trial was "
        "paid with an amount above zero. A trial that converted to a free (0-amount) invoice "
        "made no subscriber and does not count as converted; a first invoice not paid yet "
        "does not either, until it is. Per currency."
    ),
    datasets=("subscriptions", "invoices"),
    ranged=False,
    until_end=("subscriptions", "invoices"),
    sql=from_family(TRIALS_FAMILY, "trial_conversion_rate"),
    family=TRIALS_FAMILY,
    drill_dataset="subscriptions",
    drill_where=_ENDED_IN_PERIOD,
)

#: The funnel's steps, in order.
STEPS = ("started", "ended", "converted")

_FUNNEL = (
    _TRIALS  # noqa: S608
    + f""",
started AS (
  SELECT currency, count(*) AS n FROM trials WHERE trial_start >= $start AND trial_start < $end
  GROUP BY currency
),
done AS (
  SELECT currency, count(*) AS n, count(*) FILTER (WHERE converted) AS c FROM outcome
  GROUP BY currency
),
currencies AS (SELECT currency FROM started UNION SELECT currency FROM done)
SELECT k.currency, s.step, s.trials, s.position FROM currencies k
LEFT JOIN started a ON a.currency = k.currency
LEFT JOIN done d ON d.currency = k.currency,
LATERAL (VALUES ({sql_text(STEPS[0])}, COALESCE(a.n, 0), 0),
                ({sql_text(STEPS[1])}, COALESCE(d.n, 0), 1),
                ({sql_text(STEPS[2])}, COALESCE(d.c, 0), 2)) AS s(step, trials, position)
ORDER BY k.currency, s.position"""  # noqa: S608
)


def _funnel_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step with the share of the step before it that reached it (trials converted of
    those ended; trials ended of those started is left out: not the same trials)."""
    out: list[dict[str, Any]] = []
    ended: dict[str, int] = {}
    for r in rows:
        currency, step, trials = str(r["currency"]), str(r["step"]), int(r["trials"])
        share = None
        if step == "ended":
            ended[currency] = trials
        elif step == "converted" and ended.get(currency):
            share = trials / ended[currency]
        out.append({"currency": currency, "step": step, "trials": trials, "rate": share})
    return out


def _funnel_drill(row: Mapping[str, Any]) -> tuple[str, str]:
    cond = {"started": "trial_start IS NOT NULL AND " + period("trial_start")}.get(
        str(row.get("step")), _ENDED_IN_PERIOD
    )
    if row.get("currency"):
        cond += f" AND currency = {sql_text(str(row['currency']))}"
    return "subscriptions", cond


TRIAL_FUNNEL = Report(
    name="trial_funnel",
    label="Trials: started, ended, converted",
    definition=(
        "Trials started in the period (by trial_start), trials that ended in it (at their "
        "trial end, or canceled during the trial) and, of those, the ones converted: their "
        "first invoice after the trial paid with an amount above zero (a free first invoice "
        "is no conversion). The rate is converted ÷ ended. Per currency."
    ),
    datasets=("subscriptions", "invoices"),
    sql=_FUNNEL,
    columns=(
        Column("currency", "Currency"),
        Column("step", "Step"),
        Column("trials", "Trials", Unit.COUNT),
        Column("rate", "Converted of ended", Unit.RATIO),
    ),
    drill=_funnel_drill,
    ranged=False,
    until_end=("subscriptions", "invoices"),
    reshape=_funnel_rows,
)

METRICS: tuple[Metric, ...] = (SUBSCRIBER_LTV, ASP, TRIAL_CONVERSION_RATE)
