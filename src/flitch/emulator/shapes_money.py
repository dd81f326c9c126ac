"""Shapes of the objects that move money: payment intents, charges, refunds, disputes,
balance transactions, payouts; and the event envelope (API version ``2026-10-28.endive``)."""

from __future__ import annotations

import random

from flitch.emulator.shapes import API_VERSION, Obj, new_id

_PI_OPTIONS: Obj = {
    "card": {
        "installments": None,
        "mandate_options": None,
        "network": None,
        "request_three_d_secure": "automatic",
    }
}
_AMOUNT_DETAILS: Obj = {"tip": {}}
_CHARGE_OK: Obj = {
    "advice_code": None,
    "network_advice_code": None,
    "network_decline_code": None,
    "network_status": "approved_by_network",
    "reason": None,
    "risk_level": "normal",
    "risk_score": 32,
    "seller_message": "Payment complete.",
    "type": "authorized",
}
_EVIDENCE_KEYS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
_EMPTY_EVIDENCE: Obj = {key: None for key in _EVIDENCE_KEYS} | {"enhanced_evidence": {}}
#: How a card payment can fail, by the name the generator draws: (the error ``code``, which is
#: also the charge's ``failure_code``; the issuer's ``decline_code``; the message; the
#: ``outcome.reason``). A decline is always ``card_declined``: the reason the bank gave
#: (``insufficient_funds``, ``do_not_honor``) is a decline code, never an error code.
FAILURES: dict[str, tuple[str, str | None, str, str]] = {
    "card_declined": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
        "insufficient_funds",
    ),
    "expired_card": ("expired_card", None, "Your card has expired.", "expired_card"),
    "incorrect_cvc": (
        "incorrect_cvc",
        None,
        "Your card's security code is incorrect.",
        "incorrect_cvc",
    ),
    "processing_error": (
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
        "processing_error",
    ),
    "do_not_honor": ("card_declined", "do_not_honor", "Your card was declined.", "do_not_honor"),
}


_NO_ADDRESS: Obj = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}
_DESTINATION: Obj = {
    "card": {
        "reference": None,
        "reference_status": "pending",
        "reference_type": "acquirer_reference_number",
        "type": "refund",
    },
    "type": "card",
}


def _fail_outcome(kind: str) -> Obj:
    code, decline, _message, reason = FAILURES[kind]
    return {
        "advice_code": "try_again_later" if decline == "insufficient_funds" else None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network",
        "reason": reason,
        "risk_level": "normal",
        "risk_score": 41,
        "seller_message": f"The bank returned the decline code `{decline or code}`.",
        "type": "issuer_declined",
    }


_FAIL_OUTCOMES: dict[str, Obj] = {kind: _fail_outcome(kind) for kind in FAILURES}


def payment_intent(
    *,
    rng: random.Random,
    id: str,
    created: int,
    livemode: bool,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None,
    payment_method: str | None,
    receipt_email: str | None,
    off_session: bool,
) -> Obj:
    """A payment intent as created, before it is confirmed (``operations`` moves it on)."""
    return {
        "id": id,
        "object": "payment_intent",
        "allowed_payment_method_types": None,
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": _AMOUNT_DETAILS,
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": new_id(rng, f"{id}_secret_", 25),
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "hooks": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": livemode,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_details": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": _PI_OPTIONS,
        "payment_method_types": ["card"],
        "payment_record": None,
        "presentment_details": None,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": "off_session" if off_session else None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_error(kind: str, charge: Obj, method_created: int) -> Obj:
    """A payment intent's ``last_payment_error`` after ``charge`` failed (``FAILURES[kind]``):
    the error, and the whole payment method that was declined."""
    code, decline, message, _reason = FAILURES[kind]
    return {
        "advice_code": None,
        "charge": charge["id"],
        "code": code,
        "decline_code": decline,
        "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
        "message": message,
        "network_advice_code": None,
        "network_decline_code": None,
        "param": None,
        "payment_method": payment_method(charge, method_created),
        "type": "card_error",
    }


def payment_method(charge: Obj, created: int) -> Obj:
    """The card a charge was made with, as a ``payment_method`` object (made at ``created``)."""
    card = (charge["payment_method_details"] or {})["card"]
    brand = card["brand"]
    return {
        "id": charge["payment_method"],
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": charge["billing_details"],
        "card": {
            "brand": brand,
            "checks": card["checks"],
            "country": card["country"],
            "display_brand": _DISPLAY_BRANDS.get(brand, brand),
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "generated_from": None,
            "last4": card["last4"],
            "networks": {"available": [card["network"]], "preferred": None},
            "regulated_status": card["regulated_status"],
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": charge["customer"],
        "customer_account": None,
        "livemode": charge["livemode"],
        "metadata": {},
        "type": "card",
    }


_DISPLAY_BRANDS = {"amex": "american_express"}


def charge(
    *,
    rng: random.Random,
    id: str,
    created: int,
    livemode: bool,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None,
    payment_intent: str | None,
    payment_method: str | None,
    method_details: Obj | None,
    email: str | None,
    name: str | None,
    balance_transaction: str | None,
    failure_code: str | None = None,
) -> Obj:
    """A card charge, succeeded (with its balance transaction) or failed (``failure_code``: how,
    a key of ``FAILURES``)."""
    ok = failure_code is None
    return {
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if ok else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "authorization_code": f"{rng.randrange(1000000):06d}" if ok else None,
        "balance_transaction": balance_transaction,
        "billing_details": {
            "address": _NO_ADDRESS,
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "FLITCH DEMO",
        "captured": ok,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if ok else FAILURES[failure_code or ""][0],
        "failure_message": None if ok else FAILURES[failure_code or ""][2],
        "fraud_details": {},
        "livemode": livemode,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": _CHARGE_OK if ok else _FAIL_OUTCOMES[failure_code or ""],
        "paid": ok,
        "payment_intent": payment_intent,
        "payment_method": payment_method,
        "payment_method_details": method_details,
        "presentment_details": None,
        "radar_options": {},
        "receipt_email": email,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{id[3:]}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if ok else "failed",
        "transfer": None,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    *,
    id: str,
    created: int,
    amount: int,
    charge: Obj,
    balance_transaction: str,
    reason: str | None,
) -> Obj:
    """A refund of a charge (Stripe's refund has no ``livemode``)."""
    return {
        "id": id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": None,
        "description": None,
        "destination_details": _DESTINATION,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "pending_reason": None,
        "presentment_details": None,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def dispute(
    *,
    id: str,
    created: int,
    charge: Obj,
    reason: str,
    status: str,
    balance_transactions: list[Obj],
    due_by: int,
) -> Obj:
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    inquiry = status.startswith("warning_")
    return {
        "id": id,
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": balance_transactions,
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": _EMPTY_EVIDENCE,
        "evidence_details": {
            "due_by": due_by,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "intended_submission_method": None,
        "is_charge_refundable": inquiry,
        "livemode": charge["livemode"],
        "metadata": {},
        "network_reason_code": "10.4" if reason == "fraudulent" else "13.1",
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": card.get("brand", "visa"),
                "case_type": "inquiry" if inquiry else "chargeback",
                "network": card.get("network", "visa"),
                "network_reason_code": "10.4" if reason == "fraudulent" else "13.1",
            },
            "type": "card",
        },
        "reason": reason,
        "status": status,
    }


def balance_transaction(
    *,
    id: str,
    created: int,
    amount: int,
    fee: int,
    currency: str,
    type: str,
    reporting_category: str,
    source: str,
    available_on: int,
    now: int,
    description: str | None,
    exchange_rate: float | None = None,
) -> Obj:
    """Money moving in or out of the balance: ``net`` is always ``amount - fee``;
    ``exchange_rate`` when it was converted from the charge's currency."""
    fee_details = []
    if fee:
        label = "Dispute fee" if reporting_category == "dispute" else "Stripe processing fees"
        fee_details = [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": label,
                "type": "stripe_fee",
            }
        ]
    return {
        "id": id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": exchange_rate,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": reporting_category,
        "source": source,
        "status": "available" if available_on <= now else "pending",
        "type": type,
    }


def payout(
    *,
    id: str,
    created: int,
    livemode: bool,
    amount: int,
    currency: str,
    arrival_date: int,
    balance_transaction: str,
    destination: str,
    status: str,
) -> Obj:
    return {
        "id": id,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": arrival_date,
        "automatic": True,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": livemode,
        "metadata": {},
        "method": "standard",
        "original_payout": None,
        "payout_method": None,
        "reconciliation_status": "completed" if status == "paid" else "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": status,
        "trace_id": {"status": "supported" if status == "paid" else "pending", "value": None},
        "type": "bank_account",
    }


def event(
    *,
    id: str,
    created: int,
    livemode: bool,
    type: str,
    obj: Obj,
    previous: Obj | None,
    request_id: str | None,
    api_version: str = API_VERSION,
    pending_webhooks: int = 0,
) -> Obj:
    """An event: ``data.object`` is a snapshot; updates carry ``data.previous_attributes``."""
    data: Obj = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": livemode,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": request_id and f"idem-{request_id[4:]}"},
        "type": type,
    }
