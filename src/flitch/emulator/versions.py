"""Objects as an older API version rendered them, for events created under that version.

Stripe renders an event's ``data.object`` in the account's API version *when the event was
created*; an account that upgraded recently still serves its older events in the old shape. A
consumer pinned to ``2026-10-28.endive`` must not trust those snapshots (it should re-read the
object). Here: ``2024-06-20``, before "basil" (2025-03-31) moved the fields naive connectors read.
"""

from __future__ import annotations

from collections.abc import Callable

from flitch.emulator.shapes import Obj

OLD_API_VERSION = "2024-06-20"

#: Given an invoice id: its payment intent's id and latest charge's id (``None`` if unpaid).
Payments = Callable[[str], tuple[str | None, str | None]]


def render_old(obj: Obj, payments: Payments) -> Obj:
    """``obj`` (a fresh copy, changed in place) in the ``2024-06-20`` shape."""
    kind = obj.get("object")
    if kind == "invoice":
        return _invoice(obj, payments)
    if kind == "subscription":
        return _subscription(obj)
    if kind in ("charge", "payment_intent"):
        obj["invoice"] = None
    return obj


def _invoice(inv: Obj, payments: Payments) -> Obj:
    parent = inv.pop("parent", None) or {}
    details = parent.get("subscription_details") or {}
    pi, charge = payments(inv["id"])
    for key in ("total_pretax_credit_amounts", "total_taxes", "amount_overpaid", "issuer"):
        inv.pop(key, None)
    inv.update(
        subscription=details.get("subscription"),
        subscription_details={"metadata": details.get("metadata") or {}},
        subscription_proration_date=None,
        paid=inv["status"] == "paid",
        paid_out_of_band=False,
        charge=charge,
        payment_intent=pi,
        discount=None,
        quote=None,
        tax=None,
        total_tax_amounts=[],
    )
    for line in inv["lines"]["data"]:
        lparent = line.pop("parent", None) or {}
        sub_item = lparent.get("subscription_item_details")
        ii_item = lparent.get("invoice_item_details")
        pricing = line.pop("pricing", None) or {}
        price_details = pricing.get("price_details") or {}
        for key in ("taxes", "pretax_credit_amounts", "subtotal", "quantity_decimal"):
            line.pop(key, None)
        info = sub_item or ii_item or {}
        line.update(
            type="subscription" if sub_item and not info.get("invoice_item") else "invoiceitem",
            price=price_details.get("price"),
            plan=None,
            proration=bool(info.get("proration")),
            subscription=info.get("subscription"),
            subscription_item=(sub_item or {}).get("subscription_item"),
            invoice_item=info.get("invoice_item"),
            amount_excluding_tax=line["amount"],
            unit_amount_excluding_tax=pricing.get("unit_amount_decimal"),
            tax_amounts=[],
            tax_rates=[],
        )
    return inv


def _subscription(sub: Obj) -> Obj:
    items = sub["items"]["data"]
    first = items[0] if items else {}
    start, end = first.get("current_period_start"), first.get("current_period_end")
    for key in ("billing_mode", "billing_schedules", "status_details"):
        sub.pop(key, None)
    for item in items:
        item.pop("current_period_start", None)
        item.pop("current_period_end", None)
    sub.update(
        current_period_start=start,
        current_period_end=end,
        discount=None,
        plan=first.get("plan") if len(items) == 1 else None,
        quantity=first.get("quantity") if len(items) == 1 else None,
    )
    return sub
