"""Stripe objects built by hand for the metric tests, and a way to load them.

Only the fields the metrics read are filled; everything else a dataset column wants is absent
(``None``), as for an object Stripe returned without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from flitch import catalog
from flitch.store import MemoryDatasets

Obj = dict[str, Any]
DAY = 86_400


def ts(day: str, hour: int = 0) -> int:
    """Unix seconds of ``YYYY-MM-DD`` (and an hour), UTC."""
    d = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)
    return int(d.timestamp())


def load(objects: Mapping[str, Iterable[Obj]]) -> MemoryDatasets:
    """In-memory datasets holding these objects (every dataset present, most empty)."""
    memory = MemoryDatasets()
    for spec in catalog.OBJECTS:
        memory.load(spec, list(objects.get(spec.name, ())))
    return memory


def _base(kind: str, id_: str, created: int) -> Obj:
    return {"id": id_, "object": kind, "created": created, "livemode": False, "metadata": {}}


def customer(id_: str, created: int, email: str | None = None) -> Obj:
    return {**_base("customer", id_, created), "email": email or f"{id_}@example.com"}


def charge(
    id_: str,
    created: int,
    amount: int,
    currency: str = "usd",
    status: str = "succeeded",
    *,
    customer: str | None = None,
    refunded: int = 0,
    failure_code: str | None = None,
    name: str | None = None,
) -> Obj:
    return {
        **_base("charge", id_, created),
        "amount": amount,
        "amount_captured": amount if status == "succeeded" else 0,
        "amount_refunded": refunded,
        "currency": currency,
        "status": status,
        "paid": status == "succeeded",
        "refunded": refunded == amount,
        "customer": customer,
        "failure_code": failure_code,
        "billing_details": {"email": None, "name": name},
    }


def dispute(id_: str, created: int, amount: int, charge: str, currency: str = "usd") -> Obj:
    return {
        **_base("dispute", id_, created),
        "amount": amount,
        "currency": currency,
        "charge": charge,
        "status": "needs_response",
        "reason": "fraudulent",
    }


def txn(
    id_: str,
    created: int,
    amount: int,
    fee: int = 0,
    category: str = "charge",
    currency: str = "usd",
) -> Obj:
    return {
        **_base("balance_transaction", id_, created),
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": currency,
        "type": category,
        "reporting_category": category,
        "status": "available",
    }


def payout(
    id_: str, created: int, amount: int, arrival: int, status: str = "paid", currency: str = "usd"
) -> Obj:
    return {
        **_base("payout", id_, created),
        "amount": amount,
        "currency": currency,
        "status": status,
        "arrival_date": arrival,
    }


def price(
    id_: str,
    amount: int | None,
    interval: str = "month",
    count: int = 1,
    *,
    currency: str = "usd",
    usage: str = "licensed",
) -> Obj:
    return {
        **_base("price", id_, 0),
        "active": True,
        "currency": currency,
        "unit_amount": amount,
        "type": "recurring",
        "billing_scheme": "per_unit",
        "recurring": {"interval": interval, "interval_count": count, "usage_type": usage},
        "product": "prod_1",
    }


def subscription(
    id_: str,
    customer: str,
    start: int,
    *,
    status: str = "active",
    items: Iterable[tuple[Obj, int]] = (),
    trial: tuple[int, int] | None = None,
    ended: int | None = None,
    period_start: int | None = None,
    period_end: int | None = None,
    discounts: Iterable[tuple[str, str]] = (),
) -> Obj:
    """A subscription; ``discounts`` are ``(discount id, coupon id)`` pairs, expanded."""
    items = list(items)
    return {
        **_base("subscription", id_, start if trial is None else min(start, trial[0])),
        "status": status,
        "customer": customer,
        "currency": items[0][0]["currency"] if items else "usd",
        "start_date": start if trial is None else min(start, trial[0]),
        "trial_start": trial[0] if trial else None,
        "trial_end": trial[1] if trial else None,
        "ended_at": ended,
        "canceled_at": ended,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{id_}_{n}",
                    "object": "subscription_item",
                    "price": p,
                    "quantity": q,
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                }
                for n, (p, q) in enumerate(items)
            ],
        },
        "discounts": [
            {"id": d, "object": "discount", "source": {"type": "coupon", "coupon": c}}
            for d, c in discounts
        ],
    }


def coupon(
    id_: str,
    duration: str,
    *,
    percent: float | None = None,
    amount: int | None = None,
    currency: str | None = None,
    redeemed: int = 0,
) -> Obj:
    return {
        **_base("coupon", id_, 0),
        "duration": duration,
        "percent_off": percent,
        "amount_off": amount,
        "currency": currency,
        "duration_in_months": 3 if duration == "repeating" else None,
        "valid": True,
        "times_redeemed": redeemed,
    }


Line = tuple[str, int, int, int]  # price, amount, period start, period end


def invoice(
    id_: str,
    customer: str,
    created: int,
    *,
    subscription: str | None = None,
    lines: Iterable[Line] = (),
    prorations: Iterable[Line] = (),
    status: str = "paid",
    currency: str = "usd",
    discounts: Iterable[tuple[str, int]] = (),
    paid_at: int | None = None,
    due_date: int | None = None,
    remaining: int | None = None,
    attempted: bool = False,
) -> Obj:
    """An invoice with its lines (``prorations`` are marked so) and ``(discount, amount)``s."""

    def line(n: int, spec: Line, proration: bool) -> Obj:
        price_id, amount, start, end = spec
        return {
            "id": f"il_{id_}_{n}",
            "object": "line_item",
            "amount": amount,
            "currency": currency,
            "period": {"start": start, "end": end},
            "pricing": {"type": "price_details", "price_details": {"price": price_id}},
            "parent": {
                "type": "subscription_item_details",
                "subscription_item_details": {"proration": proration, "subscription": subscription},
            },
        }

    rows = [line(n, s, False) for n, s in enumerate(lines)]
    rows += [line(len(rows) + n, s, True) for n, s in enumerate(prorations)]
    total = sum(r["amount"] for r in rows) - sum(a for _, a in discounts)
    paid = total if status == "paid" else 0
    return {
        **_base("invoice", id_, created),
        "customer": customer,
        "currency": currency,
        "status": status,
        "total": total,
        "subtotal": total,
        "amount_due": total,
        "amount_paid": paid,
        "amount_remaining": total - paid if remaining is None else remaining,
        "attempted": attempted,
        "due_date": due_date,
        "parent": {"subscription_details": {"subscription": subscription}}
        if subscription
        else None,
        "status_transitions": {"paid_at": paid_at if paid_at is not None else None},
        "lines": {"object": "list", "data": rows, "has_more": False},
        "total_discount_amounts": [{"discount": d, "amount": a} for d, a in discounts],
    }


def credit_note(
    id_: str, created: int, total: int, invoice: str, status: str = "issued", currency: str = "usd"
) -> Obj:
    return {
        **_base("credit_note", id_, created),
        "total": total,
        "amount": total,
        "currency": currency,
        "status": status,
        "invoice": invoice,
    }
