"""Change kinds about invoices, credit notes, payments, disputes and payouts (see ``changes``),
what time alone changes (``pass_time``), and the helpers the subscription kinds
(``changes_subscriptions``) share."""

from __future__ import annotations

from flitch.emulator import billing, ledger, operations
from flitch.emulator.changes import Context
from flitch.emulator.lifecycle import FAILURE_CODES
from flitch.emulator.operations import DAY, DISPUTE_REASONS
from flitch.emulator.shapes import Obj

HOUR = 3600
OPEN_SUBSCRIPTION = ("active", "trialing", "past_due", "unpaid", "paused")
#: Payment intents that can still change (succeeded and canceled ones are final).
OPEN_PAYMENT = ("requires_payment_method", "requires_confirmation", "requires_action")
#: How long after its creation a shop changes a payment intent (a Checkout session expires
#: within 24 hours; a cart is edited while its customer is still paying).
EDIT_WINDOW = DAY


def on_clock(obj: Obj) -> bool:
    return bool(obj.get("test_clock"))


def stored_price(cx: Context, item: Obj) -> Obj:
    return cx.store.get(item["price"]["id"]) or item["price"]


def product_name(cx: Context, price: Obj) -> str:
    product = cx.get(price["product"])
    return str(product["name"]) if product else "Subscription"


def every_text(price: Obj) -> str:
    recurring = price["recurring"] or {}
    count = recurring.get("interval_count", 1)
    interval = recurring.get("interval", "month")
    return interval if count == 1 else f"{count} {interval}s"


def payment_of(cx: Context, inv: Obj) -> tuple[Obj | None, Obj | None]:
    """An invoice's payment intent and the link between them (the newest, if several)."""
    for link in cx.store.ordered("invoice_payment").objects:
        if link["invoice"] == inv["id"]:
            return cx.get(link["payment"]["payment_intent"]), link
    return None, None


def customer_of(cx: Context, customer_id: str) -> Obj | None:
    return cx.get(customer_id)


def set_delinquent(cx: Context, customer: Obj, value: bool) -> Obj:
    if customer["delinquent"] == value:
        return customer
    customer = cx.sink.edit(customer)
    customer["delinquent"] = value
    cx.sink.save(customer)
    cx.sink.emit("customer.updated", customer, cx.now, {"delinquent": not value}, auto=True)
    return customer


def finalize_and_collect(
    cx: Context, inv: Obj, customer: Obj, sub: Obj | None, *, fail: bool
) -> Obj:
    """Finalize an invoice and charge it once; a decline makes the subscription past due."""
    sink, now = cx.sink, cx.now
    inv, customer = billing.finalize_invoice(sink, inv, now, customer)
    if inv["status"] == "paid":
        return inv
    pi, link = billing.open_payment(sink, inv, now, customer)
    code = cx.rng.choice(FAILURE_CODES) if fail else None
    retry = now + 3 * DAY if fail else None
    inv, pi, link, _charge = billing.collect(
        sink, inv, pi, link, now, customer, failure_code=code, retry_at=retry
    )
    if code is not None:
        set_delinquent(cx, customer, True)
        if sub is not None and sub["status"] == "active":
            billing.update_subscription(sink, sub, now, {"status": "past_due"}, auto=True)
    return inv


# -- payments ------------------------------------------------------------------------------------
def _one_off(cx: Context, *, fail: bool) -> None:
    rng, sink, now = cx.rng, cx.sink, cx.now
    customer = None
    if rng.random() < 0.9:
        customer = cx.find("customer", lambda c: not on_clock(c), recent=True)
    currency = (customer or {}).get("currency") or "usd"
    amount = rng.choice((1900, 4900, 9900, 25000))
    if currency == "jpy":
        amount = amount * 3 // 2 // 100 * 100
    pi = operations.start_payment(
        sink,
        now,
        amount=amount,
        currency=currency,
        customer=customer,
        description="Onboarding Session",
        off_session=False,
    )
    guest = None if customer else ("guest@example.com", "Guest Buyer")
    code = rng.choice(FAILURE_CODES) if fail else None
    operations.attempt_payment(sink, pi, now, customer=customer, failure_code=code, guest=guest)


def new_charge(cx: Context) -> None:
    _one_off(cx, fail=False)


def failed_charge(cx: Context) -> None:
    _one_off(cx, fail=True)


def _refundable(ch: Obj) -> bool:
    return bool(ch["status"] == "succeeded" and not ch["disputed"] and not ch["refunded"])


def refund(cx: Context) -> None:
    charge = cx.find("charge", _refundable, recent=True)
    if charge is not None:
        left = charge["amount"] - charge["amount_refunded"]
        operations.refund_charge(cx.sink, charge, cx.now, left, "requested_by_customer")


def partial_refund(cx: Context) -> None:
    charge = cx.find("charge", lambda c: _refundable(c) and c["amount"] > 1, recent=True)
    if charge is not None:
        left = charge["amount"] - charge["amount_refunded"]
        amount = max(1, left // cx.rng.choice((2, 3, 4)))
        operations.refund_charge(cx.sink, charge, cx.now, amount, "requested_by_customer")


def dispute(cx: Context) -> None:
    charge = cx.find("charge", lambda c: _refundable(c) and c["amount_refunded"] == 0, recent=True)
    if charge is not None:
        operations.open_dispute(
            cx.sink, charge, cx.now, cx.rng.choice(DISPUTE_REASONS), inquiry=cx.rng.random() < 0.15
        )


def close_dispute(cx: Context) -> None:
    """Evidence goes in for a new dispute; a dispute under review is decided."""
    disputed = cx.find(
        "dispute", lambda d: "needs_response" in d["status"] or "review" in d["status"]
    )
    if disputed is None:
        return
    if disputed["status"].endswith("needs_response"):
        operations.review_dispute(cx.sink, disputed, cx.now)
    else:
        operations.close_dispute(cx.sink, disputed, cx.now, won=cx.rng.random() < 0.4)


def _invoiced(cx: Context) -> set[str]:
    """Payment intents that collect an invoice (Stripe refuses to update those directly)."""
    return {
        link["payment"]["payment_intent"] for link in cx.store.ordered("invoice_payment").objects
    }


def update_payment_intent(cx: Context) -> None:
    """The shop changes a payment intent still being paid: the cart's amount, what it is for,
    its metadata. Stripe has no ``payment_intent.updated`` event: nothing is announced."""
    rng, now = cx.rng, cx.now
    invoiced = _invoiced(cx)

    def editable(pi: Obj) -> bool:
        return bool(
            pi["status"] in OPEN_PAYMENT
            and pi["created"] >= now - EDIT_WINDOW
            and pi["id"] not in invoiced
        )

    pi = cx.find("payment_intent", editable, recent=True)
    if pi is None:
        return
    pi = cx.sink.edit(pi)
    edit = rng.choice(("amount", "description", "metadata"))
    if edit == "amount":
        pi["amount"] += rng.choice((500, 1000, 2500)) * (1 if pi["currency"] != "jpy" else 10)
    elif edit == "description":
        pi["description"] = f"{pi['description'] or 'Order'} (changed)"
    else:
        pi["metadata"] = {**pi["metadata"], "order_id": f"ord_{rng.randrange(10**6):06d}"}
    cx.sink.save(pi)


def pass_time(cx: Context) -> None:
    """What time alone changes, with no event (Stripe announces neither): pending balance
    transactions whose ``available_on`` has come become available, and coupons past their
    ``redeem_by`` stop being valid."""
    sink, now = cx.sink, cx.now
    for txn in cx.every(
        "balance_transaction", lambda t: t["status"] == "pending" and t["available_on"] <= now
    ):
        txn = sink.edit(txn)
        txn["status"] = "available"
        sink.save(txn)
    for coupon in cx.every(
        "coupon", lambda c: c["valid"] and c["redeem_by"] is not None and c["redeem_by"] <= now
    ):
        coupon = sink.edit(coupon)
        coupon["valid"] = False
        sink.save(coupon)


# -- invoices ------------------------------------------------------------------------------------
def _open(inv: Obj) -> bool:
    return bool(inv["status"] == "open" and inv["amount_remaining"] > 0)


def finalize_draft(cx: Context) -> None:
    inv = cx.find("invoice", lambda i: i["status"] == "draft")
    customer = None if inv is None else customer_of(cx, inv["customer"])
    if inv is None or customer is None:
        return
    if inv["collection_method"] == "charge_automatically":
        sub_id = (inv["parent"] or {}).get("subscription_details", {}).get("subscription")
        finalize_and_collect(cx, inv, customer, cx.get(sub_id), fail=cx.rng.random() < 0.1)
        return
    inv, customer = billing.finalize_invoice(cx.sink, inv, cx.now, customer)
    if inv["status"] == "open":
        billing.open_payment(cx.sink, inv, cx.now, customer)


def pay_invoice(cx: Context) -> None:
    """The customer pays an open invoice; a past-due subscription becomes active again."""
    sink, now = cx.sink, cx.now
    inv = cx.find("invoice", _open)
    customer = None if inv is None else customer_of(cx, inv["customer"])
    if inv is None or customer is None:
        return
    pi, link = payment_of(cx, inv)
    if pi is None or link is None or pi["status"] == "canceled":
        pi, link = billing.open_payment(sink, inv, now, customer)
    inv, pi, link, _charge = billing.collect(sink, inv, pi, link, now, customer)
    set_delinquent(cx, customer, False)
    sub = cx.get(((inv["parent"] or {}).get("subscription_details") or {}).get("subscription"))
    if sub is not None and sub["status"] in ("past_due", "unpaid"):
        billing.update_subscription(sink, sub, now, {"status": "active"}, auto=True)


def void_open_invoice(cx: Context) -> None:
    inv = cx.find("invoice", _open)
    if inv is not None:
        pi, link = payment_of(cx, inv)
        billing.void_invoice(cx.sink, inv, cx.now, pi, link)


def write_off_invoice(cx: Context) -> None:
    inv = cx.find("invoice", _open)
    if inv is not None:
        billing.mark_uncollectible(cx.sink, inv, cx.now)


def credit_note(cx: Context) -> None:
    """Credit an open invoice (less is due) or a paid one (its charge is refunded)."""
    sink, now = cx.sink, cx.now
    if cx.rng.random() < 0.5:
        inv = cx.find("invoice", lambda i: _open(i) and i["amount_remaining"] > 1)
        if inv is None:
            return
        pi, link = payment_of(cx, inv)
        amount, charge = inv["amount_remaining"] // 4 or 1, None
    else:
        inv = cx.find("invoice", lambda i: i["status"] == "paid" and i["amount_paid"] > 0)
        if inv is None:
            return
        pi, link = payment_of(cx, inv)
        charge = cx.get((pi or {}).get("latest_charge"))
        if charge is None or not _refundable(charge):
            return
        amount = max(1, (charge["amount"] - charge["amount_refunded"]) // 2)
    customer = customer_of(cx, inv["customer"]) or cx.store.tombstones.get(inv["customer"])
    if customer is None:
        return
    sequence = 1 + sum(
        1 for n in cx.store.ordered("credit_note").objects if n["invoice"] == inv["id"]
    )
    billing.issue_credit_note(
        sink,
        inv,
        now,
        amount=amount,
        reason="order_change",
        sequence=sequence,
        customer=customer,
        charge=charge,
        pi=pi,
        link=link,
    )


def void_credit(cx: Context) -> None:
    def voidable(n: Obj) -> bool:
        inv = cx.get(n["invoice"])
        return bool(n["status"] == "issued" and n["type"] == "pre_payment" and inv and _open(inv))

    note = cx.find("credit_note", voidable)
    if note is None:
        return
    inv = cx.get(note["invoice"])
    if inv is not None:
        pi, link = payment_of(cx, inv)
        billing.void_credit_note(cx.sink, note, inv, cx.now, pi, link)


# -- payouts -------------------------------------------------------------------------------------
def payout(cx: Context) -> None:
    """Pay out each currency's available balance; payouts on their way move on."""
    sink, now, store = cx.sink, cx.now, cx.store
    for moving in cx.every("payout", lambda p: p["status"] in ("pending", "in_transit")):
        if moving["arrival_date"] <= now:
            operations.settle_payout(sink, moving, now)
        elif moving["status"] == "pending" and moving["created"] + HOUR <= now:
            changed = sink.edit(moving)
            changed["status"] = "in_transit"
            sink.save(changed)
            sink.emit("payout.updated", changed, now, {"status": "pending"}, auto=True)
    balances = ledger.unpaid_balances(
        store.ordered("balance_transaction").objects, store.paid_out_by, now
    )
    for currency, (amount, ids) in sorted(balances.items()):
        if amount <= 0:
            continue
        made, _txn = operations.pay_out(
            sink,
            now,
            currency=currency,
            amount=amount,
            destination=ledger.destination(currency, store.livemode),
        )
        for txn_id in ids:
            store.paid_out_by[txn_id] = made["id"]
