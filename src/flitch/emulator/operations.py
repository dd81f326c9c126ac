"""Stripe's actions on an account, shared by the generator and by ``changes``.

Each action does what Stripe does when it happens — creates the objects, updates the ones it
touches, keeps the books (a succeeded charge has a balance transaction with its fee, a refund a
negative one…) and emits the events Stripe would, with ``data.previous_attributes`` for
updates. Where the objects go is a ``Sink``: the generator collects them into lists for a bulk
load and mutates in place (its events copy their snapshot); the running server's sink copies
an object before changing it and ``put``s the copy, so cached JSON is never stale.

Payment-side actions are here; invoices, subscriptions and credit notes are in ``billing``.
"""

from __future__ import annotations

import functools
import random
from typing import Protocol

from flitch.emulator import settlement
from flitch.emulator import shapes_money as money
from flitch.emulator.shapes import Obj, card, new_id

DAY = 86400
#: Processing fee per currency: (basis points, fixed minor units) — about 2.9% + 30¢ in USD.
FEE_RATES: dict[str, tuple[int, int]] = {
    "usd": (290, 30),
    "eur": (250, 25),
    "gbp": (250, 20),
    "jpy": (360, 0),
}
#: What a chargeback costs, per currency, in minor units.
DISPUTE_FEES: dict[str, int] = {"usd": 1500, "eur": 2000, "gbp": 2000, "jpy": 2500}


class Sink(Protocol):
    """Where actions put new objects, how they change existing ones, and where events go."""

    rng: random.Random
    livemode: bool
    #: Balance transactions and payouts judge "available" / "paid" against this time.
    now: int

    def add(self, obj: Obj) -> None: ...

    def edit(self, obj: Obj) -> Obj:
        """The object to change (the same one, or a copy that ``save`` will store)."""
        ...

    def save(self, obj: Obj) -> None: ...

    def emit(
        self, type_: str, obj: Obj, t: int, previous: Obj | None = None, *, auto: bool = False
    ) -> None:
        """Record an event (``auto``: Stripe's own doing, so the event has no request id)."""
        ...


def processing_fee(amount: int, currency: str) -> int:
    bp, fixed = FEE_RATES.get(currency, (290, 30))
    return (amount * bp + 5000) // 10000 + fixed


def available_on(t: int) -> int:
    """Funds become available at midnight UTC, at least two days after the charge."""
    return (t // DAY + 3) * DAY


@functools.lru_cache(maxsize=4096)
def payment_method_of(customer_id: str) -> tuple[str, Obj]:
    """A customer's card: the same every time it is asked for (seeded by the customer's id).

    The details dict is shared by every charge on the card: never change it in place.
    """
    rng = random.Random(customer_id)
    return new_id(rng, "pm_"), card(rng)


def change(obj: Obj, values: Obj) -> Obj:
    """Set ``values`` on ``obj`` and return what they were (for ``previous_attributes``)."""
    get = obj.get
    previous = {
        key: get(key) for key, new in values.items() if get(key) is not new and get(key) != new
    }
    obj.update(values)
    return previous


def txn(
    sink: Sink,
    *,
    t: int,
    amount: int,
    fee: int | None,
    currency: str,
    type_: str,
    category: str,
    source: str,
    description: str | None,
    available: int | None = None,
) -> Obj:
    """A balance transaction; in a currency the account has no balance in, converted into
    the one it settles in (``settlement``), its fee too. ``fee=None``: the processing fee,
    charged on the settled amount in the settled currency."""
    currency, amount, exchange_rate = settlement.settle(sink.livemode, currency, t, amount)
    if fee is None:
        fee = processing_fee(amount, currency)
    elif exchange_rate is not None:
        fee = round(fee * exchange_rate)
    obj = money.balance_transaction(
        id=new_id(sink.rng, "txn_"),
        created=t,
        amount=amount,
        fee=fee,
        currency=currency,
        exchange_rate=exchange_rate,
        type=type_,
        reporting_category=category,
        source=source,
        available_on=available_on(t) if available is None else available,
        now=sink.now,
        description=description,
    )
    sink.add(obj)
    return obj


# -- payments ------------------------------------------------------------------------------------
def start_payment(
    sink: Sink,
    t: int,
    *,
    amount: int,
    currency: str,
    customer: Obj | None,
    description: str | None,
    off_session: bool,
) -> Obj:
    """A new payment intent (``payment_intent.created``)."""
    pm = None
    if customer is not None:
        pm = payment_method_of(customer["id"])[0]
    pi = money.payment_intent(
        rng=sink.rng,
        id=new_id(sink.rng, "pi_"),
        created=t,
        livemode=sink.livemode,
        amount=amount,
        currency=currency,
        customer=None if customer is None else customer["id"],
        description=description,
        payment_method=pm,
        receipt_email=None if customer is None else customer["email"],
        off_session=off_session,
    )
    sink.add(pi)
    sink.emit("payment_intent.created", pi, t, auto=off_session)
    return pi


def attempt_payment(
    sink: Sink,
    pi: Obj,
    t: int,
    *,
    customer: Obj | None,
    failure_code: str | None = None,
    guest: tuple[str, str] | None = None,
) -> tuple[Obj, Obj]:
    """Charge the payment intent's card once; returns the updated intent and the charge."""
    auto = pi["setup_future_usage"] == "off_session"
    if customer is not None:
        pm, details = payment_method_of(customer["id"])
        email, name = customer["email"], customer["name"]
    else:
        pm = new_id(sink.rng, "pm_")
        details = card(sink.rng)
        email, name = guest or (None, None)
    charge_id = new_id(sink.rng, "ch_")
    balance_id = None
    if failure_code is None:
        balance_id = txn(
            sink,
            t=t,
            amount=pi["amount"],
            fee=None,
            currency=pi["currency"],
            type_="charge",
            category="charge",
            source=charge_id,
            description=pi["description"],
        )["id"]
    ch = money.charge(
        rng=sink.rng,
        id=charge_id,
        created=t,
        livemode=sink.livemode,
        amount=pi["amount"],
        currency=pi["currency"],
        customer=pi["customer"],
        description=pi["description"],
        payment_intent=pi["id"],
        payment_method=pm,
        method_details=details,
        email=email,
        name=name,
        balance_transaction=balance_id,
        failure_code=failure_code,
    )
    sink.add(ch)
    pi = sink.edit(pi)
    if failure_code is None:
        previous = change(
            pi,
            {
                "status": "succeeded",
                "amount_received": pi["amount"],
                "latest_charge": charge_id,
                "payment_method": pm,
                "last_payment_error": None,
            },
        )
        sink.save(pi)
        sink.emit("charge.succeeded", ch, t, auto=auto)
        sink.emit("payment_intent.succeeded", pi, t, previous, auto=auto)
    else:
        # the card was saved with the customer, or given with the intent
        card_since = pi["created"] if customer is None else customer["created"]
        previous = change(
            pi,
            {
                "status": "requires_payment_method",
                "latest_charge": charge_id,
                "last_payment_error": money.payment_error(failure_code, ch, card_since),
            },
        )
        sink.save(pi)
        sink.emit("charge.failed", ch, t, auto=auto)
        sink.emit("payment_intent.payment_failed", pi, t, previous, auto=auto)
    return pi, ch


def cancel_payment(sink: Sink, pi: Obj, t: int, reason: str) -> Obj:
    pi = sink.edit(pi)
    previous = change(pi, {"status": "canceled", "canceled_at": t, "cancellation_reason": reason})
    sink.save(pi)
    sink.emit("payment_intent.canceled", pi, t, previous, auto=True)
    return pi


def refund_charge(
    sink: Sink, charge: Obj, t: int, amount: int, reason: str | None
) -> tuple[Obj, Obj]:
    """Refund part or all of a succeeded charge; returns the updated charge and the refund."""
    refund_id = new_id(sink.rng, "re_")
    balance = txn(
        sink,
        t=t,
        amount=-amount,
        fee=0,
        currency=charge["currency"],
        type_="refund",
        category="refund",
        source=refund_id,
        description="REFUND FOR CHARGE"
        + (f" ({charge['description']})" if charge["description"] else ""),
        available=t,
    )
    refund = money.refund(
        id=refund_id,
        created=t,
        amount=amount,
        charge=charge,
        balance_transaction=balance["id"],
        reason=reason,
    )
    sink.add(refund)
    charge = sink.edit(charge)
    refunded = charge["amount_refunded"] + amount
    previous = change(
        charge, {"amount_refunded": refunded, "refunded": refunded >= charge["amount"]}
    )
    sink.save(charge)
    sink.emit("refund.created", refund, t)
    sink.emit("charge.refunded", charge, t, previous)
    return charge, refund


DISPUTE_REASONS = (
    "fraudulent",
    "product_not_received",
    "subscription_canceled",
    "duplicate",
    "product_unacceptable",
    "credit_not_processed",
    "general",
)


def open_dispute(sink: Sink, charge: Obj, t: int, reason: str, *, inquiry: bool) -> Obj:
    """The cardholder disputes a charge: a chargeback takes the money and a fee at once.

    The charge becomes ``disputed`` with no event of its own: Stripe sends ``charge.updated``
    for a new description or metadata and for an asynchronous capture, not for a dispute (the
    ``charge.dispute.*`` events carry the dispute, which names the charge)."""
    dispute_id = new_id(sink.rng, "dp_")
    withdrawals: list[Obj] = []
    if not inquiry:
        withdrawals.append(
            txn(
                sink,
                t=t,
                amount=-charge["amount"],
                fee=DISPUTE_FEES.get(charge["currency"], 1500),
                currency=charge["currency"],
                type_="adjustment",
                category="dispute",
                source=dispute_id,
                description=f"Chargeback withdrawal for {charge['id']}",
                available=t,
            )
        )
    dispute = money.dispute(
        id=dispute_id,
        created=t,
        charge=charge,
        reason=reason,
        status="warning_needs_response" if inquiry else "needs_response",
        balance_transactions=withdrawals,
        due_by=(t // DAY + 8) * DAY - 1,
    )
    sink.add(dispute)
    charge = sink.edit(charge)
    charge["disputed"] = True
    sink.save(charge)
    sink.emit("charge.dispute.created", dispute, t, auto=True)
    if withdrawals:
        sink.emit("charge.dispute.funds_withdrawn", dispute, t, auto=True)
    return dispute


def review_dispute(sink: Sink, dispute: Obj, t: int) -> Obj:
    """Evidence submitted: the dispute waits for the card network's decision."""
    dispute = sink.edit(dispute)
    inquiry = dispute["status"].startswith("warning_")
    details = dict(dispute["evidence_details"])
    details.update(has_evidence=True, submission_count=1, submission_method="manual")
    status = "warning_under_review" if inquiry else "under_review"
    previous = change(dispute, {"status": status, "evidence_details": details})
    sink.save(dispute)
    sink.emit("charge.dispute.updated", dispute, t, previous)
    return dispute


def close_dispute(sink: Sink, dispute: Obj, t: int, *, won: bool) -> Obj:
    """The decision: a won chargeback gives the money back; an inquiry just closes."""
    dispute = sink.edit(dispute)
    inquiry = dispute["status"].startswith("warning_")
    values: Obj = {"status": "warning_closed" if inquiry else ("won" if won else "lost")}
    if won and not inquiry:
        reinstated = txn(
            sink,
            t=t,
            amount=dispute["amount"],
            fee=0,
            currency=dispute["currency"],
            type_="adjustment",
            category="dispute_reversal",
            source=dispute["id"],
            description=f"Chargeback reversal for {dispute['charge']}",
            available=t,
        )
        values["balance_transactions"] = [*dispute["balance_transactions"], reinstated]
    previous = change(dispute, values)
    sink.save(dispute)
    sink.emit("charge.dispute.closed", dispute, t, previous, auto=True)
    if "balance_transactions" in values:
        sink.emit("charge.dispute.funds_reinstated", dispute, t, auto=True)
    return dispute


# -- payouts -------------------------------------------------------------------------------------
def pay_out(sink: Sink, t: int, *, currency: str, amount: int, destination: str) -> tuple[Obj, Obj]:
    """Send the available balance to the bank: a payout and its (negative) transaction."""
    payout_id = new_id(sink.rng, "po_")
    balance = txn(
        sink,
        t=t,
        amount=-amount,
        fee=0,
        currency=currency,
        type_="payout",
        category="payout",
        source=payout_id,
        description="STRIPE PAYOUT",
        available=t,
    )
    arrival = (t // DAY + 2) * DAY
    payout = money.payout(
        id=payout_id,
        created=t,
        livemode=sink.livemode,
        amount=amount,
        currency=currency,
        arrival_date=arrival,
        balance_transaction=balance["id"],
        destination=destination,
        status="pending",
    )
    sink.add(payout)
    sink.emit("payout.created", payout, t, auto=True)
    return payout, balance


def settle_payout(
    sink: Sink, payout: Obj, t: int, *, failure: str | None = None
) -> tuple[Obj, Obj | None]:
    """The payout reaches the bank (``payout.paid``) or bounces: the funds come back in a
    ``payout_failure`` transaction (returned with the payout)."""
    payout = sink.edit(payout)
    if failure is None:
        previous = change(
            payout,
            {
                "status": "paid",
                "reconciliation_status": "completed",
                "trace_id": {"status": "supported", "value": None},
            },
        )
        sink.save(payout)
        sink.emit("payout.paid", payout, t, previous, auto=True)
        return payout, None
    returned = txn(
        sink,
        t=t,
        amount=payout["amount"],
        fee=0,
        currency=payout["currency"],
        type_="payout_failure",
        category="payout_reversal",
        source=payout["id"],
        description="Payout failure",
        available=t,
    )
    previous = change(
        payout,
        {
            "status": "failed",
            "failure_balance_transaction": returned["id"],
            "failure_code": failure,
            "failure_message": "The bank account has been closed.",
        },
    )
    sink.save(payout)
    sink.emit("payout.failed", payout, t, previous, auto=True)
    return payout, returned
