"""Shapes of the billing objects: subscriptions and their items, invoices and their lines,
invoice payments and credit notes (API version ``2026-10-28.endive``; see ``shapes``)."""

from __future__ import annotations

from flitch.emulator.shapes import (
    ACCOUNT_COUNTRY,
    ACCOUNT_NAME,
    NO_TAX,
    SELF,
    Obj,
    list_object,
)

_SUB_TAX: Obj = {"disabled_reason": None, "enabled": False, "liability": None}
_INVOICE_PAYMENT_SETTINGS: Obj = {
    "default_mandate": None,
    "payment_method_options": None,
    "payment_method_types": None,
}
_SUB_PAYMENT_SETTINGS: Obj = {
    "payment_method_options": None,
    "payment_method_types": None,
    "save_default_payment_method": "off",
}
_SUB_INVOICE_SETTINGS: Obj = {
    "account_tax_ids": None,
    "custom_fields": None,
    "description": None,
    "footer": None,
    "issuer": SELF,
}
_INVOICE_TAX: Obj = NO_TAX | {"status": None}
_CLASSIC: Obj = {"flexible": None, "type": "classic", "updated_at": None}


# -- subscriptions -------------------------------------------------------------------------------
def subscription_item(
    *,
    id: str,
    created: int,
    price_obj: Obj,
    plan_obj: Obj,
    quantity: int | None,
    subscription: str,
    period_start: int,
    period_end: int,
) -> Obj:
    """An item: the full price (without tiers), its quantity and, since basil, its period."""
    return {
        "id": id,
        "object": "subscription_item",
        "billed_until": None,
        "billing_thresholds": None,
        "created": created,
        "current_period_end": period_end,
        "current_period_start": period_start,
        "current_trial": None,
        "discounts": [],
        "metadata": {},
        "plan": plan_obj,
        "price": price_obj,
        "quantity": quantity,
        "subscription": subscription,
        "tax_rates": [],
    }


def subscription(
    *,
    id: str,
    created: int,
    livemode: bool,
    customer: str,
    currency: str,
    items: list[Obj],
    status: str,
    payment_method: str | None,
    trial_start: int | None = None,
    trial_end: int | None = None,
    discounts: list[str] | None = None,
    test_clock: str | None = None,
    trial_end_behavior: str = "create_invoice",
) -> Obj:
    return {
        "id": id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": _SUB_TAX,
        "billing_cycle_anchor": trial_end or created,
        "billing_cycle_anchor_config": None,
        "billing_mode": _CLASSIC,
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": discounts or [],
        "ended_at": None,
        "invoice_settings": _SUB_INVOICE_SETTINGS,
        "items": list_object(items, f"/v1/subscription_items?subscription={id}"),
        "latest_invoice": None,
        "livemode": livemode,
        "managed_payments": None,
        "metadata": {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": _SUB_PAYMENT_SETTINGS,
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "presentment_details": None,
        "schedule": None,
        "start_date": created,
        "status": status,
        "status_details": None,
        "test_clock": test_clock,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": trial_end_behavior}},
        "trial_start": trial_start,
    }


# -- invoices ------------------------------------------------------------------------------------
def line_item(
    *,
    id: str,
    livemode: bool,
    invoice: str,
    amount: int,
    currency: str,
    description: str,
    quantity: int | None,
    period_start: int,
    period_end: int,
    price_id: str | None,
    product_id: str | None,
    unit_amount: int | None,
    subscription: str | None,
    subscription_item: str | None,
    invoice_item: str | None = None,
    proration: bool = False,
) -> Obj:
    """One invoice line: billed by a subscription item, or a one-off invoice item."""
    if subscription_item is not None:
        parent: Obj = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    pricing = None
    if price_id is not None:
        pricing = {
            "price_details": {"price": price_id, "product": product_id},
            "type": "price_details",
            "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
        }
    return {
        "id": id,
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": not proration,
        "discounts": [],
        "invoice": invoice,
        "livemode": livemode,
        "metadata": {},
        "parent": parent,
        "period": {"end": period_end, "start": period_start},
        "pretax_credit_amounts": [],
        "pricing": pricing,
        "quantity": quantity,
        "quantity_decimal": None if quantity is None else str(quantity),
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }


def invoice(
    *,
    id: str,
    created: int,
    livemode: bool,
    customer: Obj,
    currency: str,
    lines: list[Obj],
    billing_reason: str,
    collection_method: str,
    period_start: int,
    period_end: int,
    subscription: str | None,
    discount_ids: list[str],
    discount_amounts: list[Obj],
    description: str | None = None,
) -> Obj:
    """A draft invoice; ``operations`` finalizes, pays, voids it. Amounts from its lines."""
    subtotal = sum(line["amount"] for line in lines)
    discounted = sum(d["amount"] for d in discount_amounts)
    total = subtotal - discounted
    parent: Obj | None = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": {},
                "subscription": subscription,
                "subscription_proration_date": None,
            },
            "type": "subscription_details",
        }
    return {
        "id": id,
        "object": "invoice",
        "account_country": ACCOUNT_COUNTRY,
        "account_name": ACCOUNT_NAME,
        "account_tax_ids": None,
        "amount_due": max(total, 0),
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": max(total, 0),
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": _INVOICE_TAX,
        "automatically_finalizes_at": created + 3600,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": discount_ids,
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": SELF,
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object(lines, f"/v1/invoices/{id}/lines"),
        "livemode": livemode,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": _INVOICE_PAYMENT_SETTINGS,
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_details": None,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "test_clock": customer["test_clock"],
        "threshold_reason": None,
        "total": total,
        "total_discount_amounts": discount_amounts,
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def invoice_payment(*, id: str, created: int, invoice: Obj, payment_intent: str) -> Obj:
    """How an invoice is (being) paid (``payments`` when expanded; ``/v1/invoice_payments``)."""
    return {
        "id": id,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_due"],
        "created": created,
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": invoice["livemode"],
        "payment": {"payment_intent": payment_intent, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def credit_note(
    *,
    id: str,
    created: int,
    invoice: Obj,
    number: str,
    lines: list[Obj],
    reason: str,
    refund_id: str | None,
    customer_balance_transaction: str | None,
    memo: str | None = None,
) -> Obj:
    """A credit note: before payment it lowers what is due; after, it refunds or credits."""
    amount = sum(line["amount"] for line in lines)
    post = invoice["status"] == "paid"
    return {
        "id": id,
        "object": "credit_note",
        "amount": amount,
        "amount_shipping": 0,
        "created": created,
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "customer_account": None,
        "customer_balance_transaction": customer_balance_transaction,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": created,
        "invoice": invoice["id"],
        "lines": list_object(lines, f"/v1/credit_notes/{id}/lines"),
        "livemode": invoice["livemode"],
        "memo": memo,
        "metadata": {},
        "number": number,
        "out_of_band_amount": None,
        "pdf": f"https://pay.stripe.com/credit_notes/{id[3:]}/pdf",
        "post_payment_amount": amount if post else 0,
        "pre_payment_amount": 0 if post else amount,
        "pretax_credit_amounts": [],
        "reason": reason,
        "refunds": []
        if refund_id is None
        else [
            {
                "amount_refunded": amount,
                "payment_record_refund": None,
                "refund": refund_id,
                "type": "refund",
            }
        ],
        "shipping_cost": None,
        "status": "issued",
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "total": amount,
        "total_excluding_tax": amount,
        "total_taxes": [],
        "type": "post_payment" if post else "pre_payment",
        "voided_at": None,
    }


def credit_note_line(*, id: str, livemode: bool, invoice_line: Obj, amount: int) -> Obj:
    return {
        "id": id,
        "object": "credit_note_line_item",
        "amount": amount,
        "description": invoice_line["description"],
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice_line_item": invoice_line["id"],
        "livemode": livemode,
        "metadata": {},
        "pretax_credit_amounts": [],
        "quantity": 1,
        "tax_rates": [],
        "taxes": [],
        "type": "invoice_line_item",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }
