"""Subscribers: who was paying when, and the one statement behind MRR, its family and churn.

A subscription is *paid* from the end of its trial (or its start) until it ended (canceled:
``ended_at``), or, when it is unpaid or paused now, until the start of the period it went
unpaid in (``current_period_start``; Stripe records no time for that change). Subscriptions that
never got past ``incomplete``, or whose MRR is zero (free), are never paid. A customer is a
*subscriber* in a currency while at least one of their subscriptions in that currency is paid:
every count is per currency, as MRR is, so a customer paying in two currencies counts in each,
and one moving from a USD subscription to a EUR one churns in USD and is new in EUR.

``SUBSCRIBER_FAMILY`` reads each subscription's MRR (``derived_mrr_subscriptions``, priced once
per version of the data by ``mrr_sql``) and answers, in one statement, MRR, ARR, active
subscribers, ARPU, the MRR forever coupons take off, the subscriber counts and churn rates, and
the subscriber lifetime value (ARPU ÷ the rolling churn rate, ``lifetime``),
over the period and per bucket of ``$grain`` (none when it is NULL). Its rows are ``(part,
bucket, key, columns…)``: ``part`` is ``period`` for the values shown, ``previous`` for what
they are compared with, ``series`` for the buckets:

- for a metric over the period (churn…), its value over the period before, of the same length;
- for a present-day metric (MRR…), its value *at the period's start*, rebuilt: the
  subscriptions paid at that instant, each with its MRR of today (its items, quantities, prices
  and forever coupons as they are now: Stripe keeps no history of them on the subscription).
  So the change shows subscriptions starting, converting from a trial, ending, going unpaid or
  paused; upgrades, downgrades and coupons changed since do not show in it (MRR movements,
  rebuilt from invoices, do).

What a period's counts see is what was known by its end: subscriptions created before it ends
(the previous period's, before the period starts).
"""

from __future__ import annotations

from flitch.metrics.derived import MRR_NOW, MRR_SUBSCRIPTIONS, SUBSCRIBER_RUNS, SUBSCRIBER_TALLY
from flitch.metrics.derived_subscribers import PAID, mrr_columns, steady
from flitch.metrics.model import Family

#: Days of Stripe's rolling churn window.
ROLLING_DAYS = 30

_S = "$start::TIMESTAMPTZ"
_E = "$end::TIMESTAMPTZ"
_ROLL = f"INTERVAL {ROLLING_DAYS} DAY"
#: The earliest instant any window below looks at.
SINCE = f"({_S} - greatest({_E} - {_S}, {_ROLL}))"

# The subscriptions read: those in MRR now, and those paid at some time in a window below
# (past incomplete, created before the end).
_READ = (
    "status NOT IN ('incomplete', 'incomplete_expired') "
    f"AND (status IN ('active', 'past_due') OR (created < $end AND COALESCE(paid_to, $end) "
    f">= {SINCE}))"
)

#: Windows over which subscribers are counted: name, start, end, and whether only what was
#: created before the period's start counts (the windows ending at the start).
WINDOWS: tuple[tuple[str, str, str, bool], ...] = (
    ("period", _S, _E, False),
    ("previous", f"({_S} - ({_E} - {_S}))", _S, True),
    ("rolling", f"({_E} - {_ROLL})", _E, False),
    ("rolling_previous", f"({_S} - {_ROLL})", _S, True),
)


def _flags() -> str:
    """Per customer, currency and window: subscriber at its start, and began a paid time in
    it."""
    out = []
    for name, lo, hi, before in WINDOWS:
        known = "created < $start AND " if before else ""
        out.append(f"bool_or({known}paid_from <= {lo} AND paid_to > {lo}) AS active_{name}")
        out.append(f"bool_or({known}paid_from >= {lo} AND paid_from < {hi}) AS began_{name}")
    return ",\n    ".join(out)


def _counts() -> str:
    """Per currency and window: subscribers at its start, new ones, churned ones (every
    currency that ends a paid time has subscribers in ``per_customer``)."""
    subscribers, churned, outer = [], [], []
    for name, lo, hi, before in WINDOWS:
        subscribers.append(
            f"count(*) FILTER (WHERE active_{name}) AS active_{name}, "
            f"count(*) FILTER (WHERE began_{name} AND NOT active_{name}) AS new_{name}"
        )
        known = "NOT covered_before AND created < $start" if before else "NOT covered"
        churned.append(
            f"count(DISTINCT customer) FILTER (WHERE {known} AND ended >= {lo} "
            f"AND ended < {hi}) AS churned_{name}"
        )
        outer.append(
            f"s.active_{name}, s.new_{name}, COALESCE(c.churned_{name}, 0) AS churned_{name}"
        )
    return (
        f"SELECT s.currency, {', '.join(outer)} "  # noqa: S608
        f"FROM (SELECT currency, {', '.join(subscribers)} FROM per_customer GROUP BY currency) s "
        f"LEFT JOIN (SELECT currency, {', '.join(churned)} FROM ends GROUP BY currency) c "
        "ON c.currency = s.currency"
    )


def _run_counts() -> str:
    """From the runs: per currency and window, subscribers at its start (``tally_at``) and
    churned ones (customers whose run ended in it, over the runs ending in some window)."""
    active, churned = [], []
    for name, lo, hi, _ in WINDOWS:
        active.append(f"max(active) FILTER (WHERE name = '{name}') AS active_{name}")
        churned.append(
            f"count(DISTINCT customer) FILTER (WHERE ended >= {lo} AND ended < {hi}) "
            f"AS churned_{name}"
        )
    names = ", ".join(f"a.active_{w[0]}, c.churned_{w[0]}" for w in WINDOWS)
    return (
        f"SELECT a.currency, {names} FROM "  # noqa: S608
        f"(SELECT currency, {', '.join(active)} FROM tally_at GROUP BY currency) a "
        f"LEFT JOIN (SELECT currency, {', '.join(churned)} FROM runs "
        f"WHERE ended >= {SINCE} AND ended < $end GROUP BY currency) c ON c.currency = a.currency"
    )


#: The instants subscribers are counted at: each window's start.
_STARTS = "(VALUES " + ", ".join(f"('{name}', {lo})" for name, lo, _, _ in WINDOWS) + ")"


def _mover_counts() -> str:
    """From the runs of the customers who began one after the earliest window's start: per
    currency and window, the new subscribers (a run began in it, after its start, and none was
    in force at its start)."""
    flags, counts = [], []
    for name, lo, hi, _ in WINDOWS:
        flags.append(f"bool_or(began <= {lo} AND ended > {lo}) AS active_{name}")
        flags.append(f"bool_or(began > {lo} AND began < {hi}) AS began_{name}")
        counts.append(f"count(*) FILTER (WHERE began_{name} AND NOT active_{name}) AS new_{name}")
    return (
        f"SELECT currency, {', '.join(counts)} FROM (SELECT customer, currency, "  # noqa: S608
        f"{', '.join(flags)} FROM movers GROUP BY customer, currency) GROUP BY currency"
    )


def _fast_counts() -> str:
    """The counts (as ``_counts`` gives them) from the runs, for every currency read."""
    cols = []
    for name, *_ in WINDOWS:
        cols.append(
            f"COALESCE(r.active_{name}, 0) AS active_{name}, "
            f"COALESCE(m.new_{name}, 0) AS new_{name}, "
            f"COALESCE(r.churned_{name}, 0) AS churned_{name}"
        )
    return (
        f"SELECT k.currency, {', '.join(cols)} FROM currencies k "  # noqa: S608
        "LEFT JOIN run_counts r ON r.currency = k.currency "
        "LEFT JOIN mover_counts m ON m.currency = k.currency WHERE (SELECT runs FROM exact)"
    )


def _rate(name: str) -> str:
    total = f"active_{name} + new_{name}"
    return f"CASE WHEN {total} > 0 THEN churned_{name} / ({total}) END"


def _mrr(part: str, where: str) -> str:
    """The MRR family's columns per currency, over the priced subscriptions read matching
    ``where`` (no churn columns)."""
    return mrr_columns(part, "subscription_mrr", where)


def _ltv(part: str, mrr: str, rolling: str) -> str:
    """Lifetime value per currency for ``part``: ARPU (from the ``mrr`` rows) ÷ the churn rate
    over the rolling days (``rolling``, from ``counts``); none where nobody churned."""
    rate = _rate(rolling)
    return (
        f"SELECT '{part}', NULL, m.key, {_NO_MRR}, NULL, NULL, NULL, NULL, "  # noqa: S608
        f"m.arpu / ({rate}) FROM {mrr} m JOIN counts c ON c.currency = m.key "
        f"WHERE {rate} > 0 AND m.arpu IS NOT NULL"
    )


#: Paid at the period's start, as known then.
_AT_START = (
    "created < $start AND paid_from <= $start AND (paid_to IS NULL OR paid_to > $start) "
    "AND (paid_to IS NULL OR paid_to > paid_from)"
)
_NO_MRR = "NULL, NULL, NULL, NULL, NULL"

#: The period's grain buckets, each cut to the period (none when ``$grain`` is NULL).
SERIES_GRID = """
SELECT bucket, greatest(bucket, $start::TIMESTAMPTZ) AS lo,
  least(bucket + CAST('1 ' || $grain AS INTERVAL), $end::TIMESTAMPTZ) AS hi
FROM (SELECT unnest(range(date_trunc($grain, $start::TIMESTAMPTZ), $end::TIMESTAMPTZ,
                          CAST('1 ' || $grain AS INTERVAL))) AS bucket)
"""

#: When the runs answer exactly: no subscription known only from the period's start (or end)
#: on was paid from before then. Only a backdated start date (or one created at that very
#: second) makes one; then the counts are made from each subscription as known at each
#: window's end instead (``subscription_mrr`` below, read only in that case).
_EXACT = f"""
SELECT NOT EXISTS (
  SELECT 1 FROM {MRR_SUBSCRIPTIONS.table}
  WHERE {PAID} AND ((created >= $start AND paid_from <= $start)
    OR (created >= $end AND paid_from < $end))
) AS runs"""  # noqa: S608

#: MRR at the period's start from the runs: the amounts from the subscriptions paid then, the
#: subscribers from the runs in force then.
_PREVIOUS_FROM_RUNS = f"""
SELECT 'previous', NULL::TIMESTAMPTZ, p.currency, round(p.mrr), round(12 * p.mrr),
  nullif(a.n, 0), round(p.mrr / a.n), round(p.coupons), NULL, NULL, NULL, NULL, NULL
FROM (
  SELECT currency, {steady("sum(mrr) FILTER (WHERE mrr > 0)")} AS mrr,
    {steady("sum(gross_mrr - mrr) FILTER (WHERE len(forever_coupons) > 0)")} AS coupons
  FROM {MRR_SUBSCRIPTIONS.table}
  WHERE (SELECT runs FROM exact) AND status NOT IN ('incomplete', 'incomplete_expired')
    AND {_AT_START}
  GROUP BY currency
) p LEFT JOIN (
  SELECT currency, active AS n FROM tally_at WHERE name = 'period'
) a ON a.currency = p.currency"""  # noqa: S608

_SQL = f"""
WITH exact AS MATERIALIZED ({_EXACT}),
-- (1) each subscription as known at each window's end: only when the runs would not answer
subscription_mrr AS (
  SELECT * FROM {MRR_SUBSCRIPTIONS.table} WHERE {_READ} AND NOT (SELECT runs FROM exact)
),
paid AS MATERIALIZED (
  -- each paid time that matters to a window: its customer and currency, when it was created,
  -- from, to
  SELECT customer, currency, created, paid_from,
    COALESCE(paid_to, 'infinity'::TIMESTAMPTZ) AS paid_to
  FROM subscription_mrr
  WHERE mrr > 0 AND paid_from IS NOT NULL AND (paid_to IS NULL OR paid_to > paid_from)
    AND created < $end AND COALESCE(paid_to, $end) >= {SINCE}
),
per_customer AS (
  SELECT customer, currency,
    {_flags()}
  FROM paid GROUP BY customer, currency
),
ends AS (
  -- a paid time ending with no other one of its customer in its currency running on: the
  -- customer churned in that currency (``covered_before``: the same, seeing only what was
  -- created before the period's start)
  SELECT e.customer, e.currency, e.created, e.paid_to AS ended,
    bool_or(o.customer IS NOT NULL) AS covered,
    COALESCE(bool_or(o.created < $start), false) AS covered_before
  FROM paid e LEFT JOIN paid o ON o.customer = e.customer AND o.currency = e.currency
    AND o.paid_from <= e.paid_to AND o.paid_to > e.paid_to
  WHERE e.paid_to >= {SINCE} AND e.paid_to < $end
  GROUP BY ALL
),
-- A customer's paid times in a currency run into one another (or touch) in runs; a run begins
-- where a paid time starts with no earlier one still running (``began``), and ends where one
-- ends with no other running on (``ends``, not covered). Subscribers at an instant: runs begun
-- by then less runs ended by then.
paid_began AS (
  SELECT DISTINCT s.customer, s.currency, s.paid_from AS began FROM paid s
  WHERE NOT EXISTS (
    SELECT 1 FROM paid o
    WHERE o.customer = s.customer AND o.currency = s.currency AND o.paid_from < s.paid_from
      AND o.paid_to >= s.paid_from)
),
-- every currency with a paid time that matters to a window
currencies AS (
  SELECT DISTINCT currency FROM {MRR_SUBSCRIPTIONS.table}
  WHERE {PAID} AND created < $end AND COALESCE(paid_to, $end) >= {SINCE}
),
-- (2) the runs, built once per version of the data (``derived_subscriber_runs``)
runs AS (
  SELECT customer, currency, began, ended FROM {SUBSCRIBER_RUNS.table}
  WHERE (SELECT runs FROM exact) AND began < $end AND ended >= {SINCE}
),
-- the tally from the earliest window's start on, with the last entry before it (every instant
-- looked up is after it): the lookups below then sort a few weeks of it, not all of it
tally_near AS MATERIALIZED (
  SELECT currency, moment, active FROM {SUBSCRIBER_TALLY.table}
  WHERE (SELECT runs FROM exact) AND moment > {SINCE} AND moment <= $end
  UNION ALL
  SELECT currency, max(moment), arg_max(active, moment) FROM {SUBSCRIBER_TALLY.table}
  WHERE (SELECT runs FROM exact) AND moment <= {SINCE} GROUP BY currency
),
-- subscribers at each window's start: the tally after the last run began or ended by then
tally_at AS (
  SELECT w.name, k.currency, t.active
  FROM {_STARTS} AS w(name, lo) CROSS JOIN currencies k
  ASOF JOIN tally_near t ON t.currency = k.currency AND t.moment <= w.lo
),
run_counts AS ({_run_counts()}),
movers AS (
  SELECT r.* FROM runs r SEMI JOIN (
    SELECT DISTINCT customer, currency FROM runs WHERE began > {SINCE}
  ) m ON m.customer = r.customer AND m.currency = r.currency
),
mover_counts AS ({_mover_counts()}),
-- one of (1) and (2) has rows
counts AS ({_counts()} UNION ALL {_fast_counts()}),
-- the series' only (none without a grain); a customer's runs never share a start or an end
slow_ended AS (
  SELECT DISTINCT customer, currency, ended FROM ends WHERE NOT covered AND $grain IS NOT NULL
),
began AS (
  SELECT * FROM paid_began WHERE $grain IS NOT NULL
  UNION ALL
  SELECT customer, currency, began FROM runs WHERE $grain IS NOT NULL
),
ended AS (
  SELECT * FROM slow_ended
  UNION ALL
  SELECT customer, currency, ended FROM runs WHERE ended < $end AND $grain IS NOT NULL
),
-- per bucket of the grain (cut to the period), the same counts as the period's, over the bucket
-- itself and over the rolling days ending with it
grid AS ({SERIES_GRID}),
windows AS (
  SELECT 'bucket' AS kind, bucket, lo, hi FROM grid
  UNION ALL
  SELECT 'rolling', bucket, hi - {_ROLL}, hi FROM grid
),
marks AS (
  SELECT currency, began AS at, 1 AS step FROM paid_began WHERE $grain IS NOT NULL
  UNION ALL SELECT currency, ended, -1 FROM slow_ended
),
-- subscribers after each instant a run began or ended: the running sum of the marks (from the
-- runs: built once, ``derived_subscriber_tally``)
tally AS (
  SELECT currency, moment,
    sum(step) OVER (PARTITION BY currency ORDER BY moment ROWS UNBOUNDED PRECEDING) AS active
  FROM (SELECT m.currency, m.at AS moment, sum(m.step) AS step FROM marks m GROUP BY ALL)
  UNION ALL
  SELECT currency, moment, active FROM tally_near WHERE $grain IS NOT NULL
),
window_active AS (
  -- at each window's start: the tally after the last mark at or before it
  SELECT w.kind, w.bucket, k.currency, t.active AS active_start
  FROM windows w CROSS JOIN currencies k
  ASOF JOIN tally t ON t.currency = k.currency AND t.moment <= w.lo
),
-- new in a window: a run begins in it, after its start, with no run of the customer (in that
-- currency) ending between the two (that one was running at the start)
firsts AS (
  SELECT w.kind, w.bucket, w.lo, b.customer, b.currency, min(b.began) AS first
  FROM windows w JOIN began b ON b.began >= w.lo AND b.began < w.hi
  GROUP BY ALL
),
window_new AS (
  SELECT f.kind, f.bucket, f.currency, count(*) AS new FROM firsts f
  WHERE f.first > f.lo AND NOT EXISTS (
    SELECT 1 FROM ended e WHERE e.customer = f.customer AND e.currency = f.currency
      AND e.ended > f.lo AND e.ended < f.first)
  GROUP BY ALL
),
window_churn AS (
  SELECT w.kind, w.bucket, e.currency, count(DISTINCT e.customer) AS churned
  FROM windows w JOIN ended e ON e.ended >= w.lo AND e.ended < w.hi
  GROUP BY ALL
),
window_counts AS (
  SELECT w.kind, w.bucket, k.currency, COALESCE(a.active_start, 0) AS active,
    COALESCE(n.new, 0) AS new, COALESCE(c.churned, 0) AS churned
  FROM windows w CROSS JOIN currencies k
  LEFT JOIN window_active a ON a.kind = w.kind AND a.bucket = w.bucket
    AND a.currency = k.currency
  LEFT JOIN window_new n ON n.kind = w.kind AND n.bucket = w.bucket AND n.currency = k.currency
  LEFT JOIN window_churn c ON c.kind = w.kind AND c.bucket = w.bucket
    AND c.currency = k.currency
),
mrr_period AS (SELECT * FROM {MRR_NOW.table}),
mrr_previous AS ({_mrr("previous", _AT_START)} UNION ALL {_PREVIOUS_FROM_RUNS}),
series AS (
  SELECT b.bucket, b.currency, b.active AS active_series, b.new AS new_series,
    b.churned AS churned_series, r.active AS active_rolling_series,
    r.new AS new_rolling_series, r.churned AS churned_rolling_series
  FROM window_counts b JOIN window_counts r ON r.bucket = b.bucket
    AND r.currency = b.currency AND r.kind = 'rolling'
  WHERE b.kind = 'bucket'
)
SELECT * FROM mrr_period
UNION ALL
SELECT * FROM mrr_previous
UNION ALL
SELECT 'period', NULL, currency, {_NO_MRR}, {_rate("period")}, churned_period, new_period,
  {_rate("rolling")}, NULL FROM counts
UNION ALL
SELECT 'previous', NULL, currency, {_NO_MRR}, {_rate("previous")}, churned_previous,
  new_previous, {_rate("rolling_previous")}, NULL FROM counts
UNION ALL
{_ltv("period", "mrr_period", "rolling")}
UNION ALL
{_ltv("previous", "mrr_previous", "rolling_previous")}
UNION ALL
SELECT 'series', bucket, currency, {_NO_MRR}, {_rate("series")}, churned_series, new_series,
  {_rate("rolling_series")}, NULL
FROM series
"""  # noqa: S608

SUBSCRIBER_FAMILY = Family(
    name="subscribers",
    sql=_SQL,
    columns=(
        "mrr",
        "arr",
        "active_subscribers",
        "arpu",
        "mrr_coupon_discount",
        "subscriber_churn_rate",
        "churned_subscribers",
        "new_subscribers",
        "subscriber_churn_rate_30d",
        "subscriber_ltv",
    ),
)
