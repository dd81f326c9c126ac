"""A small account built by hand around one customer, ``cus_a`` (2026, by month), for the
customer page: what its timeline must hold is worked out below.

- ``sub_usd``: from 1 January, 10.00 a month (January and February invoices), 30.00 from 1 March
  (March and April invoices), still active: its last span runs on.
- ``sub_eur``: 20.00 EUR a month from 1 February, canceled and ended on 1 March.
- Charges: ``ch_a1`` 10.00 on 1 January, 4.00 of it refunded; ``ch_a2`` 10.00 on 1 February,
  disputed (``dp_a``, 3 February).
- Another customer, ``cus_b``, has a subscription, an invoice, a charge and a dispute of their
  own: none of them is ``cus_a``'s.

``cus_a``'s MRR: USD 1,000 from 1 January, 3,000 from 1 March; EUR 2,000 from 1 February, 0 from
1 March.
"""

from __future__ import annotations

from typing import Any

from tests.metrics.objects import charge, dispute, invoice, price, subscription, ts

PRICES = [
    price("p_m", 1000),
    price("p_big", 3000),
    price("p_eur", 2000, currency="eur"),
]


def _monthly(customer: str, sub: str, plan: list[tuple[str, str, str, int]], currency: str) -> Any:
    return [
        invoice(
            f"in_{sub}_{a}",
            customer,
            ts(a),
            subscription=sub,
            currency=currency,
            lines=[(p, amount, ts(a), ts(b))],
            paid_at=ts(a),
        )
        for a, b, p, amount in plan
    ]


def objects() -> dict[str, list[dict[str, Any]]]:
    """The account's objects by dataset."""
    by = {p["id"]: p for p in PRICES}
    subs = [
        subscription(
            "sub_usd",
            "cus_a",
            ts("2026-01-01"),
            items=[(by["p_big"], 1)],
            period_start=ts("2026-04-01"),
            period_end=ts("2026-05-01"),
        ),
        subscription(
            "sub_eur",
            "cus_a",
            ts("2026-02-01"),
            status="canceled",
            items=[(by["p_eur"], 1)],
            ended=ts("2026-03-01"),
        ),
        subscription(
            "sub_b",
            "cus_b",
            ts("2026-01-01"),
            items=[(by["p_m"], 1)],
            period_start=ts("2026-01-01"),
            period_end=ts("2026-02-01"),
        ),
    ]
    usd = [
        ("2026-01-01", "2026-02-01", "p_m", 1000),
        ("2026-02-01", "2026-03-01", "p_m", 1000),
        ("2026-03-01", "2026-04-01", "p_big", 3000),
        ("2026-04-01", "2026-05-01", "p_big", 3000),
    ]
    invoices = (
        _monthly("cus_a", "sub_usd", usd, "usd")
        + _monthly("cus_a", "sub_eur", [("2026-02-01", "2026-03-01", "p_eur", 2000)], "eur")
        + _monthly("cus_b", "sub_b", [("2026-01-01", "2026-02-01", "p_m", 1000)], "usd")
    )
    for inv in invoices:
        inv["customer_email"] = f"{inv['customer']}@example.com"
        inv["customer_name"] = "Ada" if inv["customer"] == "cus_a" else "Bob"
    charges = [
        charge("ch_a1", ts("2026-01-01", 1), 1000, customer="cus_a", refunded=400),
        charge("ch_a2", ts("2026-02-01", 1), 1000, customer="cus_a"),
        charge("ch_b1", ts("2026-01-01", 1), 1000, customer="cus_b"),
    ]
    charges[1]["disputed"] = True
    charges[2]["disputed"] = True
    disputes = [
        dispute("dp_a", ts("2026-02-03"), 1000, "ch_a2"),
        dispute("dp_b", ts("2026-01-03"), 1000, "ch_b1"),
    ]
    return {
        "prices": PRICES,
        "subscriptions": subs,
        "invoices": invoices,
        "charges": charges,
        "disputes": disputes,
    }
