"""New or reactivation, by hand, where it hangs on when a payment was made: before or after the
instant a step of the waterfall looks from, while the customer was at zero, or more than 400
days back. The same account live (derived tables computed in the statement) and from a cache
(built at publish, ``derived_mrr_changes`` among them). Period: November 2026, by day and by
month; every licensed plan is 1000 a month."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flitch import catalog
from flitch.metrics import compute_report, get_report
from flitch.metrics.derived import DERIVED
from flitch.metrics.movement_customers import movement_customers
from flitch.store import DuckDBStore, MemoryDatasets
from tests.metrics.objects import Obj, invoice, load, price, subscription, ts

START, END = ts("2026-11-01"), ts("2026-12-01")
PRICES = [price("p_m", 1000), price("p_meter", 5, usage="metered")]


def licensed(customer: str, sub: str, at: int, months: int = 1) -> list[Obj]:
    """Invoices of a 1000-a-month plan, the first period starting at ``at`` (30-day months)."""
    day = 30 * 86_400
    return [
        invoice(
            f"in_{sub}_{n}",
            customer,
            at + n * day,
            subscription=sub,
            lines=[("p_m", 1000, at + n * day, at + (n + 1) * day)],
        )
        for n in range(months)
    ]


def metered(customer: str, sub: str, at: int) -> Obj:
    """A paid invoice for usage alone: money paid, no MRR."""
    return invoice(
        f"in_{sub}", customer, at, subscription=sub, lines=[("p_meter", 700, at, at + 86_400)]
    )


INVOICES = [
    # P: usage paid on 5 Nov, a plan from 7 Nov: by day it was paid before the day it started
    # (reactivation); by month not before 1 Nov, the instant the month is looked from (new)
    metered("cus_p", "s_p0", ts("2026-11-05", 10)),
    *licensed("cus_p", "s_p", ts("2026-11-07")),
    # Q: a plan July to September, usage paid on 3 Nov while at zero, back on 10 Nov:
    # reactivation either way (September's invoice is within 400 days)
    *licensed("cus_q", "s_q1", ts("2026-07-03"), 3),
    metered("cus_q", "s_q0", ts("2026-11-03")),
    *licensed("cus_q", "s_q2", ts("2026-11-10")),
    # R: paid in June 2025 only, back on 12 Nov: more than 400 days back, so new
    *licensed("cus_r", "s_r1", ts("2025-06-01")),
    *licensed("cus_r", "s_r2", ts("2026-11-12")),
    # S: first invoice the instant the plan starts: new
    *licensed("cus_s", "s_s", ts("2026-11-15")),
    # U: usage paid at 08:00 on 20 Nov, a plan from 12:00 that day: new by day (the day is
    # looked at from midnight) and by month
    metered("cus_u", "s_u0", ts("2026-11-20", 8)),
    *licensed("cus_u", "s_u", ts("2026-11-20", 12)),
]
SUBSCRIPTIONS = [
    subscription("s_q1", "cus_q", ts("2026-07-03"), status="canceled", ended=ts("2026-10-01")),
    subscription("s_r1", "cus_r", ts("2025-06-01"), status="canceled", ended=ts("2025-07-01")),
    *[
        subscription(s, c, ts("2026-11-01"))
        for s, c in (
            ("s_p0", "cus_p"),
            ("s_p", "cus_p"),
            ("s_q0", "cus_q"),
            ("s_q2", "cus_q"),
            ("s_r2", "cus_r"),
            ("s_s", "cus_s"),
            ("s_u0", "cus_u"),
            ("s_u", "cus_u"),
        )
    ],
]
OBJECTS = {"invoices": INVOICES, "prices": PRICES, "subscriptions": SUBSCRIPTIONS}

EXPECTED = {
    "day": {"cus_p": "reactivation", "cus_q": "reactivation", "cus_r": "new", "cus_s": "new"}
    | {"cus_u": "new"},
    "month": {"cus_p": "new", "cus_q": "reactivation", "cus_r": "new", "cus_s": "new"}
    | {"cus_u": "new"},
}


@pytest.fixture(scope="module")
def live() -> Iterator[MemoryDatasets]:
    memory = load(OBJECTS)
    yield memory
    memory.close()


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    store = DuckDBStore(Path(tmp_path_factory.mktemp("cache")) / "conn", derived=DERIVED)
    with store.begin_refresh(full=True) as txn:
        for spec in catalog.OBJECTS:
            txn.upsert(spec, list(OBJECTS.get(spec.name, ())))
        txn.commit()
    with store.reader() as reader:
        assert reader.has_table("derived_mrr_changes")
        yield reader


@pytest.mark.parametrize("grain", ["day", "month"])
def test_new_or_reactivation_by_when_they_paid(
    live: MemoryDatasets, cached: Any, grain: str
) -> None:
    for source in (live, cached):
        found: dict[str, str] = {}
        for kind in ("new", "reactivation"):
            for row in movement_customers(source, START, END, grain, "usd", kind):
                assert (row["mrr_before"], row["mrr_after"]) == (0, 1000)
                found[row["customer"]] = kind
        assert found == EXPECTED[grain]


@pytest.mark.parametrize("grain", ["day", "month"])
def test_the_waterfall_is_the_same_live_and_cached(
    live: MemoryDatasets, cached: Any, grain: str
) -> None:
    report = get_report("mrr_movements")
    assert compute_report(live, report, START, END, grain) == compute_report(
        cached, report, START, END, grain
    )
    whole = {
        r["movement"]: r["amount"]
        for r in compute_report(live, report, START, END, grain)
        if r["bucket"] is None
    }
    reactivated = sum(1000 for kind in EXPECTED[grain].values() if kind == "reactivation")
    assert whole["reactivation"] == reactivated
    assert whole["new"] == 5000 - reactivated
    assert whole["mrr_end"] == whole["mrr_start"] + 5000
