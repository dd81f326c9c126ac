"""Cohorts, NRR, GRR and the MRR churn rate on a small account built by hand (2026, by month).

Four customers, monthly plans, periods starting on the 1st unless said:

- A (January): 10.00 a month, then 30.00 from March (expansion);
- B (January): 10.00 until 1 March (churn), back on 1 April at 20.00 (reactivation);
- C (February): 20.00, then 10.00 from April (contraction);
- D (March): 10.00 from 15 March.

MRR at the end of each month (just before the 1st of the next), by customer:

=========  =====  =====  =====  =====
at         A      B      C      D
=========  =====  =====  =====  =====
1 Feb      1000   1000   —      —
1 Mar      1000   1000   2000   —
1 Apr      3000   0      2000   1000
1 May      3000   2000   1000   1000
=========  =====  =====  =====  =====
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from flitch.metrics import compute, compute_report, compute_series, get, get_report
from flitch.metrics.retention import cohort_members
from flitch.metrics.series import Grain
from flitch.store import MemoryDatasets
from tests.metrics.objects import invoice, load, price, subscription, ts

START, END = ts("2026-01-01"), ts("2026-05-01")
PRICES = [price("p_m", 1000), price("p_big", 3000), price("p_2k", 2000)]
FIRSTS = ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01"]


def months(customer: str, sub: str, plan: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """One paid invoice per month, ``plan`` giving each month's (price, amount) in order from
    the month it starts in (``FIRSTS``), skipping months given as ``("", 0)``."""
    return [
        invoice(
            f"in_{sub}_{a}",
            customer,
            ts(a),
            subscription=sub,
            lines=[(p, amount, ts(a), ts(b))],
        )
        for (a, b), (p, amount) in zip(itertools.pairwise(FIRSTS), plan, strict=False)
        if p
    ]


def account() -> MemoryDatasets:
    by = {p["id"]: p for p in PRICES}
    subs = [
        subscription(
            "sub_a",
            "cus_a",
            START,
            items=[(by["p_big"], 1)],
            period_start=ts("2026-04-01"),
            period_end=END,
        ),
        subscription(
            "sub_b1",
            "cus_b",
            START,
            status="canceled",
            items=[(by["p_m"], 1)],
            ended=ts("2026-03-01"),
        ),
        subscription(
            "sub_b2",
            "cus_b",
            ts("2026-04-01"),
            items=[(by["p_2k"], 1)],
            period_start=ts("2026-04-01"),
            period_end=END,
        ),
        subscription(
            "sub_c",
            "cus_c",
            ts("2026-02-01"),
            items=[(by["p_m"], 1)],
            period_start=ts("2026-04-01"),
            period_end=END,
        ),
        subscription(
            "sub_d",
            "cus_d",
            ts("2026-03-15"),
            items=[(by["p_m"], 1)],
            period_start=ts("2026-04-15"),
            period_end=ts("2026-05-15"),
        ),
    ]
    invoices = (
        months("cus_a", "sub_a", [("p_m", 1000), ("p_m", 1000), ("p_big", 3000), ("p_big", 3000)])
        + months("cus_b", "sub_b1", [("p_m", 1000), ("p_m", 1000)])
        + months("cus_b", "sub_b2", [("", 0), ("", 0), ("", 0), ("p_2k", 2000)])
        + months("cus_c", "sub_c", [("", 0), ("p_2k", 2000), ("p_2k", 2000), ("p_m", 1000)])
        + [
            invoice(
                f"in_d_{a}",
                "cus_d",
                ts(a),
                subscription="sub_d",
                lines=[("p_m", 1000, ts(a), ts(b))],
            )
            for a, b in (("2026-03-15", "2026-04-15"), ("2026-04-15", "2026-05-15"))
        ]
    )
    return load({"prices": PRICES, "subscriptions": subs, "invoices": invoices})


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    m = account()
    yield m
    m.close()


def _cells(
    memory: MemoryDatasets, start: int = START, end: int = END
) -> dict[tuple[str, int], Any]:
    rows = compute_report(memory, get_report("mrr_cohorts"), start, end)
    return {(str(r["cohort"])[:7], r["months_since"]): r for r in rows}


def test_cohort_table_by_hand(memory: MemoryDatasets) -> None:
    cells = _cells(memory)
    got = {
        key: (r["customers"], r["retained"], r["mrr_start"], r["mrr"]) for key, r in cells.items()
    }
    assert got == {
        # January: A expands, B churns then comes back (still January's)
        ("2026-01", 0): (2, 2, 2000, 2000),
        ("2026-01", 1): (2, 2, 2000, 2000),
        ("2026-01", 2): (2, 1, 2000, 3000),
        ("2026-01", 3): (2, 2, 2000, 5000),
        # February: C contracts
        ("2026-02", 0): (1, 1, 2000, 2000),
        ("2026-02", 1): (1, 1, 2000, 2000),
        ("2026-02", 2): (1, 1, 2000, 1000),
        # March: D, from the 15th
        ("2026-03", 0): (1, 1, 1000, 1000),
        ("2026-03", 1): (1, 1, 1000, 1000),
    }
    jan = [cells[("2026-01", k)] for k in range(4)]
    assert [r["customer_retention"] for r in jan] == [1.0, 1.0, 0.5, 1.0]
    assert [r["net_mrr_retention"] for r in jan] == [1.0, 1.0, 1.5, 2.5]
    assert cells[("2026-02", 2)]["net_mrr_retention"] == 0.5
    assert {r["currency"] for r in cells.values()} == {"usd"}


def test_cohort_month_mrr_adds_up_to_mrr_at_that_month(memory: MemoryDatasets) -> None:
    """Each month's MRR summed over the cohorts is the MRR movements' snapshot at its end."""
    cells = _cells(memory)
    movements = compute_report(memory, get_report("mrr_movements"), START, END, "month")
    snapshots = {str(r["bucket"])[:10]: r["amount"] for r in movements if r["movement"] == "mrr"}
    by_month: dict[str, int] = {}
    for (cohort, k), r in cells.items():
        y, m = int(cohort[:4]), int(cohort[5:7]) + k + 1
        at = f"{y + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}-01"
        by_month[at] = by_month.get(at, 0) + r["mrr"]
    assert by_month == {
        "2026-02-01": 2000,
        "2026-03-01": 4000,
        "2026-04-01": 6000,
        "2026-05-01": 7000,
    }
    for at, total in by_month.items():
        assert snapshots[at] == total


def test_cohort_cell_lists_its_customers(memory: MemoryDatasets) -> None:
    rows = cohort_members(memory, "usd", ts("2026-01-01"), 2, END)
    assert [(r["customer"], r["mrr_start"], r["mrr"]) for r in rows] == [
        ("cus_a", 1000, 3000),
        ("cus_b", 1000, 0),
    ]


def _value(memory: MemoryDatasets, name: str, start: int, end: int) -> Any:
    return compute(memory, [get(name)], start, end)[name].values.get("usd")


def test_nrr_above_100_and_grr_capped(memory: MemoryDatasets) -> None:
    # from 1 March (A 1000, B 1000, C 2000) to 1 May (A 3000, B 2000, C 1000; D is new)
    start = ts("2026-03-01")
    assert _value(memory, "nrr", start, END) == pytest.approx(6000 / 4000)
    # capped: A counts 1000, B 1000 (churned and back), C 1000
    assert _value(memory, "grr", start, END) == pytest.approx(3000 / 4000)
    assert _value(memory, "mrr_churn_rate", start, END) == pytest.approx(1000 / 4000)
    # one month on: B churned, C not contracted yet
    april = ts("2026-04-01")
    assert _value(memory, "grr", start, april) == pytest.approx(3000 / 4000)
    assert _value(memory, "mrr_churn_rate", start, april) == pytest.approx(1000 / 4000)
    assert _value(memory, "nrr", start, april) == pytest.approx(5000 / 4000)


def test_nrr_over_twelve_months_and_its_trend(memory: MemoryDatasets) -> None:
    # twelve months before 1 March 2027: 1 March 2026. Active subscriptions run on at today's MRR.
    end = ts("2027-03-01")
    assert _value(memory, "nrr_12m", ts("2027-02-01"), end) == pytest.approx(6000 / 4000)
    assert _value(memory, "grr_12m", ts("2027-02-01"), end) == pytest.approx(3000 / 4000)
    # nobody had MRR twelve months before May 2026: no value
    assert _value(memory, "nrr_12m", START, END) is None
    trend = compute_series(memory, get("nrr_12m"), ts("2027-01-01"), end, Grain.MONTH)
    # January 2027's point: from 1 February 2026 (A, B at 1000) to 1 February 2027
    assert trend["usd"] == [
        ("2027-01-01T00:00:00Z", pytest.approx(5000 / 2000)),
        ("2027-02-01T00:00:00Z", pytest.approx(6000 / 4000)),
    ]
