"""MRR, subscribers and churn by segment, on a small account built by hand (March 2026).

Three products: Basic (``p_basic``, 10.00 a month, nicknamed), an add-on (``p_addon``, 5.00 a
month) and Pro (``p_pro``, 240.00 a year: 20.00 of MRR). Five customers:

======  ==========================  ==================================  =======================
who     subscription                MRR now (by product)                country
======  ==========================  ==================================  =======================
A       since January               Basic 1000 + add-on ×2 1000         FR (address)
B       since February              Pro 2000                            GB (latest card; DE before)
C       January, canceled 15 March  (none now; Basic 1000 until then)   US (address; a DE card)
D       from 10 March               Basic 1000                          unknown (no charge)
E       since January, 50 % off     Basic 500 + add-on 250 (of 1500)    unknown (a charge, no card)
======  ==========================  ==================================  =======================

Customer metadata ``plan``: A and B ``team``, C and E ``solo``, D none.
Over March: C churns (from Basic, from monthly, from the US, from solo); D is new.
"""

from __future__ import annotations

from typing import Any

import pytest

from flitch.metrics import compute, get
from flitch.metrics.compute import params_for, run
from flitch.metrics.segments import METRICS, parse, segment_sql
from flitch.store import MemoryDatasets
from tests.metrics.objects import charge, coupon, customer, load, price, subscription, ts

START, END = ts("2026-03-01"), ts("2026-04-01")


def _price(id_: str, amount: int, product: str, interval: str = "month", **more: Any) -> Any:
    return {**price(id_, amount, interval), "product": product, **more}


def _customer(id_: str, country: str | None = None, **metadata: str) -> Any:
    address = {"country": country} if country else None
    return {**customer(id_, ts("2025-12-01")), "address": address, "metadata": metadata}


def _card(id_: str, who: str, day: str, country: str | None) -> Any:
    details = {"type": "card", "card": {"country": country}} if country else {"type": "sepa_debit"}
    return {**charge(id_, ts(day), 1000, customer=who), "payment_method_details": details}


def account() -> MemoryDatasets:
    basic = _price("p_basic", 1000, "prod_basic", nickname="Basic monthly")
    addon = _price("p_addon", 500, "prod_addon")
    pro = _price("p_pro", 24000, "prod_pro", "year")
    jan = ts("2026-01-01")
    return load(
        {
            "products": [
                {"id": p, "object": "product", "created": 0, "name": n, "active": True}
                for p, n in (("prod_basic", "Basic"), ("prod_addon", "Add-on"), ("prod_pro", "Pro"))
            ],
            "prices": [basic, addon, pro],
            "coupons": [coupon("co_half", "forever", percent=50)],
            "customers": [
                _customer("cus_a", "FR", plan="team"),
                _customer("cus_b", plan="team"),
                _customer("cus_c", "US", plan="solo"),
                _customer("cus_d"),
                _customer("cus_e", plan="solo"),
            ],
            "charges": [
                _card("ch_b1", "cus_b", "2026-01-02", "DE"),
                _card("ch_b2", "cus_b", "2026-02-02", "GB"),
                _card("ch_c1", "cus_c", "2026-02-02", "DE"),
                _card("ch_e1", "cus_e", "2026-02-02", None),
                _card("ch_x1", None, "2026-02-03", "JP"),  # a guest's card is nobody's
            ],
            "subscriptions": [
                subscription("sub_a", "cus_a", jan, items=[(basic, 1), (addon, 2)]),
                subscription("sub_b", "cus_b", ts("2026-02-01"), items=[(pro, 1)]),
                subscription(
                    "sub_c",
                    "cus_c",
                    jan,
                    status="canceled",
                    items=[(basic, 1)],
                    ended=ts("2026-03-15"),
                ),
                subscription("sub_d", "cus_d", ts("2026-03-10"), items=[(basic, 1)]),
                subscription(
                    "sub_e",
                    "cus_e",
                    jan,
                    items=[(basic, 1), (addon, 1)],
                    discounts=[("di_e", "co_half")],
                ),
            ],
        }
    )


@pytest.fixture(scope="module")
def datasets() -> MemoryDatasets:
    return account()


def by_segment(datasets: MemoryDatasets, name: str) -> dict[Any, dict[str, Any]]:
    sql = segment_sql(parse(name))
    rows = run(datasets, sql, params_for(sql, START, END)).dicts()
    assert {r["currency"] for r in rows} == {"usd"}
    return {r["segment"]: r for r in rows}


def values(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[m] for m in METRICS)


# (mrr, arr, subscribers, arpu, new, churned, churn rate)
def test_by_product_each_item_takes_its_share_after_coupons(datasets: MemoryDatasets) -> None:
    rows = by_segment(datasets, "product")
    assert values(rows["prod_basic"]) == (2500, 30000, 3, 833, 1, 1, 0.25)
    assert values(rows["prod_addon"]) == (1250, 15000, 2, 625, 0, 0, 0.0)
    assert values(rows["prod_pro"]) == (2000, 24000, 1, 2000, 0, 0, 0.0)
    assert {k: r["name"] for k, r in rows.items()} == {
        "prod_basic": "Basic",
        "prod_addon": "Add-on",
        "prod_pro": "Pro",
    }


def test_by_price_and_interval(datasets: MemoryDatasets) -> None:
    prices = by_segment(datasets, "price")
    assert values(prices["p_basic"]) == (2500, 30000, 3, 833, 1, 1, 0.25)
    assert prices["p_basic"]["name"] == "Basic monthly"
    intervals = by_segment(datasets, "interval")
    assert set(intervals) == {"1 month", "1 year"}
    assert values(intervals["1 month"]) == (3750, 45000, 3, 1250, 1, 1, 0.25)
    assert values(intervals["1 year"]) == (2000, 24000, 1, 2000, 0, 0, 0.0)
    assert (intervals["1 month"]["name"], intervals["1 year"]["name"]) == ("monthly", "yearly")


def test_country_is_the_address_then_the_latest_card_then_unknown(
    datasets: MemoryDatasets,
) -> None:
    rows = by_segment(datasets, "country")
    assert set(rows) == {"FR", "GB", "US", "unknown"}
    assert values(rows["FR"]) == (2000, 24000, 1, 2000, 0, 0, 0.0)  # the address
    assert values(rows["GB"]) == (2000, 24000, 1, 2000, 0, 0, 0.0)  # latest card, not DE
    # C's address says US though their card is German; they churned, so no MRR there now
    assert values(rows["US"]) == (None, None, None, None, 0, 1, 1.0)
    # D has no charge, E's charge had no card
    assert values(rows["unknown"]) == (1750, 21000, 2, 875, 1, 0, 0.0)


def test_by_customer_metadata_key(datasets: MemoryDatasets) -> None:
    rows = by_segment(datasets, "metadata.plan")
    assert values(rows["team"])[:3] == (4000, 48000, 2)
    assert values(rows["solo"]) == (750, 9000, 1, 750, 0, 1, 0.5)
    assert values(rows[None])[:3] == (1000, 12000, 1)  # D has no plan


@pytest.mark.parametrize("name", ["product", "price", "interval", "country", "metadata.plan"])
def test_segments_add_up_to_mrr(datasets: MemoryDatasets, name: str) -> None:
    """MRR split by any segment adds up to MRR; split by who the customer is (one segment
    each), subscribers and churn add up to the unsplit numbers too."""
    rows = by_segment(datasets, name).values()
    whole = {
        m: compute(datasets, [get(m)], START, END)[m].values["usd"]
        for m in ("mrr", "active_subscribers", "new_subscribers", "churned_subscribers")
    }
    assert whole == {
        "mrr": 5750,
        "active_subscribers": 4,
        "new_subscribers": 1,
        "churned_subscribers": 1,
    }
    assert sum(r["mrr"] or 0 for r in rows) == whole["mrr"]
    if name in ("country", "metadata.plan"):
        for m in ("active_subscribers", "new_subscribers", "churned_subscribers"):
            assert sum(r[m] or 0 for r in rows) == whole[m], m


def test_one_currency_reads_only_its_rows(datasets: MemoryDatasets) -> None:
    sql = segment_sql(parse("product"), currency=True)
    params = params_for(sql, START, END, currency="eur")
    assert run(datasets, sql, params).rows == []


@pytest.mark.parametrize(
    "text", ["products", "metadata", "metadata.", "metadata.a]b", "country.x", "interval.1"]
)
def test_what_is_not_a_segment(text: str) -> None:
    with pytest.raises(ValueError, match=r"segment|metadata key"):
        parse(text)
