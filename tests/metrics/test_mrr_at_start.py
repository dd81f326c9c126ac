"""MRR, ARR, active subscribers and ARPU at the period's start, the value they are compared
with, on subscriptions built by hand (every value worked out in the comments).

Period: 1 to 31 October 2026. A subscription counts at the start when it was paid at that
instant (past its trial, not yet ended, not yet unpaid), with its MRR of today.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flitch.dashboards import Period, evaluate
from flitch.dashboards.model import Chart, ChartType, Dashboard
from flitch.metrics import compute, compute_previous, get
from flitch.store import MemoryDatasets
from tests.metrics.objects import DAY, coupon, load, price, subscription, ts

T0 = ts("2026-10-01")
END = T0 + 30 * DAY
M1000 = price("p_m1000", 1000)
M500 = price("p_m500", 500)
Y12000 = price("p_y12000", 12000, "year")
JPY = price("p_jpy", 5000, currency="jpy")
QUARTER = coupon("quarter", "forever", percent=25.0)

SUBSCRIPTIONS = [
    # 1: paying since before the period → 1000 at the start and now
    subscription("s_1", "cus_1", T0 - 60 * DAY, items=[(M1000, 1)]),
    # 1 again: a second subscription → 500 more; cus_1 is one subscriber
    subscription("s_9", "cus_1", T0 - 20 * DAY, items=[(M500, 1)]),
    # 2: started in the period → now only
    subscription("s_2", "cus_2", T0 + 5 * DAY, items=[(M1000, 1)]),
    # 3: canceled in the period → at the start only
    subscription(
        "s_3", "cus_3", T0 - 60 * DAY, status="canceled", ended=T0 + 10 * DAY, items=[(M1000, 1)]
    ),
    # 4: in a trial at the start (ended on day 4) → now only
    subscription(
        "s_4", "cus_4", T0 - 10 * DAY, trial=(T0 - 10 * DAY, T0 + 4 * DAY), items=[(M1000, 1)]
    ),
    # 5: two seats, unpaid since the period that began on day 15 → 2000 at the start only
    subscription(
        "s_5",
        "cus_5",
        T0 - 60 * DAY,
        status="unpaid",
        period_start=T0 + 15 * DAY,
        items=[(M1000, 2)],
    ),
    # 6: ended before the period → neither
    subscription(
        "s_6", "cus_6", T0 - 90 * DAY, status="canceled", ended=T0 - 5 * DAY, items=[(M1000, 1)]
    ),
    # 7: yearly 12000 less 25 % forever → 750 a month (250 off), at the start and now
    subscription(
        "s_7", "cus_7", T0 - 100 * DAY, items=[(Y12000, 1)], discounts=[("d7", "quarter")]
    ),
    # 8: ¥5000 a month, at the start and now
    subscription("s_8", "cus_8", T0 - 30 * DAY, items=[(JPY, 1)]),
    # 11: past_due now, paid since before the period → at the start and now
    subscription("s_11", "cus_11", T0 - 40 * DAY, status="past_due", items=[(M1000, 1)]),
    # 12: created after the period started (as known then: not at the start) → now only
    subscription("s_12", "cus_12", T0 + 1, items=[(M500, 1)]),
]
# now:      1000 + 500 (cus_1) + 1000 (2) + 1000 (4) + 750 (7) + 1000 (11) + 500 (12) = 5750,
#           6 subscribers (1, 2, 4, 7, 11, 12), ARPU 5750 / 6 = 958.33 → 958
# at start: 1000 + 500 (cus_1) + 1000 (3) + 2000 (5) + 750 (7) + 1000 (11) = 6250,
#           5 subscribers (1, 3, 5, 7, 11), ARPU 1250
NOW_USD = {"mrr": 5750, "arr": 69000, "active_subscribers": 6, "arpu": 958}
START_USD = {"mrr": 6250, "arr": 75000, "active_subscribers": 5, "arpu": 1250}
FAMILY = ("mrr", "arr", "active_subscribers", "arpu", "mrr_coupon_discount")


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    prices = [M1000, M500, Y12000, JPY]
    m = load({"subscriptions": SUBSCRIPTIONS, "prices": prices, "coupons": [QUARTER]})
    yield m
    m.close()


def test_now_and_at_the_start(memory: MemoryDatasets) -> None:
    metrics = [get(n) for n in FAMILY]
    now = compute(memory, metrics, T0, END)
    before = compute_previous(memory, metrics, T0, END)
    for name in ("mrr", "arr", "active_subscribers", "arpu"):
        assert now[name].values["usd"] == NOW_USD[name], name
        got = before[name]
        assert got is not None
        assert got.values["usd"] == START_USD[name], name
    assert now["mrr"].values["jpy"] == 5000
    assert before["mrr"] is not None
    assert before["mrr"].values["jpy"] == 5000
    # the forever coupon's 250 off, at the start as now
    assert now["mrr_coupon_discount"].values == {"usd": 250}
    discount = before["mrr_coupon_discount"]
    assert discount is not None
    assert discount.values == {"usd": 250}


def test_the_start_of_a_later_period(memory: MemoryDatasets) -> None:
    # at 1 November: cus_1 1500, 2 1000, 4 1000, 7 750, 11 1000, 12 500 → 5750 (as now)
    start = ts("2026-11-01")
    got = compute_previous(memory, [get("mrr")], start, start + 30 * DAY)["mrr"]
    assert got is not None
    assert got.values == {"jpy": 5000, "usd": 5750}


def test_before_anything_there_is_nothing_to_compare_with(memory: MemoryDatasets) -> None:
    start = T0 - 365 * DAY
    got = compute_previous(memory, [get("mrr")], start, start + 30 * DAY)["mrr"]
    assert got is not None
    assert got.values == {}


def test_dashboards_show_the_start_as_previous(memory: MemoryDatasets) -> None:
    charts = tuple(Chart(title=n, type=ChartType.NUMBER, metric=n) for n in FAMILY)
    board = Dashboard(name="mrr", title="MRR", charts=charts).check()
    for workers in (1, 3):
        out = evaluate(memory, board, Period(T0, END), workers=workers)
        assert out["metrics"]["mrr"] == {"jpy": 5000, "usd": 5750}
        assert out["metrics_previous"]["mrr"] == {"jpy": 5000, "usd": 6250}
        assert out["metrics_change"]["mrr"] == {"jpy": 0.0, "usd": -0.08}  # 5750 / 6250 − 1
        assert out["metrics_change"]["active_subscribers"]["usd"] == 0.2  # 6 against 5
        mrr = next(c for c in out["charts"] if c["metric"] == "mrr")
        assert (mrr["current"], mrr["compare"]) == (True, "start")
