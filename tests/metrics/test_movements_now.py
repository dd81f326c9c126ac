"""MRR movements for a period ending now, or at a midnight still to come: the waterfall ends at
MRR now, whatever the time of day, and only a subscription that really ended churns.

One small account seen at several instants of 20 October 2026 (day ``D``), as Stripe would show
it then. A monthly renewal at hour ``R`` goes: before ``R``, the period ending at ``R`` is paid
(from ``R`` − 1 h the next period's invoice may already be there, a draft); from ``R``, the next
period has begun and its invoice is a draft; from ``R`` + 1 h it is open (finalized, being
collected); from ``R`` + 2 h paid.

- ``cus_early``: 1000 USD, renews at 06:00;
- ``cus_noon``: 3000 USD, renews at 12:00;
- ``cus_late``: 2000 EUR, renews at 23:00 (before the next midnight, after every instant but the
  last two);
- ``cus_due``: 2000 USD, renewed at 02:00, payment failed: past_due with its invoice open;
- ``cus_steady``: 1000 EUR, periods from the 1st;
- ``cus_gone``: 500 USD, periods from the 5th, canceled at 10:00 (ended then).

MRR now: USD 1000 + 3000 + 2000 (+ 500 before 10:00) = 6000 or 6500; EUR 2000 + 1000 = 3000.
At the period's start (21 September) every one of them was paying: USD 6500, EUR 3000. So the
only movement is ``cus_gone`` churning (−500 USD) once it has ended.

Last, the waterfall in whole minor units ends at MRR now as MRR rounds it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from flitch.metrics import compute, compute_report, get, get_report
from tests.metrics.objects import DAY, Obj, invoice, load, price, subscription, ts

HOUR = 3600
D = ts("2026-10-20")
NEXT_MIDNIGHT = D + DAY
START = NEXT_MIDNIGHT - 30 * DAY
PRICES = [
    price("p_1000", 1000),
    price("p_3000", 3000),
    price("p_2000", 2000),
    price("p_500", 500),
    price("p_eur_2000", 2000, currency="eur"),
    price("p_eur_1000", 1000, currency="eur"),
]
BY_ID = {p["id"]: p for p in PRICES}


def months_before(t: int, n: int) -> int:
    """``t`` moved ``n`` calendar months back (a negative ``n``: forward)."""
    d = datetime.fromtimestamp(t, UTC)
    month = d.month - 1 - n
    return int(d.replace(year=d.year + month // 12, month=month % 12 + 1).timestamp())


def monthly(
    customer: str, price_id: str, renews: int, at: int, *, fails: bool = False
) -> tuple[Obj, list[Obj]]:
    """An active subscription renewing every month at ``renews``'s day and hour, as seen at
    ``at`` (see the module's docstring), with its invoices since July. ``fails``: the renewal
    at ``renews`` was declined, so it is past_due with that invoice open."""
    sub = f"s_{customer[4:]}"
    p = BY_ID[price_id]
    currency = str(p["currency"])
    # the periods that have begun by ``at``, and the next one if its invoice is made already
    starts = [
        months_before(renews, k) for k in (3, 2, 1, 0) if months_before(renews, k) - HOUR <= at
    ]
    invoices = []
    for n, begin in enumerate(starts):
        stop = months_before(begin, -1)
        status = "paid"
        if begin == renews:
            since = at - renews
            status = "draft" if since < HOUR else "open" if since < 2 * HOUR or fails else "paid"
        created = min(begin, at)
        invoices.append(
            invoice(
                f"in_{sub}_{n}",
                customer,
                created,
                subscription=sub,
                lines=[(price_id, int(p["unit_amount"]), begin, stop)],
                currency=currency,
                status=status,
            )
        )
    status = "past_due" if fails and at >= renews + HOUR else "active"
    current = max(b for b in starts if b <= at)
    obj = subscription(
        sub,
        customer,
        starts[0],
        status=status,
        items=[(p, 1)],
        period_start=current,
        period_end=months_before(current, -1),
    )
    return obj, invoices


def account_at(at: int) -> dict[str, list[Obj]]:
    """The account as Stripe shows it at ``at`` (an instant of day ``D``)."""
    subs, invoices = [], []
    for customer, price_id, hour in (
        ("cus_early", "p_1000", 6),
        ("cus_noon", "p_3000", 12),
        ("cus_late", "p_eur_2000", 23),
        ("cus_steady", "p_eur_1000", -19 * 24),  # the 1st, at midnight
    ):
        sub, paid = monthly(customer, price_id, D + hour * HOUR, at)
        subs.append(sub)
        invoices += paid
    sub, paid = monthly("cus_due", "p_2000", D + 2 * HOUR, at, fails=True)
    subs.append(sub)
    invoices += paid
    # cus_gone: periods from the 5th; canceled at 10:00, its period cut short then
    gone, paid = monthly("cus_gone", "p_500", ts("2026-10-05"), at)
    if at >= D + 10 * HOUR:
        gone = {**gone, "status": "canceled", "ended_at": D + 10 * HOUR}
        gone["canceled_at"] = D + 10 * HOUR
    subs.append(gone)
    invoices += paid
    return {"subscriptions": subs, "invoices": invoices, "prices": PRICES}


INSTANTS = {
    "03:00 nothing renewed yet": D + 3 * HOUR,
    "06:30 early's next invoice a draft": D + 6 * HOUR + 30 * 60,
    "07:30 early's next invoice open": D + 7 * HOUR + 30 * 60,
    "11:00 early paid, gone canceled": D + 11 * HOUR,
    "12:30 noon's next invoice a draft": D + 12 * HOUR + 30 * 60,
    "13:30 noon's next invoice open": D + 13 * HOUR + 30 * 60,
    "22:30 late's period not over, its next invoice a draft": D + 22 * HOUR + 30 * 60,
    "23:30 late's next invoice a draft": D + 23 * HOUR + 30 * 60,
    "23:59 late's still a draft": D + 23 * HOUR + 59 * 60,
}


def expected(at: int) -> tuple[dict[str, int], int]:
    """MRR now per currency, and the churned USD, worked out by hand."""
    gone = at >= D + 10 * HOUR
    return {"usd": 6000 if gone else 6500, "eur": 3000}, -500 if gone else 0


def totals(rows: list[dict[str, Any]], currency: str) -> dict[str, int]:
    return {
        r["movement"]: r["amount"]
        for r in rows
        if r["bucket"] is None and r["currency"] == currency
    }


def rows_end(rows: list[dict[str, Any]]) -> Any:
    """The last instant the rows have a snapshot of MRR at: the period's end."""
    return max(r["bucket"] for r in rows if r["movement"] == "mrr")


@pytest.mark.parametrize("grain", ["day", "week"])
@pytest.mark.parametrize("name", list(INSTANTS))
def test_the_waterfall_ends_at_mrr_now_at_any_time_of_day(name: str, grain: str) -> None:
    at = INSTANTS[name]
    mrr_now, churned = expected(at)
    with load(account_at(at)) as memory:
        assert compute(memory, [get("mrr")], START, NEXT_MIDNIGHT)["mrr"].values == mrr_now
        # the period ending at the next midnight, at the instant itself, and at a later midnight
        for end in (NEXT_MIDNIGHT, at, NEXT_MIDNIGHT + 3 * DAY):
            rows = compute_report(memory, get_report("mrr_movements"), START, end, grain)
            usd, eur = totals(rows, "usd"), totals(rows, "eur")
            assert (usd["mrr_start"], eur["mrr_start"]) == (6500, 3000), (name, end)
            assert {"usd": usd["mrr_end"], "eur": eur["mrr_end"]} == mrr_now, (name, end)
            # the snapshot at the period's end says the same
            last = {
                r["currency"]: r["amount"]
                for r in rows
                if r["movement"] == "mrr" and r["bucket"] == rows_end(rows)
            }
            assert last == mrr_now, (name, end)
            assert (usd["churned"], eur["churned"]) == (churned, 0), (name, end)
            movers = [
                (r["customers"], r["amount"])
                for r in rows
                if r["bucket"] and r["movement"] != "mrr"
            ]
            assert movers == ([(1, -500)] if churned else []), (name, end)


YEARLY = price("p_y1000", 1000, "year")


def yearly(sub: str, customer: str, begin: str, status: str = "active") -> tuple[Obj, Obj]:
    """A yearly 1000 USD subscription (83.33 a month) from ``begin``, with its paid invoice."""
    t = ts(begin)
    year_on = months_before(t, -12)
    ended = year_on if status == "canceled" else None
    obj = subscription(
        sub,
        customer,
        t,
        status=status,
        items=[(YEARLY, 1)],
        ended=ended,
        period_start=t,
        period_end=year_on,
    )
    lines = [("p_y1000", 1000, t, year_on)]
    return obj, invoice(f"in_{sub}", customer, t, subscription=sub, lines=lines)


def test_the_waterfall_ends_at_mrr_now_rounded_as_it_is() -> None:
    # at the start: a 83.33 + c 83.33 = 166.67 → 167; in the period b new 83.33, c expands by
    # 83.33, d comes back for 83.33; now a + b + 2 c + d = 416.67 → 417. Each movement shows
    # as 83, and 167 + 3 × 83 = 416: the rounding is taken up by one of them (84), so that the
    # waterfall still adds up and ends at 417
    made = [
        yearly("s_a", "cus_a", "2026-03-01"),
        yearly("s_b", "cus_b", "2026-10-01"),
        yearly("s_c1", "cus_c", "2026-06-01"),
        yearly("s_c2", "cus_c", "2026-10-10"),
        yearly("s_d1", "cus_d", "2025-09-01", status="canceled"),
        yearly("s_d2", "cus_d", "2026-10-05"),
    ]
    objects = {
        "subscriptions": [s for s, _ in made],
        "invoices": [i for _, i in made],
        "prices": [YEARLY],
    }
    with load(objects) as memory:
        assert compute(memory, [get("mrr")], START, NEXT_MIDNIGHT)["mrr"].values == {"usd": 417}
        rows = compute_report(memory, get_report("mrr_movements"), START, NEXT_MIDNIGHT, "week")
    usd = totals(rows, "usd")
    assert (usd["mrr_start"], usd["mrr_end"]) == (167, 417)
    moved = sorted(usd[m] for m in ("new", "expansion", "reactivation"))
    assert moved == [83, 83, 84]
    assert (usd["growth"], usd["churned"], usd["contraction"]) == (250, 0, 0)
