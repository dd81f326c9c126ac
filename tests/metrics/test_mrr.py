"""MRR and its family on a small account built by hand, with every value computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flitch import catalog
from flitch.metrics import compute, get
from flitch.store import MemoryDatasets

NOW = 1_790_000_000


def price(
    pid: str,
    amount: int | None,
    interval: str = "month",
    count: int = 1,
    *,
    currency: str = "usd",
    usage: str = "licensed",
    tiers: list[dict[str, Any]] | None = None,
    tiers_mode: str | None = None,
) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "price",
        "created": NOW - 1000,
        "livemode": False,
        "active": True,
        "currency": currency,
        "unit_amount": amount,
        "type": "recurring",
        "billing_scheme": "tiered" if tiers else "per_unit",
        "tiers_mode": tiers_mode,
        "tiers": tiers,
        "recurring": {"interval": interval, "interval_count": count, "usage_type": usage},
        "product": "prod_1",
    }


def sub(
    sid: str,
    customer: str,
    items: list[tuple[dict[str, Any], int]],
    status: str = "active",
    coupons: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "id": sid,
        "object": "subscription",
        "created": NOW - 500,
        "livemode": False,
        "status": status,
        "customer": customer,
        "currency": items[0][0]["currency"],
        "items": {
            "object": "list",
            "data": [
                {"id": f"si_{sid}_{n}", "object": "subscription_item", "price": p, "quantity": q}
                for n, (p, q) in enumerate(items)
            ],
        },
        "discounts": [
            {"id": f"di_{sid}_{c}", "object": "discount", "source": {"type": "coupon", "coupon": c}}
            for c in coupons
        ],
    }


def coupon(cid: str, duration: str, *, percent: float | None = None, amount: int | None = None):  # type: ignore[no-untyped-def]
    return {
        "id": cid,
        "object": "coupon",
        "created": NOW - 2000,
        "livemode": False,
        "duration": duration,
        "percent_off": percent,
        "amount_off": amount,
        "currency": "usd" if amount else None,
        "duration_in_months": 3 if duration == "repeating" else None,
        "valid": True,
    }


GRADUATED = [
    {"up_to": 5, "unit_amount": 1000, "flat_amount": None},
    {"up_to": None, "unit_amount": 800, "flat_amount": 500},
]
VOLUME = [
    {"up_to": 5, "unit_amount": 1000, "flat_amount": None},
    {"up_to": None, "unit_amount": 800, "flat_amount": None},
]
PRICES = {
    "yearly600": price("price_yearly600", 60000, "year"),
    "monthly10": price("price_monthly10", 1000),
    "weekly12": price("price_weekly12", 1200, "week"),
    "quarterly90": price("price_quarterly90", 9000, "month", 3),
    "daily1": price("price_daily1", 100, "day"),
    "metered": price("price_metered", 5000, usage="metered"),
    "graduated": price("price_graduated", None, tiers=GRADUATED, tiers_mode="graduated"),
    "volume": price("price_volume", None, tiers=VOLUME, tiers_mode="volume"),
    "monthly20": price("price_monthly20", 2000),
    "monthly40": price("price_monthly40", 4000),
    "yearly120": price("price_yearly120", 12000, "year"),
    "jpy": price("price_jpy", 5000, currency="jpy"),
    "free": price("price_free", 0),
}
COUPONS = [
    coupon("forever25", "forever", percent=25.0),
    coupon("once50", "once", percent=50.0),
    coupon("repeating20", "repeating", percent=20.0),
    coupon("forever5usd", "forever", amount=500),
]
P = PRICES
SUBSCRIPTIONS = [
    sub("s_yearly", "cus_a", [(P["yearly600"], 1)]),  # 60000 / 12 = 5000
    sub("s_seats", "cus_a", [(P["monthly10"], 3)]),  # 3000 (same customer)
    sub("s_weekly", "cus_b", [(P["weekly12"], 1)]),  # 1200 × 52 / 12 = 5200
    sub("s_quarter", "cus_c", [(P["quarterly90"], 1)]),  # 9000 / 3 = 3000
    sub("s_daily", "cus_d", [(P["daily1"], 1)]),  # 100 × 365 / 12 = 3041.67
    sub("s_mixed", "cus_e", [(P["monthly10"], 1), (P["metered"], 1)]),  # 1000; metered: 0
    sub("s_grad", "cus_f", [(P["graduated"], 7)]),  # 5×1000 + 2×800 + 500 = 7100
    sub("s_volume", "cus_g", [(P["volume"], 7)]),  # 7 × 800 = 5600
    sub("s_trial", "cus_h", [(P["monthly10"], 1)], status="trialing"),  # 0
    sub("s_canceled", "cus_i", [(P["monthly10"], 1)], status="canceled"),  # 0
    sub("s_unpaid", "cus_j", [(P["monthly10"], 1)], status="unpaid"),  # 0
    sub("s_incomplete", "cus_j", [(P["monthly10"], 1)], status="incomplete"),  # 0
    sub("s_pastdue", "cus_k", [(P["monthly20"], 1)], status="past_due"),  # 2000
    sub("s_forever", "cus_l", [(P["monthly40"], 1)], coupons=("forever25",)),  # 3000
    sub("s_once", "cus_m", [(P["monthly10"], 1)], coupons=("once50",)),  # 1000
    sub("s_repeat", "cus_n", [(P["monthly10"], 1)], coupons=("repeating20",)),  # 1000
    sub("s_amountoff", "cus_o", [(P["yearly120"], 1)], coupons=("forever5usd",)),  # 958.33
    sub("s_jpy", "cus_p", [(P["jpy"], 1)]),  # ¥5000
    sub("s_free", "cus_q", [(P["free"], 1)]),  # free: not MRR, not a subscriber
]
# 5000 + 3000 + 5200 + 3000 + 3041.67 + 1000 + 7100 + 5600 + 2000 + 3000 + 1000 + 1000 + 958.33
USD_MRR = 40900
USD_SUBSCRIBERS = 12  # a..g, k..o (cus_a twice); not h, i, j (not active), p (jpy), q (free)


@pytest.fixture
def datasets() -> Iterator[MemoryDatasets]:
    memory = MemoryDatasets()
    memory.load(catalog.get("subscriptions"), SUBSCRIPTIONS)
    memory.load(catalog.get("prices"), list(PRICES.values()))
    memory.load(catalog.get("coupons"), COUPONS)
    yield memory
    memory.close()


def values(memory: MemoryDatasets, name: str) -> dict[str, int | float]:
    return compute(memory, [get(name)], NOW - 86400, NOW)[name].values


def test_stripes_worked_example_600_a_year_is_50_a_month() -> None:
    memory = MemoryDatasets()
    memory.load(catalog.get("subscriptions"), [SUBSCRIPTIONS[0]])
    memory.load(catalog.get("prices"), [P["yearly600"]])
    memory.load(catalog.get("coupons"), [])
    assert values(memory, "mrr") == {"usd": 5000}
    memory.close()


def test_mrr_by_hand(datasets: MemoryDatasets) -> None:
    assert values(datasets, "mrr") == {"jpy": 5000, "usd": USD_MRR}


def test_arr_is_twelve_times_mrr(datasets: MemoryDatasets) -> None:
    assert values(datasets, "arr") == {"jpy": 60000, "usd": 12 * USD_MRR}


def test_active_subscribers_exclude_free_and_inactive(datasets: MemoryDatasets) -> None:
    assert values(datasets, "active_subscribers") == {"jpy": 1, "usd": USD_SUBSCRIBERS}


def test_arpu(datasets: MemoryDatasets) -> None:
    assert values(datasets, "arpu") == {"jpy": 5000, "usd": round(USD_MRR / USD_SUBSCRIBERS)}


@pytest.mark.parametrize(
    ("subscription", "expected"),
    [
        ("s_weekly", 5200),
        ("s_quarter", 3000),
        ("s_daily", 3042),
        ("s_mixed", 1000),
        ("s_grad", 7100),
        ("s_volume", 5600),
        ("s_forever", 3000),
        ("s_once", 1000),
        ("s_repeat", 1000),
        ("s_amountoff", 958),
    ],
)
def test_each_rule_alone(subscription: str, expected: int) -> None:
    memory = MemoryDatasets()
    memory.load(catalog.get("subscriptions"), [s for s in SUBSCRIPTIONS if s["id"] == subscription])
    memory.load(catalog.get("prices"), list(PRICES.values()))
    memory.load(catalog.get("coupons"), COUPONS)
    assert values(memory, "mrr") == {"usd": expected}
    memory.close()
