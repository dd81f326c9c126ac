"""Stripe-shaped objects built by hand, as the pinned API version returns them."""

from __future__ import annotations

from typing import Any

BASE_TIME = 1_700_000_000  # 2023-11-14T22:13:20Z


def charge(i: int, **overrides: Any) -> dict[str, Any]:
    """A charge like Stripe lists it (the fields Flitch reads, and a few it does not)."""
    obj: dict[str, Any] = {
        "id": f"ch_{i:024d}",
        "object": "charge",
        "amount": 1000 + i,
        "amount_captured": 1000 + i,
        "amount_refunded": 0 if i % 7 else 500,
        "balance_transaction": f"txn_{i:024d}",
        "billing_details": {
            "address": {"city": "Paris", "country": "FR", "line1": None, "postal_code": None},
            "email": f"buyer{i}@example.com",
            "name": f"Buyer {i}",
        },
        "captured": True,
        "created": BASE_TIME + i * 60,
        "currency": "usd" if i % 3 else "eur",
        "customer": f"cus_{i % 50:014d}",
        "description": f"Order #{i}",
        "disputed": i % 97 == 0,
        "failure_code": None if i % 11 else "card_declined",
        "livemode": False,
        "metadata": {"order": str(i), "channel": "web"},
        "paid": bool(i % 11),
        "payment_intent": f"pi_{i:024d}",
        "payment_method_details": {
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
            "type": "card",
        },
        "refunded": False,
        "status": "succeeded" if i % 11 else "failed",
    }
    obj.update(overrides)
    return obj


def customer(i: int, **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": f"cus_{i:014d}",
        "object": "customer",
        "balance": -250 if i % 5 == 0 else 0,
        "created": BASE_TIME - 86_400 + i,
        "currency": "usd",
        "delinquent": i % 13 == 0,
        "description": None,
        "email": f"person{i}@example.com",
        "livemode": False,
        "metadata": {},
        "name": f"Person {i}",
    }
    obj.update(overrides)
    return obj


def subscription(i: int, **overrides: Any) -> dict[str, Any]:
    start = BASE_TIME + i * 3600
    obj: dict[str, Any] = {
        "id": f"sub_{i:014d}",
        "object": "subscription",
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "created": start,
        "currency": "usd",
        "customer": f"cus_{i:014d}",
        "discounts": [],
        "ended_at": None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{i:014d}",
                    "object": "subscription_item",
                    "current_period_end": start + 30 * 86_400,
                    "current_period_start": start,
                    "price": {
                        "id": "price_basic",
                        "object": "price",
                        "product": "prod_basic",
                        "unit_amount": 1500,
                    },
                    "quantity": 2,
                }
            ],
            "has_more": False,
        },
        "livemode": False,
        "metadata": {"plan": "basic"},
        "start_date": start,
        "status": "active",
        "trial_end": None,
        "trial_start": None,
    }
    obj.update(overrides)
    return obj


def invoice(i: int, lines: int = 1, **overrides: Any) -> dict[str, Any]:
    """A subscription invoice with ``lines`` lines (and a discount on the first)."""
    start = BASE_TIME + i * 3600
    data = [
        {
            "id": f"il_{i:014d}_{n}",
            "object": "line_item",
            "amount": 1500 * (n + 1),
            "currency": "usd",
            "description": f"Line {n}",
            "parent": {
                "type": "subscription_item_details",
                "subscription_item_details": {
                    "proration": n == 2,
                    "subscription": f"sub_{i:014d}",
                    "subscription_item": f"si_{i:014d}",
                },
            },
            "period": {"start": start, "end": start + 30 * 86_400},
            "pricing": {
                "type": "price_details",
                "price_details": {"price": "price_basic", "product": "prod_basic"},
            },
            "quantity": n + 1,
        }
        for n in range(lines)
    ]
    obj: dict[str, Any] = {
        "id": f"in_{i:014d}",
        "object": "invoice",
        "created": start,
        "currency": "usd",
        "customer": f"cus_{i:014d}",
        "livemode": False,
        "metadata": {},
        "parent": {"subscription_details": {"subscription": f"sub_{i:014d}"}},
        "status": "paid",
        "total": sum(line["amount"] for line in data),
        "lines": {"object": "list", "data": data, "has_more": False},
        "total_discount_amounts": [{"amount": 100, "discount": f"di_{i}"}] if data else [],
    }
    obj.update(overrides)
    return obj


def coupon(i: int, **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": f"CPN{i}",
        "object": "coupon",
        "amount_off": None,
        "created": BASE_TIME + i,
        "currency": None,
        "duration": "repeating",
        "duration_in_months": 3,
        "livemode": False,
        "max_redemptions": None,
        "metadata": {},
        "name": f"{10 + i}% off",
        "percent_off": 10.5 + i,
        "times_redeemed": i,
        "valid": True,
    }
    obj.update(overrides)
    return obj


def charges(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [charge(i) for i in range(start, start + n)]


def pages(objects: list[dict[str, Any]], size: int = 100) -> list[list[dict[str, Any]]]:
    return [objects[i : i + size] for i in range(0, len(objects), size)]
