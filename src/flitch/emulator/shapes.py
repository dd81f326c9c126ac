"""The JSON shape of each Stripe object, for API version ``2026-10-28.endive``.

One builder per object type, shared by the generator (the seeded account) and by ``changes``
(activity while the server runs), so an object looks the same whichever made it. The fields
follow the resource classes of the stripe SDK 16.1 (``stripe/_charge.py``, ``_invoice.py``, …),
which pins that version. Fields Stripe only shows when asked (``expand[]``: customer ``sources``,
charge ``refunds``, invoice ``payments``…) are left out, except price ``tiers``: a tiered price
keeps its tiers in the stored object and the server strips them unless ``expand[]`` asks.

Since 2025-03-31 ("basil") an invoice has no top-level ``subscription``, ``paid``, ``charge`` or
``payment_intent`` (the subscription is under ``parent.subscription_details``), a subscription's
period lives on its items, and its discounts are ``discounts`` (ids). ``versions.py`` renders the
older shapes that events created under an older account version carry.

Nested constants (``NO_TAX`` …) are shared between objects to save memory: replace nested
values, never mutate them in place.
"""

from __future__ import annotations

import base64
import random
import zlib
from typing import Any

Obj = dict[str, Any]

API_VERSION = "2026-10-28.endive"
ACCOUNT_NAME = "Flitch Demo Co"
ACCOUNT_COUNTRY = "US"
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk"})
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B64_TO_ALNUM = bytes.maketrans(b"+/", b"xQ")

NO_TAX: Obj = {"disabled_reason": None, "enabled": False, "liability": None, "provider": None}
SELF: Obj = {"type": "self"}


def new_id(rng: random.Random, prefix: str, length: int = 24) -> str:
    """A Stripe-like id: the type's prefix and random letters and digits."""
    if isinstance(rng, Rng):
        return prefix + rng.token(length)
    # base64 of random bytes is fast; its two symbols become letters (a slight, harmless bias)
    raw = base64.b64encode(rng.randbytes((length * 3 + 3) // 4))
    return prefix + raw[:length].translate(_B64_TO_ALNUM).decode()


def format_amount(amount: int, currency: str) -> str:
    """``$49.00``, ``¥4,900``: how Stripe writes an amount in descriptions."""
    symbol = SYMBOLS.get(currency, currency.upper() + " ")
    sign = "-" if amount < 0 else ""
    if currency in ZERO_DECIMAL:
        return f"{sign}{symbol}{abs(amount):,}"
    return f"{sign}{symbol}{abs(amount) / 100:,.2f}"


def list_object(data: list[Obj], url: str) -> Obj:
    """Stripe's list envelope, as nested inside an object (invoice lines, subscription items):
    ``object``, ``data``, ``has_more``, ``url``; no ``total_count``, which Stripe never sends."""
    return {"object": "list", "data": data, "has_more": False, "url": url}


# -- the catalog ---------------------------------------------------------------------------------
def product(
    *,
    id: str,
    created: int,
    livemode: bool,
    name: str,
    description: str | None,
    active: bool = True,
    default_price: str | None = None,
    unit_label: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    return {
        "id": id,
        "object": "product",
        "active": active,
        "created": created,
        "default_price": default_price,
        "description": description,
        "images": [],
        "livemode": livemode,
        "marketing_features": [],
        "metadata": metadata or {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "tax_details": None,
        "type": "service",
        "unit_label": unit_label,
        "updated": created,
        "url": None,
    }


def tier(up_to: int | None, unit_amount: int, flat_amount: int | None = None) -> Obj:
    return {
        "flat_amount": flat_amount,
        "flat_amount_decimal": None if flat_amount is None else str(flat_amount),
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
        "up_to": up_to,
    }


def price(
    *,
    id: str,
    created: int,
    livemode: bool,
    product: str,
    currency: str,
    unit_amount: int | None,
    interval: str | None,
    interval_count: int = 1,
    usage_type: str = "licensed",
    meter: str | None = None,
    tiers_mode: str | None = None,
    tiers: list[Obj] | None = None,
    nickname: str | None = None,
    lookup_key: str | None = None,
    active: bool = True,
) -> Obj:
    """A price; ``tiers`` is kept in the stored object (the server hides it unless expanded)."""
    recurring = None
    if interval is not None:
        recurring = {
            "interval": interval,
            "interval_count": interval_count,
            "meter": meter,
            "trial_period_days": None,
            "usage_type": usage_type,
        }
    obj: Obj = {
        "id": id,
        "object": "price",
        "active": active,
        "billing_scheme": "tiered" if tiers else "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": livemode,
        "lookup_key": lookup_key,
        "metadata": {},
        "nickname": nickname,
        "product": product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": tiers_mode if tiers else None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": None if tiers else unit_amount,
        "unit_amount_decimal": None if tiers or unit_amount is None else str(unit_amount),
    }
    if tiers:
        obj["tiers"] = tiers
    return obj


def public_price(stored: Obj) -> Obj:
    """The price as embedded in other objects (subscription items): without ``tiers``."""
    return {k: v for k, v in stored.items() if k != "tiers"}


def plan_of(price_obj: Obj) -> Obj:
    """The legacy ``plan`` view of a recurring price (still on subscription items)."""
    recurring = price_obj["recurring"] or {}
    return {
        "id": price_obj["id"],
        "object": "plan",
        "active": price_obj["active"],
        "amount": price_obj["unit_amount"],
        "amount_decimal": price_obj["unit_amount_decimal"],
        "billing_scheme": price_obj["billing_scheme"],
        "created": price_obj["created"],
        "currency": price_obj["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": price_obj["livemode"],
        "metadata": {},
        "meter": recurring.get("meter"),
        "nickname": price_obj["nickname"],
        "product": price_obj["product"],
        "tiers_mode": price_obj["tiers_mode"],
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": recurring.get("usage_type"),
    }


def coupon(
    *,
    id: str,
    created: int,
    livemode: bool,
    name: str | None,
    duration: str,
    percent_off: float | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    duration_in_months: int | None = None,
    max_redemptions: int | None = None,
    redeem_by: int | None = None,
) -> Obj:
    return {
        "id": id,
        "object": "coupon",
        "amount_off": amount_off,
        "created": created,
        "currency": currency if amount_off is not None else None,
        "duration": duration,
        "duration_in_months": duration_in_months if duration == "repeating" else None,
        "livemode": livemode,
        "max_redemptions": max_redemptions,
        "metadata": {},
        "name": name,
        "percent_off": percent_off,
        "redeem_by": redeem_by,
        "times_redeemed": 0,
        "valid": True,
    }


def discount(
    *, id: str, coupon_id: str, customer: str, subscription: str | None, start: int, end: int | None
) -> Obj:
    """A coupon applied to a subscription (or to a customer: no subscription); the coupon is
    ``source.coupon`` in this version."""
    return {
        "id": id,
        "object": "discount",
        "checkout_session": None,
        "customer": customer,
        "customer_account": None,
        "end": end,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None,
        "source": {"coupon": coupon_id, "type": "coupon"},
        "start": start,
        "subscription": subscription,
        "subscription_item": None,
    }


# -- customers -----------------------------------------------------------------------------------
#: Where customers who give an address live, with a city each (weights: how many of them).
_ADDRESSES: tuple[tuple[str, str, str | None, str, int], ...] = (
    ("US", "San Francisco", "CA", "94107", 40),
    ("GB", "London", None, "EC1V 9HX", 14),
    ("DE", "Berlin", None, "10115", 12),
    ("FR", "Paris", None, "75002", 10),
    ("CA", "Toronto", "ON", "M5V 2T6", 8),
    ("NL", "Amsterdam", None, "1012 AB", 6),
    ("JP", "Tokyo", None, "100-0005", 5),
    ("AU", "Sydney", "NSW", "2000", 5),
)
_ADDRESS_WEIGHT = sum(a[-1] for a in _ADDRESSES)


def customer_address(customer_id: str) -> Obj | None:
    """The address a customer gave, or ``None``: about half of them give one (billing details
    asked for tax), the others leave Stripe only their card. Drawn from the id, so it is the
    same every time the customer is made, whatever else the generator draws."""
    draw = zlib.crc32(customer_id.encode())
    if draw % 100 >= 55:
        return None
    pick = (draw // 100) % _ADDRESS_WEIGHT
    chosen = _ADDRESSES[-1]
    for place in _ADDRESSES:
        if pick < place[-1]:
            chosen = place
            break
        pick -= place[-1]
    country, city, state, postal_code, _ = chosen
    return {
        "city": city,
        "country": country,
        "line1": f"{1 + (draw // 7) % 400} Market Street",
        "line2": None,
        "postal_code": postal_code,
        "state": state,
    }


def customer(
    *,
    id: str,
    created: int,
    livemode: bool,
    email: str,
    name: str,
    description: str | None,
    invoice_prefix: str,
    payment_method: str | None,
    phone: str | None = None,
    test_clock: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    return {
        "id": id,
        "object": "customer",
        "address": customer_address(id),
        "balance": 0,
        "business_name": None,
        "created": created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "individual_name": None,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": livemode,
        "metadata": metadata or {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": test_clock,
    }


def test_clock(*, id: str, created: int, name: str, frozen_time: int) -> Obj:
    return {
        "id": id,
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + 30 * 86400,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {},
    }


def card(rng: random.Random) -> Obj:
    """A customer's card as a charge's ``payment_method_details`` shows it (shared per card)."""
    brand = rng.choices(("visa", "mastercard", "amex"), weights=(60, 30, 10))[0]
    year = 2026 + rng.randrange(0, 5)
    return {
        "card": {
            "amount_authorized": None,
            "authorization_code": None,
            "brand": brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": "pass",
                "cvc_check": "pass",
            },
            "country": rng.choice(("US", "US", "GB", "DE", "FR", "JP")),
            "exp_month": rng.randrange(1, 13),
            "exp_year": year,
            "fingerprint": "".join(rng.choices(_ALPHABET, k=16)),
            "funding": rng.choice(("credit", "credit", "debit")),
            "installments": None,
            "last4": f"{rng.randrange(10000):04d}",
            "mandate": None,
            "network": brand,
            "network_transaction_id": None,
            "regulated_status": "unregulated",
            "three_d_secure": None,
            "transaction_link_id": None,
            "wallet": None,
        },
        "type": "card",
    }


class Rng(random.Random):
    """``random.Random`` that also hands out id characters from a pre-drawn pool.

    Drawing random bytes in large chunks makes ids several times cheaper to make, which counts
    when an account has hundreds of thousands of objects. Deterministic like its parent.
    """

    _pool = b""
    _pos = 0

    def token(self, length: int) -> str:
        if self._pos + length > len(self._pool):
            self._pool = base64.b64encode(self.randbytes(3072)).translate(_B64_TO_ALNUM)
            self._pos = 0
        start = self._pos
        self._pos = start + length
        return self._pool[start : start + length].decode()
