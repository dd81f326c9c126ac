"""Billing metrics on a small account built by hand: coupons and the MRR they take off (USD
and JPY), trials, subscriptions started and ended, invoices paid, outstanding and past due,
credit notes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flitch.metrics import compute, compute_report, get, get_report
from flitch.store import MemoryDatasets
from tests.metrics.objects import (
    DAY,
    coupon,
    credit_note,
    invoice,
    load,
    price,
    subscription,
    ts,
)

T0 = ts("2026-10-01")
END = T0 + 30 * DAY
USD40 = price("p_usd40", 4000)
USD10 = price("p_usd10", 1000)
JPY = price("p_jpy", 5000, currency="jpy")
COUPONS = [
    coupon("quarter", "forever", percent=25.0, redeemed=3),
    coupon("yen1000", "forever", amount=1000, currency="jpy", redeemed=1),
    coupon("first", "once", percent=50.0, redeemed=7),
    coupon("unused", "repeating", percent=10.0),
]
SUBSCRIPTIONS = [
    # 4000 less 25 % forever → 3000 (1000 off)
    subscription("s_1", "cus_1", T0 - 90 * DAY, items=[(USD40, 1)], discounts=[("d1", "quarter")]),
    # a once coupon takes nothing off MRR
    subscription("s_2", "cus_2", T0 - 90 * DAY, items=[(USD10, 2)], discounts=[("d2", "first")]),
    # ¥5000 less ¥1000 forever → ¥4000 (¥1000 off)
    subscription("s_3", "cus_3", T0 - 90 * DAY, items=[(JPY, 1)], discounts=[("d3", "yen1000")]),
    # a trial started in the period, still running
    subscription(
        "s_4",
        "cus_4",
        T0 + 2 * DAY,
        status="trialing",
        items=[(USD10, 1)],
        trial=(T0 + 2 * DAY, END + DAY),
    ),
    # canceled in the period, carrying the forever coupon → not in MRR, nothing discounted
    subscription(
        "s_5",
        "cus_5",
        T0 - 90 * DAY,
        status="canceled",
        ended=T0 + 5 * DAY,
        items=[(USD40, 1)],
        discounts=[("d5", "quarter")],
    ),
    # started in the period
    subscription("s_6", "cus_6", T0 + 3 * DAY, items=[(USD10, 1)]),
]
INVOICES = [
    invoice("in_1", "cus_1", T0 - 2 * DAY, lines=[("p_usd40", 3000, 0, 0)], paid_at=T0 + DAY),
    invoice("in_2", "cus_2", T0 + DAY, lines=[("p_usd10", 2000, 0, 0)], paid_at=T0 + DAY),
    invoice("in_3", "cus_3", T0 + DAY, lines=[("p_jpy", 4000, 0, 0)], currency="jpy", paid_at=T0),
    # open, due date passed → past due
    invoice(
        "in_4",
        "cus_6",
        T0 + 3 * DAY,
        lines=[("p_usd10", 1000, 0, 0)],
        status="open",
        due_date=T0 + 10 * DAY,
    ),
    # open, charged automatically, payment failed → past due
    invoice(
        "in_5",
        "cus_2",
        T0 + 4 * DAY,
        lines=[("p_usd10", 700, 0, 0)],
        status="open",
        attempted=True,
    ),
    # open, not yet attempted → outstanding but not past due
    invoice("in_6", "cus_1", T0 + 5 * DAY, lines=[("p_usd40", 300, 0, 0)], status="open"),
    # paid before the period → not paid in it
    invoice("in_7", "cus_1", T0 - 40 * DAY, lines=[("p_usd40", 3000, 0, 0)], paid_at=T0 - 39 * DAY),
    invoice("in_8", "cus_5", T0 + DAY, lines=[("p_usd40", 3000, 0, 0)], status="void"),
]
CREDIT_NOTES = [
    credit_note("cn_1", T0 + 6 * DAY, 500, "in_1"),
    credit_note("cn_2", T0 + 7 * DAY, 800, "in_3", currency="jpy"),
    credit_note("cn_3", T0 + 8 * DAY, 9999, "in_2", status="void"),
    credit_note("cn_4", T0 - 8 * DAY, 100, "in_7"),
]


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    m = load(
        {
            "subscriptions": SUBSCRIPTIONS,
            "prices": [USD40, USD10, JPY],
            "coupons": COUPONS,
            "invoices": INVOICES,
            "credit_notes": CREDIT_NOTES,
        }
    )
    yield m
    m.close()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mrr", {"usd": 3000 + 2000 + 1000, "jpy": 4000}),
        ("mrr_coupon_discount", {"usd": 1000, "jpy": 1000}),
        ("coupon_redemptions", {"all": 3 + 1 + 7}),
        ("trialing_subscriptions", {"usd": 1}),
        ("trials_started", {"usd": 1}),
        ("new_subscriptions", {"usd": 2}),
        ("canceled_subscriptions", {"usd": 1}),
        ("invoice_amount_paid", {"usd": 3000 + 2000, "jpy": 4000}),
        ("invoices_outstanding", {"usd": 1000 + 700 + 300}),
        ("past_due_invoices", {"usd": 2}),
        ("past_due_amount", {"usd": 1700}),
        ("credit_notes_total", {"usd": 500, "jpy": 800}),
        ("credit_notes_issued", {"usd": 1, "jpy": 1}),
    ],
)
def test_each_billing_metric_by_hand(
    memory: MemoryDatasets, name: str, expected: dict[str, int]
) -> None:
    assert compute(memory, [get(name)], T0, END)[name].values == expected


def test_coupon_usage(memory: MemoryDatasets) -> None:
    rows = compute_report(memory, get_report("coupon_usage"), T0, END)
    got = {(r["coupon"], r["currency"]): (r["subscriptions"], r["mrr_discount"]) for r in rows}
    assert got == {
        ("quarter", "usd"): (1, 1000),  # the canceled subscription no longer counts
        ("yen1000", "jpy"): (1, 1000),
        ("first", "usd"): (1, 0),  # a once coupon discounts no MRR
        ("unused", "none"): (0, 0),  # on no subscription, percent off: of no currency
    }
    redemptions = {r["coupon"]: r["redemptions"] for r in rows}
    assert redemptions == {"quarter": 3, "yen1000": 1, "first": 7, "unused": 0}


def test_one_currency_of_each_billing_metric(memory: MemoryDatasets) -> None:
    """For one currency, each metric's value is its value of that currency among all; coupon
    redemptions, not per currency, stay whole."""
    names = [n for n in ("mrr", "trials_started", "credit_notes_issued", "past_due_invoices")]
    whole = compute(memory, [get(n) for n in names], T0, END)
    for currency in ("usd", "jpy"):
        one = compute(memory, [get(n) for n in names], T0, END, currency)
        for name in names:
            mine = {k: v for k, v in whole[name].values.items() if k == currency}
            assert one[name].values == mine, (currency, name)
    coupons = compute(memory, [get("coupon_redemptions")], T0, END, "jpy")
    assert coupons["coupon_redemptions"].values == {"all": 11}
    yen = compute_report(memory, get_report("coupon_usage"), T0, END, currency="jpy")
    assert [r["coupon"] for r in yen] == ["yen1000"]
