"""Coupon usage where one subscription carries the same forever coupon twice (two discounts of
one coupon) beside another: it is one subscription, and the MRR the coupons take off is split
evenly between its two coupons, adding up to it (the coupon carried twice had two shares, 3,750
of a 2,500 discount)."""

from __future__ import annotations

from flitch.metrics import compute, compute_report, get, get_report
from tests.metrics.objects import DAY, coupon, load, price, subscription, ts

T0 = ts("2026-10-01")
USD90 = price("p_usd90", 9000)


def test_a_coupon_carried_twice_is_one_subscription_and_one_share() -> None:
    memory = load(
        {
            "prices": [USD90],
            "coupons": [
                coupon("ten", "forever", amount=1000, currency="usd", redeemed=2),
                coupon("other", "forever", amount=500, currency="usd", redeemed=1),
            ],
            "subscriptions": [
                subscription(
                    "s_1",
                    "cus_1",
                    T0 - 90 * DAY,
                    items=[(USD90, 1)],
                    discounts=[("d1", "ten"), ("d2", "ten"), ("d3", "other")],
                ),
            ],
        }
    )
    try:
        rows = compute_report(memory, get_report("coupon_usage"), T0, T0 + 30 * DAY)
        mrr = compute(memory, [get("mrr")], T0, T0 + 30 * DAY)["mrr"].values["usd"]
    finally:
        memory.close()
    got = {r["coupon"]: (r["subscriptions"], r["mrr_discount"]) for r in rows}
    off = 9000 - mrr
    assert off > 0
    assert got["ten"][0] == got["other"][0] == 1
    assert got["ten"][1] + got["other"][1] == off
    assert got["ten"][1] == got["other"][1] == 1250  # (1000 + 1000 + 500) / 2
