"""The customers behind each bar of the MRR movements waterfall, on the account built by hand
for the cohorts (``test_retention``), from 1 March to 1 May 2026 by month."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flitch.metrics import compute_report, get_report
from flitch.metrics.movement_customers import movement_customers
from flitch.store import MemoryDatasets
from tests.metrics.objects import ts
from tests.metrics.test_retention import account

START, END = ts("2026-03-01"), ts("2026-05-01")


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    m = account()
    yield m
    m.close()


@pytest.mark.parametrize(
    ("movement", "expected"),
    [
        ("new", [("2026-03", "cus_d", 0, 1000)]),
        ("expansion", [("2026-03", "cus_a", 1000, 3000)]),
        ("churned", [("2026-03", "cus_b", 1000, 0)]),
        ("reactivation", [("2026-04", "cus_b", 0, 2000)]),
        ("contraction", [("2026-04", "cus_c", 2000, 1000)]),
    ],
)
def test_each_movement_lists_its_customers_before_and_after(
    memory: MemoryDatasets, movement: str, expected: list[tuple[str, str, int, int]]
) -> None:
    rows = movement_customers(memory, START, END, "month", "usd", movement)
    got = [(str(r["bucket"])[:7], r["customer"], r["mrr_before"], r["mrr_after"]) for r in rows]
    assert got == expected
    # they add up to the waterfall's bar
    bars = compute_report(memory, get_report("mrr_movements"), START, END, "month")
    bar = next(r for r in bars if r["bucket"] is None and r["movement"] == movement)
    assert sum(r["change"] for r in rows) == bar["amount"]


def test_an_unknown_movement_is_refused(memory: MemoryDatasets) -> None:
    with pytest.raises(ValueError, match="unknown movement"):
        movement_customers(memory, START, END, "month", "usd", "growth")
