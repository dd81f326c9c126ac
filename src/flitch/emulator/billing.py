"""Stripe Billing's actions: invoices (draft → open → paid / void / uncollectible), their
payments, subscriptions' status changes and credit notes. See ``operations`` for the ``Sink``."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from flitch.emulator import shapes_billing as bill
from flitch.emulator.operations import (
    DAY,
    Sink,
    attempt_payment,
    cancel_payment,
    change,
    refund_charge,
    start_payment,
)
from flitch.emulator.shapes import Obj, new_id

PAYMENT_DESCRIPTIONS = {
    "subscription_create": "Subscription creation",
    "subscription_cycle": "Subscription update",
    "subscription_update": "Subscription update",
}


def period_boundary(anchor: int, interval: str, count: int, n: int) -> int:
    """The ``n``-th billing boundary after ``anchor`` (month ends clamp, as Stripe does)."""
    steps = n * count
    if interval == "day":
        return anchor + steps * DAY
    if interval == "week":
        return anchor + steps * 7 * DAY
    months = steps * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return int(start.replace(year=year, month=month0 + 1, day=day).timestamp())


def price_amount(price: Obj, quantity: int) -> int:
    """What ``quantity`` units of a price cost, tiers included (the stored price, with tiers)."""
    tiers = price.get("tiers")
    if price["billing_scheme"] != "tiered" or not tiers:
        return int(price["unit_amount"] or 0) * quantity
    if price["tiers_mode"] == "volume":
        for tier in tiers:
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                return int(quantity * tier["unit_amount"] + (tier["flat_amount"] or 0))
    total, lower = 0, 0
    for tier in tiers:
        upper = tier["up_to"]
        count = (quantity if upper is None else min(quantity, upper)) - lower
        if count <= 0:
            break
        total += count * tier["unit_amount"] + (tier["flat_amount"] or 0)
        if upper is None:
            break
        lower = upper
    return total


def discount_off(coupon: Obj, base: int, currency: str) -> int:
    """How much a coupon takes off ``base`` (an amount-off coupon only in its own currency)."""
    if base <= 0:
        return 0
    if coupon["percent_off"] is not None:
        return min(base, round(base * float(coupon["percent_off"]) / 100))
    if coupon["currency"] == currency:
        return min(base, int(coupon["amount_off"] or 0))
    return 0


# -- invoices ------------------------------------------------------------------------------------
def subscription_line(
    sink: Sink,
    *,
    invoice_id: str,
    subscription_id: str,
    item: Obj,
    amount: int,
    quantity: int | None,
    period: tuple[int, int],
    description: str,
    proration: bool = False,
) -> Obj:
    """An invoice line billed by a subscription item (a proration comes from an invoice item)."""
    price = item["price"]
    return bill.line_item(
        id=new_id(sink.rng, "il_"),
        livemode=sink.livemode,
        invoice=invoice_id,
        amount=amount,
        currency=price["currency"],
        description=description,
        quantity=quantity,
        period_start=period[0],
        period_end=period[1],
        price_id=price["id"],
        product_id=price["product"],
        unit_amount=price["unit_amount"],
        subscription=subscription_id,
        subscription_item=item["id"],
        invoice_item=new_id(sink.rng, "ii_") if proration else None,
        proration=proration,
    )


def draft_invoice(
    sink: Sink,
    t: int,
    *,
    invoice_id: str,
    customer: Obj,
    currency: str,
    lines: list[Obj],
    billing_reason: str,
    collection_method: str,
    period: tuple[int, int],
    subscription: str | None,
    discount: tuple[Obj, Obj] | None = None,
) -> Obj:
    """A draft invoice from its lines, with a (discount, coupon) applied if given."""
    discount_ids: list[str] = []
    totals: list[Obj] = []
    if discount is not None:
        disc, coupon = discount
        base_lines = [ln for ln in lines if ln["discountable"] and ln["amount"] > 0]
        off = discount_off(coupon, sum(ln["amount"] for ln in base_lines), currency)
        if off > 0:
            biggest = max(base_lines, key=lambda ln: ln["amount"])
            biggest["discount_amounts"] = [{"amount": off, "discount": disc["id"]}]
            biggest["discounts"] = [disc["id"]]
            discount_ids = [disc["id"]]
            totals = [{"amount": off, "discount": disc["id"]}]
    inv = bill.invoice(
        id=invoice_id,
        created=t,
        livemode=sink.livemode,
        customer=customer,
        currency=currency,
        lines=lines,
        billing_reason=billing_reason,
        collection_method=collection_method,
        period_start=period[0],
        period_end=period[1],
        subscription=subscription,
        discount_ids=discount_ids,
        discount_amounts=totals,
    )
    sink.add(inv)
    sink.emit("invoice.created", inv, t, auto=subscription is not None)
    return inv


def finalize_invoice(sink: Sink, inv: Obj, t: int, customer: Obj) -> tuple[Obj, Obj]:
    """Number it, apply the customer's balance, open it (or mark it paid if nothing is due)."""
    customer = sink.edit(customer)
    sequence = customer["next_invoice_sequence"]
    starting = customer["balance"]
    applied = inv["total"] + starting - inv["pre_payment_credit_notes_amount"]
    change(customer, {"next_invoice_sequence": sequence + 1, "balance": min(applied, 0)})
    sink.save(customer)
    inv = sink.edit(inv)
    due = max(applied, 0)
    slug = inv["id"][3:]
    values: Obj = {
        "status": "open",
        "number": f"{customer['invoice_prefix']}-{sequence:04d}",
        "starting_balance": starting,
        "ending_balance": min(applied, 0),
        "amount_due": due,
        "amount_remaining": due,
        "effective_at": t,
        "automatically_finalizes_at": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1FlitchEmulator0/{slug}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1FlitchEmulator0/{slug}/pdf",
        "status_transitions": {**inv["status_transitions"], "finalized_at": t},
    }
    if inv["collection_method"] == "send_invoice":
        values["due_date"] = t + 30 * DAY
    auto = inv["parent"] is not None
    previous = change(inv, values)
    sink.save(inv)
    sink.emit("invoice.finalized", inv, t, previous, auto=auto)
    if due == 0:
        inv = _mark_paid(sink, inv, t, auto=auto)
    return inv, customer


def _mark_paid(sink: Sink, inv: Obj, t: int, *, auto: bool) -> Obj:
    inv = sink.edit(inv)
    previous = change(
        inv,
        {
            "status": "paid",
            "amount_paid": inv["amount_due"],
            "amount_remaining": 0,
            "next_payment_attempt": None,
            "status_transitions": {**inv["status_transitions"], "paid_at": t},
        },
    )
    sink.save(inv)
    sink.emit("invoice.paid", inv, t, previous, auto=auto)
    sink.emit("invoice.payment_succeeded", inv, t, auto=auto)
    return inv


def open_payment(sink: Sink, inv: Obj, t: int, customer: Obj) -> tuple[Obj, Obj]:
    """The payment intent that collects an open invoice, and the link between them."""
    description = PAYMENT_DESCRIPTIONS.get(inv["billing_reason"], f"Invoice {inv['number']}")
    pi = start_payment(
        sink,
        t,
        amount=inv["amount_due"],
        currency=inv["currency"],
        customer=customer,
        description=description,
        off_session=inv["collection_method"] == "charge_automatically",
    )
    link = bill.invoice_payment(
        id=new_id(sink.rng, "inpay_"), created=t, invoice=inv, payment_intent=pi["id"]
    )
    sink.add(link)
    return pi, link


def collect(
    sink: Sink,
    inv: Obj,
    pi: Obj,
    link: Obj,
    t: int,
    customer: Obj,
    *,
    failure_code: str | None = None,
    retry_at: int | None = None,
) -> tuple[Obj, Obj, Obj, Obj]:
    """One attempt to collect an open invoice; returns (invoice, intent, link, charge)."""
    pi, ch = attempt_payment(sink, pi, t, customer=customer, failure_code=failure_code)
    auto = inv["collection_method"] == "charge_automatically"
    inv = sink.edit(inv)
    previous = change(inv, {"attempt_count": inv["attempt_count"] + 1, "attempted": True})
    if failure_code is not None:
        previous |= change(inv, {"next_payment_attempt": retry_at})
        sink.save(inv)
        sink.emit("invoice.payment_failed", inv, t, previous, auto=auto)
        return inv, pi, link, ch
    sink.save(inv)
    link = sink.edit(link)
    change(
        link,
        {
            "status": "paid",
            "amount_paid": inv["amount_due"],
            "status_transitions": {"canceled_at": None, "paid_at": t},
        },
    )
    sink.save(link)
    return _mark_paid(sink, inv, t, auto=auto), pi, link, ch


def void_invoice(
    sink: Sink, inv: Obj, t: int, pi: Obj | None = None, link: Obj | None = None
) -> Obj:
    """Void an open invoice; its payment intent is canceled."""
    if pi is not None and pi["status"] not in ("succeeded", "canceled"):
        cancel_payment(sink, pi, t, "void_invoice")
    if link is not None:
        link = sink.edit(link)
        change(
            link, {"status": "canceled", "status_transitions": {"canceled_at": t, "paid_at": None}}
        )
        sink.save(link)
    inv = sink.edit(inv)
    previous = change(
        inv,
        {
            "status": "void",
            "next_payment_attempt": None,
            "status_transitions": {**inv["status_transitions"], "voided_at": t},
        },
    )
    sink.save(inv)
    sink.emit("invoice.voided", inv, t, previous)
    return inv


def mark_uncollectible(sink: Sink, inv: Obj, t: int) -> Obj:
    inv = sink.edit(inv)
    previous = change(
        inv,
        {
            "status": "uncollectible",
            "next_payment_attempt": None,
            "status_transitions": {**inv["status_transitions"], "marked_uncollectible_at": t},
        },
    )
    sink.save(inv)
    sink.emit("invoice.marked_uncollectible", inv, t, previous, auto=True)
    return inv


# -- subscriptions -------------------------------------------------------------------------------
def update_subscription(
    sink: Sink,
    sub: Obj,
    t: int,
    values: Obj,
    *,
    event: str = "customer.subscription.updated",
    auto: bool = False,
) -> Obj:
    sub = sink.edit(sub)
    previous = change(sub, values)
    sink.save(sub)
    if previous or event != "customer.subscription.updated":
        sink.emit(event, sub, t, previous or None, auto=auto)
    return sub


def cancel_subscription(
    sink: Sink, sub: Obj, t: int, *, reason: str, feedback: str | None = None, auto: bool = False
) -> Obj:
    """End a subscription now (``customer.subscription.deleted``)."""
    sub = sink.edit(sub)
    change(
        sub,
        {
            "status": "canceled",
            "canceled_at": sub["canceled_at"] or t,
            "ended_at": t,
            "cancellation_details": {"comment": None, "feedback": feedback, "reason": reason},
        },
    )
    sink.save(sub)
    sink.emit("customer.subscription.deleted", sub, t, auto=auto)
    return sub


def rolled_items(sub: Obj, start: int, end: int) -> Obj:
    """The subscription's items list with every item moved to the period [start, end)."""
    items = [
        {**item, "current_period_start": start, "current_period_end": end}
        for item in sub["items"]["data"]
    ]
    return {**sub["items"], "data": items}


# -- credit notes --------------------------------------------------------------------------------
def issue_credit_note(
    sink: Sink,
    inv: Obj,
    t: int,
    *,
    amount: int,
    reason: str,
    sequence: int,
    customer: Obj,
    charge: Obj | None = None,
    pi: Obj | None = None,
    link: Obj | None = None,
) -> tuple[Obj, Obj]:
    """Credit part of an invoice. Open: lowers what is due. Paid: refunds the charge if there
    is one, else credits the customer's balance. Returns (credit note, invoice)."""
    refund_id = None
    balance_txn = None
    if inv["status"] == "paid":
        if charge is not None:
            refund_id = refund_charge(sink, charge, t, amount, "requested_by_customer")[1]["id"]
        else:
            customer = sink.edit(customer)
            previous = change(customer, {"balance": customer["balance"] - amount})
            sink.save(customer)
            sink.emit("customer.updated", customer, t, previous)
            balance_txn = new_id(sink.rng, "cbtxn_")
    first = inv["lines"]["data"][0]
    lines = [
        bill.credit_note_line(
            id=new_id(sink.rng, "cnli_"), livemode=sink.livemode, invoice_line=first, amount=amount
        )
    ]
    note = bill.credit_note(
        id=new_id(sink.rng, "cn_"),
        created=t,
        invoice=inv,
        number=f"{inv['number']}-CN-{sequence:02d}",
        lines=lines,
        reason=reason,
        refund_id=refund_id,
        customer_balance_transaction=balance_txn,
    )
    sink.add(note)
    sink.emit("credit_note.created", note, t)
    inv = _credit(sink, inv, t, note, +1, pi, link)
    return note, inv


def void_credit_note(
    sink: Sink, note: Obj, inv: Obj, t: int, pi: Obj | None = None, link: Obj | None = None
) -> tuple[Obj, Obj]:
    """Void a credit note issued before payment: the invoice is due in full again."""
    note = sink.edit(note)
    previous = change(note, {"status": "void", "voided_at": t})
    sink.save(note)
    sink.emit("credit_note.voided", note, t, previous)
    return note, _credit(sink, inv, t, note, -1, pi, link)


def _credit(
    sink: Sink, inv: Obj, t: int, note: Obj, sign: int, pi: Obj | None, link: Obj | None
) -> Obj:
    inv = sink.edit(inv)
    amount = sign * note["total"]
    if note["type"] == "post_payment":
        values: Obj = {
            "post_payment_credit_notes_amount": inv["post_payment_credit_notes_amount"] + amount
        }
    else:
        values = {
            "pre_payment_credit_notes_amount": inv["pre_payment_credit_notes_amount"] + amount,
            "amount_due": inv["amount_due"] - amount,
            "amount_remaining": inv["amount_remaining"] - amount,
        }
        if pi is not None:
            pi = sink.edit(pi)
            pi["amount"] = values["amount_due"]
            sink.save(pi)
        if link is not None:
            link = sink.edit(link)
            link["amount_requested"] = values["amount_due"]
            sink.save(link)
    previous = change(inv, values)
    sink.save(inv)
    sink.emit("invoice.updated", inv, t, previous)
    return inv
