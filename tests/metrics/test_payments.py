"""Payments metrics on a small account built by hand, every value computed by hand: USD and
JPY (zero-decimal: amounts are whole yen), a pending EUR charge, charges either side of the
period, a partial refund, a dispute; their series by day, week and month; top customers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flitch.metrics import Grain, compute, compute_report, compute_series, get, get_report
from flitch.store import MemoryDatasets
from tests.metrics.objects import DAY, charge, customer, dispute, load, ts

T0 = ts("2026-10-01")  # a Thursday
END = T0 + 7 * DAY

CHARGES = [
    charge("ch_1", T0 + 3600, 1000, customer="cus_a", name="Ann"),
    charge("ch_2", T0 + DAY, 2500, customer="cus_b", refunded=500, name="Bo"),
    charge("ch_3", T0 + DAY + 60, 700, status="failed", customer="cus_a", failure_code="expired"),
    charge("ch_4", T0 + 2 * DAY, 5000, "jpy", customer="cus_c"),
    charge("ch_5", T0 + 2 * DAY + 60, 300, "jpy", status="failed", failure_code="declined"),
    charge("ch_6", T0 + 3 * DAY, 1200, "eur", status="pending", customer="cus_b"),
    charge("ch_7", T0 - DAY, 9999, customer="cus_a"),  # the previous period
    charge("ch_8", END, 100, customer="cus_a"),  # just after the period
]
DISPUTES = [dispute("dp_1", T0 + 2 * DAY, 2500, "ch_2")]
CUSTOMERS = [
    {**customer("cus_a", T0), "currency": "usd"},  # billed: Stripe set their currency
    customer("cus_b", T0 + 3 * DAY),  # not billed yet: no currency
    {**customer("cus_c", T0 - 2 * DAY), "currency": "jpy"},
]


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    m = load({"charges": CHARGES, "disputes": DISPUTES, "customers": CUSTOMERS})
    yield m
    m.close()


def value(memory: MemoryDatasets, name: str, start: int = T0, end: int = END) -> dict[str, float]:
    return compute(memory, [get(name)], start, end)[name].values


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gross_volume", {"usd": 3500, "jpy": 5000}),  # the pending EUR charge is no volume
        ("successful_payments", {"usd": 2, "jpy": 1}),
        ("failed_payments", {"usd": 1, "jpy": 1}),
        ("failed_volume", {"usd": 700, "jpy": 300}),
        ("failure_rate", {"usd": 1 / 3, "jpy": 1 / 2}),  # pending left out: no EUR rate
        ("refunds", {"usd": 500}),
        ("disputes", {"usd": 1}),
        ("disputed_amount", {"usd": 2500}),
        ("dispute_rate", {"usd": 1 / 2, "jpy": 0.0}),
        ("new_customers", {"usd": 1, "none": 1}),  # the customer not billed: apart
    ],
)
def test_each_payments_metric_by_hand(
    memory: MemoryDatasets, name: str, expected: dict[str, float]
) -> None:
    assert value(memory, name) == pytest.approx(expected)


def test_the_previous_period_sees_only_its_own_records(memory: MemoryDatasets) -> None:
    assert value(memory, "gross_volume", T0 - 7 * DAY, T0) == {"usd": 9999}
    assert value(memory, "new_customers", T0 - 7 * DAY, T0) == {"jpy": 1}


def test_series_by_day_fills_every_day(memory: MemoryDatasets) -> None:
    series = compute_series(memory, get("gross_volume"), T0, END, Grain.DAY)
    assert list(series) == ["jpy", "usd"]
    assert [v for _, v in series["usd"]] == [1000, 2500, 0, 0, 0, 0, 0]
    assert [v for _, v in series["jpy"]] == [0, 0, 5000, 0, 0, 0, 0]
    assert series["usd"][0][0] == "2026-10-01T00:00:00Z"


def test_series_by_week_starts_on_monday_and_by_month_on_the_first(
    memory: MemoryDatasets,
) -> None:
    weekly = compute_series(memory, get("gross_volume"), T0, END, Grain.WEEK)
    assert weekly["usd"] == [("2026-09-28T00:00:00Z", 3500), ("2026-10-05T00:00:00Z", 0)]
    monthly = compute_series(memory, get("successful_payments"), T0, END, Grain.MONTH)
    assert monthly == {"jpy": [("2026-10-01T00:00:00Z", 1)], "usd": [("2026-10-01T00:00:00Z", 2)]}


def test_a_rate_has_no_value_in_a_bucket_with_nothing_to_divide(memory: MemoryDatasets) -> None:
    rates = compute_series(memory, get("failure_rate"), T0, END, Grain.DAY)
    assert rates["usd"][:3] == [
        ("2026-10-01T00:00:00Z", 0.0),
        ("2026-10-02T00:00:00Z", 0.5),
        ("2026-10-03T00:00:00Z", None),
    ]


def test_top_customers_per_currency(memory: MemoryDatasets) -> None:
    rows = compute_report(memory, get_report("top_customers"), T0, END)
    assert [(r["currency"], r["customer"], r["gross"], r["net"]) for r in rows] == [
        ("jpy", "cus_c", 5000, 5000),
        ("usd", "cus_b", 2500, 2000),
        ("usd", "cus_a", 1000, 1000),
    ]
    assert rows[1]["name"] == "Bo"
    assert rows[1]["payments"] == 1
