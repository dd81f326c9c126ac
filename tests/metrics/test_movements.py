"""MRR movements rebuilt from invoices built by hand (Q4 2026, by month).

Snapshots are taken just before 1 Oct, 1 Nov, 1 Dec and 1 Jan; each customer is one case.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from flitch.metrics import compute_report, get_report
from flitch.metrics.compute import run
from flitch.store import MemoryDatasets
from tests.metrics.objects import coupon, invoice, load, price, subscription, ts

START, END = ts("2026-10-01"), ts("2027-01-01")
PRICES = [
    price("p_m", 1000),
    price("p_big", 3000),
    price("p_2k", 2000),
    price("p_y", 12000, "year"),
    price("p_meter", 5, usage="metered"),
    price("p_jpy", 5000, currency="jpy"),
]
COUPONS = [coupon("c_forever", "forever", percent=50.0), coupon("c_rep", "repeating", percent=25.0)]

MONTHS = ["2026-06-01", "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01"]
MONTHS += ["2026-12-01", "2027-01-01"]


def monthly(
    customer: str,
    sub: str,
    first: str,
    last: str,
    price_id: str = "p_m",
    amount: int = 1000,
    **kw: Any,
) -> list[dict[str, Any]]:
    """One invoice a month for each month from ``first`` to ``last`` (the period it starts)."""
    out = []
    for a, b in itertools.pairwise(MONTHS):
        if first <= a <= last:
            out.append(
                invoice(
                    f"in_{sub}_{a}",
                    customer,
                    ts(a),
                    subscription=sub,
                    lines=[(price_id, amount, ts(a), ts(b))],
                    **kw,
                )
            )
    return out


def shifted(customer: str, sub: str, day: int, months: list[str], **kw: Any) -> list[Any]:
    """Monthly invoices whose periods start on ``day`` of each month in ``months``."""
    price_id, amount = kw.pop("price_id", "p_m"), kw.pop("amount", 1000)
    out = []
    for m in months:
        y, mo = int(m[:4]), int(m[5:7])
        ny, nmo = (y + 1, 1) if mo == 12 else (y, mo + 1)
        a, b = f"{y}-{mo:02d}-{day:02d}", f"{ny}-{nmo:02d}-{day:02d}"
        out.append(
            invoice(
                f"in_{sub}_{a}",
                customer,
                ts(a),
                subscription=sub,
                lines=[(price_id, amount, ts(a), ts(b))],
                **kw,
            )
        )
    return out


INVOICES = [
    # A: 1000 a month throughout → no movement
    *monthly("cus_a", "s_a", "2026-07-01", "2026-12-01"),
    # B: first invoice 15 Oct → new +1000 in October
    *shifted("cus_b", "s_b", 15, ["2026-10", "2026-11", "2026-12"]),
    # C: 1000 → 3000 from 1 Nov → expansion +2000 in November
    *monthly("cus_c", "s_c", "2026-08-01", "2026-10-01"),
    *monthly("cus_c", "s_c", "2026-11-01", "2026-12-01", "p_big", 3000),
    # D: 3000 → 1000 from 1 Nov → contraction −2000 in November
    *monthly("cus_d", "s_d", "2026-08-01", "2026-10-01", "p_big", 3000),
    *monthly("cus_d", "s_d", "2026-11-01", "2026-12-01"),
    # E: last period October, canceled 1 Nov → churned −1000 in November
    *monthly("cus_e", "s_e", "2026-07-01", "2026-10-01"),
    # F: paid in June (an earlier subscription), back on 10 Nov → reactivation +1000
    *monthly("cus_f", "s_f1", "2026-06-01", "2026-06-01"),
    *shifted("cus_f", "s_f2", 10, ["2026-11", "2026-12"]),
    # G: yearly 12000 since March → 1000 a month, constant (its invoice is older than the
    # window read in full: its current period and items say it)
    invoice(
        "in_g",
        "cus_g",
        ts("2026-03-01"),
        subscription="s_g",
        lines=[("p_y", 12000, ts("2026-03-01"), ts("2027-03-01"))],
    ),
    # H: a licensed line and a metered one → only the licensed 1000 counts
    *[
        invoice(
            f"in_h_{a}",
            "cus_h",
            ts(a),
            subscription="s_h",
            lines=[("p_m", 1000, ts(a), ts(b)), ("p_meter", 5000, ts(a), ts(b))],
        )
        for a, b in itertools.pairwise(MONTHS[3:8])
    ],
    # A's plan change mid-October invoiced a proration only → ignored
    invoice(
        "in_a_prorate",
        "cus_a",
        ts("2026-10-15"),
        subscription="s_a",
        prorations=[("p_big", 500, ts("2026-10-15"), ts("2026-11-01"))],
    ),
    # J: 2000 with a forever 50 % coupon → 1000; K: 2000 with a repeating coupon → 2000
    *monthly("cus_j", "s_j", "2026-09-01", "2026-12-01", "p_2k", 2000, discounts=[("di_j", 1000)]),
    *monthly("cus_k", "s_k", "2026-09-01", "2026-12-01", "p_2k", 2000, discounts=[("di_k", 500)]),
    # L: yen from 20 Oct → new ¥5000 in October (no minor unit)
    *shifted(
        "cus_l",
        "s_l",
        20,
        ["2026-10", "2026-11", "2026-12"],
        price_id="p_jpy",
        amount=5000,
        currency="jpy",
    ),
    # M: past_due: its open invoices still count → constant 1000
    *monthly("cus_m", "s_m", "2026-09-01", "2026-10-01"),
    *monthly("cus_m", "s_m", "2026-11-01", "2026-12-01", status="open"),
    # N: unpaid now: its open November invoice does not count → churned −1000 in November
    *monthly("cus_n", "s_n", "2026-09-01", "2026-10-01"),
    *monthly("cus_n", "s_n", "2026-11-01", "2026-11-01", status="open"),
    # O: a void invoice → nothing
    *monthly("cus_o", "s_o", "2026-10-01", "2026-10-01", status="void"),
]
SUBSCRIPTIONS = [
    subscription(
        "s_g",
        "cus_g",
        ts("2026-03-01"),
        items=[(PRICES[3], 1)],
        period_start=ts("2026-03-01"),
        period_end=ts("2027-03-01"),
    ),
    subscription("s_e", "cus_e", ts("2026-07-01"), status="canceled", ended=ts("2026-11-01")),
    subscription("s_f1", "cus_f", ts("2026-06-01"), status="canceled", ended=ts("2026-07-01")),
    subscription("s_j", "cus_j", ts("2026-09-01"), discounts=[("di_j", "c_forever")]),
    subscription("s_k", "cus_k", ts("2026-09-01"), discounts=[("di_k", "c_rep")]),
    subscription("s_m", "cus_m", ts("2026-09-01"), status="past_due"),
    subscription("s_n", "cus_n", ts("2026-09-01"), status="unpaid"),
    *[
        subscription(s, c, ts("2026-06-01"))
        for s, c in (
            ("s_a", "cus_a"),
            ("s_b", "cus_b"),
            ("s_c", "cus_c"),
            ("s_d", "cus_d"),
            ("s_f2", "cus_f"),
            ("s_h", "cus_h"),
            ("s_l", "cus_l"),
        )
    ],
]


@pytest.fixture(scope="module")
def rows() -> Iterator[list[dict[str, Any]]]:
    memory: MemoryDatasets = load(
        {
            "invoices": INVOICES,
            "prices": PRICES,
            "subscriptions": SUBSCRIPTIONS,
            "coupons": COUPONS,
        }
    )
    yield compute_report(memory, get_report("mrr_movements"), START, END, "month")
    memory.close()


def waterfall(rows: list[dict[str, Any]], currency: str) -> dict[str, int]:
    return {
        r["movement"]: r["amount"]
        for r in rows
        if r["bucket"] is None and r["currency"] == currency
    }


def test_mrr_snapshots_by_hand(rows: list[dict[str, Any]]) -> None:
    snaps = {
        r["bucket"][:10]: r["amount"]
        for r in rows
        if r["movement"] == "mrr" and r["currency"] == "usd"
    }
    # 1 Oct: A 1000, C 1000, D 3000, E 1000, G 1000, H 1000, J 1000, K 2000, M 1000, N 1000
    # 1 Nov: + B 1000;  1 Dec: C +2000, D −2000, E −1000, F +1000, N −1000;  1 Jan: the same
    assert snaps == {
        "2026-10-01": 13000,
        "2026-11-01": 14000,
        "2026-12-01": 13000,
        "2027-01-01": 13000,
    }


def test_movements_by_month(rows: list[dict[str, Any]]) -> None:
    moves = {
        (r["bucket"][:7], r["movement"]): (r["amount"], r["customers"])
        for r in rows
        if r["bucket"] and r["movement"] != "mrr" and r["currency"] == "usd"
    }
    assert moves == {
        ("2026-10", "new"): (1000, 1),
        ("2026-11", "expansion"): (2000, 1),
        ("2026-11", "contraction"): (-2000, 1),
        ("2026-11", "churned"): (-2000, 2),
        ("2026-11", "reactivation"): (1000, 1),
    }


def test_the_waterfall_adds_up(rows: list[dict[str, Any]]) -> None:
    assert waterfall(rows, "usd") == {
        "mrr_start": 13000,
        "new": 1000,
        "expansion": 2000,
        "reactivation": 1000,
        "contraction": -2000,
        "churned": -2000,
        "growth": 0,
        "mrr_end": 13000,
    }
    assert waterfall(rows, "jpy") == {
        "mrr_start": 0,
        "new": 5000,
        "expansion": 0,
        "reactivation": 0,
        "contraction": 0,
        "churned": 0,
        "growth": 5000,
        "mrr_end": 5000,
    }


def test_every_row_is_marked_reconstructed(rows: list[dict[str, Any]]) -> None:
    assert rows
    assert all(r["reconstructed"] for r in rows)


def test_overlaps_and_gaps_that_add_up_to_the_span_are_not_mistaken_for_one_run() -> None:
    # A bills 1 Sep → 11 Oct, B 11 Sep → 6 Oct (inside A), C 5 → 15 Nov, 1000 a month each:
    # their lengths (40 + 25 + 10 days) add up to the span (75 days), yet nothing covers
    # 11 Oct → 5 Nov, so the customer churns in October (MRR 0 on 1 Nov), not later
    lines = [("a", "2026-09-01", "2026-10-11"), ("b", "2026-09-11", "2026-10-06")]
    lines.append(("c", "2026-11-05", "2026-11-15"))
    invoices = [
        invoice(f"in_{n}", "cus_z", ts(a), subscription="s_z", lines=[("p_m", 1000, ts(a), ts(b))])
        for n, a, b in lines
    ]
    subs = [subscription("s_z", "cus_z", ts("2026-09-01"))]
    with load({"invoices": invoices, "prices": PRICES, "subscriptions": subs}) as memory:
        got = compute_report(memory, get_report("mrr_movements"), START, END, "month")
    by_month = {
        (r["bucket"][:10], r["movement"]): (r["amount"], r["customers"])
        for r in got
        if r["bucket"] is not None
    }
    assert by_month == {
        ("2026-10-01", "mrr"): (1000, 1),
        ("2026-10-01", "churned"): (-1000, 1),
    }


def by_month(got: list[dict[str, Any]], currency: str = "usd") -> dict[tuple[str, str], Any]:
    return {
        (r["bucket"][:10], r["movement"]): (r["amount"], r["customers"])
        for r in got
        if r["bucket"] is not None and r["currency"] == currency
    }


def movements_of(objects: dict[str, list[Any]]) -> list[dict[str, Any]]:
    with load({"prices": PRICES, "coupons": COUPONS, **objects}) as memory:
        return compute_report(memory, get_report("mrr_movements"), START, END, "month")


def test_a_yearly_plan_renewed_in_the_period_held_its_mrr_throughout() -> None:
    # 12000 a year billed 15 Nov 2025 → 15 Nov 2026, renewed 15 Nov 2026: 1000 a month from
    # before the period to its end; the renewal is no reactivation, nothing moves
    invoices = [
        invoice(
            f"in_y{n}", "cus_y", ts(a), subscription="s_y", lines=[("p_y", 12000, ts(a), ts(b))]
        )
        for n, (a, b) in enumerate([("2025-11-15", "2026-11-15"), ("2026-11-15", "2027-11-15")])
    ]
    sub = subscription(
        "s_y",
        "cus_y",
        ts("2025-11-15"),
        items=[(PRICES[3], 1)],
        period_start=ts("2026-11-15"),
        period_end=ts("2027-11-15"),
    )
    got = movements_of({"invoices": invoices, "subscriptions": [sub]})
    assert by_month(got) == {(m, "mrr"): (1000, 1) for m in ("2026-10-01", "2026-11-01")} | {
        (m, "mrr"): (1000, 1) for m in ("2026-12-01", "2027-01-01")
    }


def test_where_periods_overlap_the_newest_one_wins() -> None:
    # 1000 billed 1 Oct → 1 Nov, then a new plan billed in full from 15 Oct: 3000 from then on
    invoices = [
        invoice(
            "in_o1",
            "cus_o",
            ts("2026-10-01"),
            subscription="s_o",
            lines=[("p_m", 1000, ts("2026-10-01"), ts("2026-11-01"))],
        ),
        *shifted(
            "cus_o", "s_o", 15, ["2026-10", "2026-11", "2026-12"], price_id="p_big", amount=3000
        ),
        # the month before, so that the customer has MRR at the start
        invoice(
            "in_o0",
            "cus_o",
            ts("2026-09-01"),
            subscription="s_o",
            lines=[("p_m", 1000, ts("2026-09-01"), ts("2026-10-01"))],
        ),
    ]
    subs = [subscription("s_o", "cus_o", ts("2026-09-01"))]
    got = movements_of({"invoices": invoices, "subscriptions": subs})
    assert by_month(got) == {
        ("2026-10-01", "mrr"): (1000, 1),
        ("2026-10-01", "expansion"): (2000, 1),
        ("2026-11-01", "mrr"): (3000, 1),
        ("2026-12-01", "mrr"): (3000, 1),
        ("2027-01-01", "mrr"): (3000, 1),
    }


def test_a_two_year_plan_is_taken_from_its_current_period() -> None:
    # 24000 every 2 years: its invoices are not read (a live load may not reach them); its
    # current period, 1 Jun 2025 → 1 Jun 2027, holds 1000 a month
    two_years = price("p_2y", 24000, "year", 2)
    sub = subscription(
        "s_2y",
        "cus_2y",
        ts("2025-06-01"),
        items=[(two_years, 1)],
        period_start=ts("2025-06-01"),
        period_end=ts("2027-06-01"),
    )
    stale = invoice(
        "in_2y",
        "cus_2y",
        ts("2025-06-01"),
        subscription="s_2y",
        lines=[("p_2y", 99000, ts("2025-06-01"), ts("2027-06-01"))],
    )
    with load(
        {"prices": [*PRICES, two_years], "subscriptions": [sub], "invoices": [stale]}
    ) as memory:
        got = compute_report(memory, get_report("mrr_movements"), START, END, "month")
    assert by_month(got) == {
        (m, "mrr"): (1000, 1) for m in ("2026-10-01", "2026-11-01", "2026-12-01", "2027-01-01")
    }


def test_consecutive_periods_of_one_amount_are_one_span() -> None:
    invoices = monthly("cus_a", "s_a", "2026-07-01", "2026-12-01")
    invoices += monthly("cus_c", "s_c", "2026-08-01", "2026-10-01")
    invoices += monthly("cus_c", "s_c", "2026-11-01", "2026-12-01", "p_big", 3000)
    subs = [subscription(s, c, ts("2026-07-01")) for s, c in (("s_a", "cus_a"), ("s_c", "cus_c"))]
    with load({"invoices": invoices, "prices": PRICES, "subscriptions": subs}) as memory:
        got = run(
            memory,
            "SELECT subscription, span_from, span_to, mrr FROM derived_mrr_spans "
            "ORDER BY subscription, span_from",
        ).rows
    assert [(r[0], str(r[1])[:10], str(r[2])[:10], r[3]) for r in got] == [
        ("s_a", "2026-07-01", "2027-01-01", 1000.0),
        ("s_c", "2026-08-01", "2026-11-01", 1000.0),
        ("s_c", "2026-11-01", "2027-01-01", 3000.0),
    ]


def test_invoices_of_subscriptions_stripe_does_not_list_are_left_out() -> None:
    # Stripe lists the invoices of subscriptions on test clocks, not the subscriptions: MRR
    # cannot see those, so neither do its movements
    invoices = monthly("cus_a", "s_a", "2026-07-01", "2026-12-01")
    invoices += monthly("cus_t", "s_on_a_test_clock", "2026-07-01", "2026-12-01")
    subs = [subscription("s_a", "cus_a", ts("2026-07-01"))]
    got = movements_of({"invoices": invoices, "subscriptions": subs})
    assert by_month(got) == {
        (m, "mrr"): (1000, 1) for m in ("2026-10-01", "2026-11-01", "2026-12-01", "2027-01-01")
    }


def test_a_percent_coupon_takes_its_share_of_the_licensed_lines_only() -> None:
    # 2000 licensed + 600 metered a month, 50 % off forever: Stripe's discount is 1300 of the
    # 2600 invoiced, but MRR is 2000 at 50 % = 1000 (as MRR now counts it), not 2000 - 1300
    invoices = [
        invoice(
            f"in_p{n}",
            "cus_p",
            ts(a),
            subscription="s_p",
            lines=[("p_2k", 2000, ts(a), ts(b)), ("p_meter", 600, ts(a), ts(b))],
            discounts=[("di_p", 1300)],
        )
        for n, (a, b) in enumerate(itertools.pairwise(MONTHS[3:8]))
    ]
    subs = [subscription("s_p", "cus_p", ts("2026-09-01"), discounts=[("di_p", "c_forever")])]
    got = movements_of({"invoices": invoices, "subscriptions": subs})
    assert by_month(got) == {
        (f"{m}-01", "mrr"): (1000, 1) for m in ("2026-10", "2026-11", "2026-12", "2027-01")
    }
    assert waterfall(got, "usd")["mrr_end"] == 1000
