"""Top customers by hand where the ranking is close: ties at the tenth place, a customer paying
twice in the same second, and the same rows written in the other order (as a live read and a
cache may hold them)."""

from __future__ import annotations

from typing import Any

from flitch.metrics import compute_report, get_report
from flitch.metrics.top import TOP_N
from tests.metrics.objects import DAY, Obj, charge, load, ts

T0 = ts("2026-10-01")
END = T0 + 7 * DAY

# cus_00 … cus_08 pay 1,000 down to 200; cus_09, cus_10 and cus_11 tie at 100 for the tenth
# place, which goes to the first of them by id; cus_12 pays less. cus_00 pays three times,
# twice in the same last second: the charge with the greater id gives the name shown.
CHARGES = [
    *(
        charge(f"ch_{i:02}", T0 + i * 3600, 1000 - 100 * i, customer=f"cus_{i:02}", name=f"N{i}")
        for i in range(1, 9)
    ),
    charge("ch_00a", T0, 400, customer="cus_00", name="Old"),
    charge("ch_00b", T0 + 2 * DAY, 300, customer="cus_00", refunded=50, name="Earlier id"),
    charge("ch_00c", T0 + 2 * DAY, 300, customer="cus_00", name="Latest"),
    *(charge(f"ch_{i:02}", T0 + DAY, 100, customer=f"cus_{i:02}") for i in (11, 9, 10)),
    charge("ch_12", T0 + DAY, 99, customer="cus_12"),
    charge("ch_13", T0 + DAY, 5000, status="failed", customer="cus_12"),
    charge("ch_14", T0 - 1, 5000, customer="cus_12"),  # before the period
    charge("ch_15", T0 + DAY, 5000),  # no customer
    charge("ch_16", T0 + DAY, 70, "eur", customer="cus_00", name="Euro"),
]


def _top(charges: list[Obj]) -> list[dict[str, Any]]:
    memory = load({"charges": charges})
    try:
        return compute_report(memory, get_report("top_customers"), T0, END)
    finally:
        memory.close()


def test_the_tenth_place_goes_to_the_first_customer_of_a_tie() -> None:
    usd = [r for r in _top(CHARGES) if r["currency"] == "usd"]
    assert len(usd) == TOP_N
    assert [r["customer"] for r in usd] == [f"cus_{i:02}" for i in range(10)]
    assert [r["gross"] for r in usd] == [1000, 900, 800, 700, 600, 500, 400, 300, 200, 100]


def test_a_customer_sums_their_charges_and_shows_their_latest() -> None:
    rows = _top(CHARGES)
    first = next(r for r in rows if r["currency"] == "usd")
    assert (first["customer"], first["payments"], first["gross"]) == ("cus_00", 3, 1000)
    assert (first["refunded"], first["net"], first["name"]) == (50, 950, "Latest")
    assert [(r["currency"], r["customer"], r["name"]) for r in rows if r["currency"] == "eur"] == [
        ("eur", "cus_00", "Euro")
    ]


def test_the_same_answer_whatever_order_the_rows_were_written_in() -> None:
    assert _top(CHARGES) == _top(list(reversed(CHARGES)))
