"""Subscriber churn over a period on subscriptions built by hand.

Period: October 2026 (30 days from the 1st). Each customer is one case; the expected counts are
worked out in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flitch.dashboards import Period, evaluate
from flitch.dashboards.model import Chart, ChartType, Dashboard, Grouping
from flitch.metrics import Grain, compute, compute_previous, compute_series, get
from flitch.store import MemoryDatasets
from tests.metrics.objects import DAY, coupon, load, price, subscription, ts

T0 = ts("2026-10-01")
END = T0 + 30 * DAY
PAID = price("price_m", 1000)
FREE = price("price_free", 0)
P = [(PAID, 1)]

SUBSCRIPTIONS = [
    # A: subscribed before the period and still is → active at the start
    subscription("s_a", "cus_a", T0 - 60 * DAY, items=P),
    # B: active at the start, canceled on day 10 → churned
    subscription("s_b", "cus_b", T0 - 60 * DAY, status="canceled", ended=T0 + 10 * DAY, items=P),
    # C: first subscription on day 5 → new
    subscription("s_c", "cus_c", T0 + 5 * DAY, items=P),
    # D: trial from day −3 to day 11, then paid → new on day 11 (a trial is not a subscriber)
    subscription("s_d", "cus_d", T0 - 3 * DAY, trial=(T0 - 3 * DAY, T0 + 11 * DAY), items=P),
    # E: churned before the period → nothing
    subscription("s_e", "cus_e", T0 - 90 * DAY, status="canceled", ended=T0 - 30 * DAY, items=P),
    # F: swapped plans, the new one starting before the old one ended → never churned
    subscription("s_f1", "cus_f", T0 - 60 * DAY, status="canceled", ended=T0 + 5 * DAY, items=P),
    subscription("s_f2", "cus_f", T0 + 3 * DAY, items=P),
    # G: went unpaid in the period that started on day 15 → churned on day 15
    subscription(
        "s_g", "cus_g", T0 - 60 * DAY, status="unpaid", period_start=T0 + 15 * DAY, items=P
    ),
    # H: free → never a subscriber, its cancellation is no churn
    subscription(
        "s_h", "cus_h", T0 - 60 * DAY, status="canceled", ended=T0 + 5 * DAY, items=[(FREE, 1)]
    ),
    # I: never got past incomplete → nothing
    subscription("s_i", "cus_i", T0 + 2 * DAY, status="incomplete_expired", items=P),
    # J: canceled during its trial → never paid, neither new nor churned
    subscription(
        "s_j",
        "cus_j",
        T0 + DAY,
        status="canceled",
        trial=(T0 + DAY, T0 + 15 * DAY),
        ended=T0 + 8 * DAY,
        items=P,
    ),
    # K: active at the start, canceled on day 20, back on day 25 → churned (once), not new
    subscription("s_k1", "cus_k", T0 - 60 * DAY, status="canceled", ended=T0 + 20 * DAY, items=P),
    subscription("s_k2", "cus_k", T0 + 25 * DAY, items=P),
    # L: new on day 2, canceled on day 12 → new and churned
    subscription("s_l", "cus_l", T0 + 2 * DAY, status="canceled", ended=T0 + 12 * DAY, items=P),
    # M: in a trial that ends after the period → not a subscriber yet
    subscription("s_m", "cus_m", T0 + 4 * DAY, trial=(T0 + 4 * DAY, T0 + 40 * DAY), items=P),
    # N: created after the period → not read, not counted
    subscription("s_n", "cus_n", END + DAY, items=P),
]
ACTIVE_AT_START = 5  # A, B, F, G, K
NEW = 3  # C, D, L
CHURNED = 4  # B, G, K, L


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    m = load({"subscriptions": SUBSCRIPTIONS, "prices": [PAID, FREE], "coupons": []})
    yield m
    m.close()


def values(memory: MemoryDatasets, name: str, start: int = T0, end: int = END) -> object:
    return compute(memory, [get(name)], start, end)[name].values


def test_churn_rate_is_churned_over_active_at_start_plus_new(memory: MemoryDatasets) -> None:
    assert values(memory, "churned_subscribers") == {"usd": CHURNED}
    assert values(memory, "new_subscribers") == {"usd": NEW}
    assert values(memory, "subscriber_churn_rate") == {"usd": CHURNED / (ACTIVE_AT_START + NEW)}
    assert CHURNED / (ACTIVE_AT_START + NEW) == 0.5


def test_the_month_after_has_no_churn(memory: MemoryDatasets) -> None:
    # at 1 November: A, C, D, F (s_f2), K (s_k2) are subscribers; nothing happens after
    november = (ts("2026-11-01"), ts("2026-12-01"))
    assert values(memory, "churned_subscribers", *november) == {"usd": 0}
    assert values(memory, "subscriber_churn_rate", *november) == {"usd": 0.0}


def test_monthly_series_matches_each_month_alone(memory: MemoryDatasets) -> None:
    series = compute_series(memory, get("subscriber_churn_rate"), T0, ts("2026-12-01"), Grain.MONTH)
    # October is 31 days: the same events as the 30-day period
    assert series == {"usd": [("2026-10-01T00:00:00Z", 0.5), ("2026-11-01T00:00:00Z", 0.0)]}


def test_a_period_with_no_subscribers_has_no_rate() -> None:
    with load({"subscriptions": [], "prices": [], "coupons": []}) as empty:
        assert (
            compute(empty, [get("subscriber_churn_rate")], T0, END)["subscriber_churn_rate"].values
            == {}
        )


def test_a_hundred_percent_forever_coupon_makes_no_subscriber() -> None:
    gift = coupon("gift", "forever", percent=100.0)
    subs = [
        subscription(
            "s_x",
            "cus_x",
            T0 - 60 * DAY,
            status="canceled",
            ended=T0 + DAY,
            items=P,
            discounts=[("di_x", "gift")],
        )
    ]
    with load({"subscriptions": subs, "prices": [PAID], "coupons": [gift]}) as m:
        # never paid: a subscriber in no currency, so no count in any
        got = compute(m, [get("churned_subscribers")], T0, END)["churned_subscribers"].values
        assert got == {}


# -- rolling 30 days, and the previous period ------------------------------------------------------
WEEK = (END - 7 * DAY, END)  # days 23 to 30


def test_a_week_and_the_rolling_30_days_ending_with_it(memory: MemoryDatasets) -> None:
    # at day 23: A, C, D, F (s_f2) are subscribers (K is between s_k1 and s_k2) → 4;
    # new in the week: K (s_k2, day 25) → 1; nobody churns → 0 ÷ 5
    assert values(memory, "new_subscribers", *WEEK) == {"usd": 1}
    assert values(memory, "churned_subscribers", *WEEK) == {"usd": 0}
    assert values(memory, "subscriber_churn_rate", *WEEK) == {"usd": 0.0}
    # Stripe's rolling 30 days end with the week: days 0 to 30, the whole month above
    assert values(memory, "subscriber_churn_rate_30d", *WEEK) == {"usd": 0.5}
    # a 30-day period: the same window
    assert values(memory, "subscriber_churn_rate_30d") == {"usd": 0.5}


def test_the_rolling_window_is_30_days_whatever_the_period(memory: MemoryDatasets) -> None:
    # 60 days ending on day 30: the rolling rate is still the month's
    assert values(memory, "subscriber_churn_rate_30d", T0 - 30 * DAY, END) == {"usd": 0.5}


def test_compared_with_the_week_before_and_the_30_days_before_it(
    memory: MemoryDatasets,
) -> None:
    names = ["subscriber_churn_rate", "churned_subscribers", "new_subscribers"]
    before = compute_previous(
        memory, [get(n) for n in (*names, "subscriber_churn_rate_30d")], *WEEK
    )
    got = {name: v.values if v is not None else None for name, v in before.items()}
    # days 16 to 23: A, C, D, F, K (s_k1) at day 16; K churns on day 20; nobody new → 1 ÷ 5
    assert got["churned_subscribers"] == {"usd": 1}
    assert got["new_subscribers"] == {"usd": 0}
    assert got["subscriber_churn_rate"] == {"usd": 0.2}
    # the 30 days ending on day 23 (days −7 to 23), seeing what existed by day 23 (not s_k2):
    # A, B, F, G, K at day −7; C, D, L new; B, G, K, L churned → 4 ÷ 8
    assert got["subscriber_churn_rate_30d"] == {"usd": 0.5}


def test_the_dashboard_compares_with_what_compute_previous_gives(memory: MemoryDatasets) -> None:
    names = ("subscriber_churn_rate", "subscriber_churn_rate_30d", "churned_subscribers")
    charts = tuple(Chart(title=n, type=ChartType.NUMBER, metric=n) for n in names)
    board = Dashboard(name="churn", title="Churn", charts=charts).check()
    for start, end in (WEEK, (T0, END), (T0 - 30 * DAY, END)):
        out = evaluate(memory, board, Period(start, end))
        expected = compute_previous(memory, [get(n) for n in names], start, end)
        for name in names:
            item = expected[name]
            assert item is not None
            assert out["metrics_previous"][name] == item.values, (name, start)
            chart = next(c for c in out["charts"] if c["metric"] == name)
            assert chart["compare"] == "previous_period"


def test_the_dashboard_series_comes_from_the_same_statement(memory: MemoryDatasets) -> None:
    charts = (
        Chart(title="rate", type=ChartType.NUMBER, metric="subscriber_churn_rate"),
        Chart(
            title="by month",
            type=ChartType.LINE,
            metric="subscriber_churn_rate",
            group=Grouping(grain=Grain.MONTH),
        ),
        Chart(title="new", type=ChartType.BAR, metric="new_subscribers"),
    )
    board = Dashboard(name="churn", title="Churn", charts=charts).check()
    end = ts("2026-12-01")
    for workers in (1, 3):
        out = evaluate(memory, board, Period(T0, end), grain=Grain.MONTH, workers=workers)
        by_month = next(c for c in out["charts"] if c["title"] == "by month")
        assert by_month["series"][0]["points"] == [
            ["2026-10-01T00:00:00Z", 0.5],
            ["2026-11-01T00:00:00Z", 0.0],
        ]
        new = next(c for c in out["charts"] if c["title"] == "new")
        # C, D, L in October (as the 30 days above); N (s_n, from 1 November) in November
        assert new["series"][0]["points"] == [
            ["2026-10-01T00:00:00Z", 3],
            ["2026-11-01T00:00:00Z", 1],
        ]


def test_the_rolling_rate_over_time_is_the_rate_of_the_30_days_ending_with_each_week(
    memory: MemoryDatasets,
) -> None:
    end = ts("2026-11-01")
    series = compute_series(memory, get("subscriber_churn_rate_30d"), T0, end, Grain.WEEK)
    points = series["usd"]
    # weeks from Monday 28 September, the first and last cut to the period: 5 points, each the
    # headline rate of the 30 days ending where its week ends
    ends = [ts("2026-10-05"), ts("2026-10-12"), ts("2026-10-19"), ts("2026-10-26"), end]
    weeks = ["2026-09-28", "2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    assert [p[0][:10] for p in points] == weeks
    for (_, value), hi in zip(points, ends, strict=True):
        assert values(memory, "subscriber_churn_rate_30d", T0, hi) == {"usd": value}
    # by hand, the last: the 30 days ending on 1 November are days 1 to 31 of the month above,
    # less day 0 — the same customers: 4 churned ÷ (5 at the start + 3 new)
    assert points[-1][1] == 0.5
    # the first: the 30 days ending on 5 October (days −26 to 4): A, B, F, G, K subscribers
    # at day −26; L new on day 2; nobody churned → 0 ÷ 6
    assert points[0][1] == 0.0


# -- per currency ----------------------------------------------------------------------------------
EURO = price("price_eur", 900, currency="eur")


def test_a_subscriber_in_each_currency_they_pay_in() -> None:
    subs = [
        # P pays in USD and in EUR: a subscriber in each; the USD one ends on day 10 → churned in
        # USD though still paying in EUR
        subscription(
            "s_p1", "cus_p", T0 - 60 * DAY, status="canceled", ended=T0 + 10 * DAY, items=P
        ),
        subscription("s_p2", "cus_p", T0 - 60 * DAY, items=[(EURO, 1)]),
        # Q moves from USD to EUR on day 5 → churned in USD, new in EUR
        subscription(
            "s_q1", "cus_q", T0 - 60 * DAY, status="canceled", ended=T0 + 5 * DAY, items=P
        ),
        subscription("s_q2", "cus_q", T0 + 5 * DAY, items=[(EURO, 1)]),
        # R stays in USD
        subscription("s_r", "cus_r", T0 - 60 * DAY, items=P),
    ]
    names = ["churned_subscribers", "new_subscribers", "subscriber_churn_rate"]
    with load({"subscriptions": subs, "prices": [PAID, EURO], "coupons": []}) as m:
        got = {n: v.values for n, v in compute(m, [get(n) for n in names], T0, END).items()}
        assert got["churned_subscribers"] == {"eur": 0, "usd": 2}
        assert got["new_subscribers"] == {"eur": 1, "usd": 0}
        # USD: P, Q, R at the start, none new, P and Q churned; EUR: P at the start, Q new
        assert got["subscriber_churn_rate"] == {"eur": 0.0, "usd": 2 / 3}
        now = compute(m, [get("active_subscribers")], T0, END)["active_subscribers"].values
        assert now == {"eur": 2, "usd": 1}
        # one currency: its part of the whole, its rows alone read
        euro = compute(m, [get(n) for n in names], T0, END, "eur")
        assert {n: v.values for n, v in euro.items()} == {n: {"eur": got[n]["eur"]} for n in names}
        series = compute_series(m, get("new_subscribers"), T0, END, Grain.MONTH, "eur")
        assert series == {"eur": [("2026-10-01T00:00:00Z", 1)]}
