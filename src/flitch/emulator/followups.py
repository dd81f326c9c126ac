"""What may happen to a payment after it succeeds: a refund (perhaps through a credit note, or
as credit on the customer's balance), or a dispute that runs its course to a decision."""

from __future__ import annotations

from flitch.emulator import billing, operations
from flitch.emulator.operations import DAY, DISPUTE_REASONS
from flitch.emulator.shapes import Obj
from flitch.emulator.world import Customer, Task, World

HOUR = 3600
DISPUTES = {
    "lost": 35.0,
    "won": 25.0,
    "under_review": 15.0,
    "needs_response": 10.0,
    "warning_closed": 8.0,
    "warning_needs_response": 4.0,
    "warning_under_review": 3.0,
}


def charge_follow_up(w: World, c: Customer, charge: Obj, t: int, inv: Obj | None) -> None:
    """Maybe schedule a dispute, a refund or a credit note for a succeeded charge (more often
    while some kind has not been seen yet, so that even a small account has each)."""
    roll = w.rng.random()
    disputes = 0.06 if w.quotas["dispute"] else 0.009
    refunds = disputes + (0.15 if w.quotas["refund"] else 0.045)
    if roll < disputes:
        c.spawn(_dispute_task(w, charge, t))
    elif w.quotas["recent_refund"] and w.now - 25 * DAY <= t < w.now - HOUR:
        # the last 30 days' events show at least one refund
        w.quotas["recent_refund"].clear()
        c.spawn(_refund_task(w, c, charge, inv, w.between(t + 60, w.now), cash=True))
    elif roll < refunds:
        later = t + w.rng.randint(HOUR, 25 * DAY)
        if later <= w.now:
            c.spawn(_refund_task(w, c, charge, inv, later))


def _refund_task(
    w: World, c: Customer, charge: Obj, inv: Obj | None, t: int, *, cash: bool = False
) -> Task:
    """A refund; or a credit note that refunds, or credits the balance (unless ``cash``)."""
    yield t
    rng, sink = w.rng, w.sink
    if charge["disputed"] or charge["refunded"]:
        return
    options = {"full": 45.0, "partial": 30.0}
    if inv is not None and inv["status"] == "paid":
        options |= {"credit_note": 20.0}
        if not cash:
            options["credit_balance"] = 5.0
    kind = w.pick("refund", options, lambda o: o in options)
    left = charge["amount"] - charge["amount_refunded"]
    amount = left if kind == "full" else max(1, left // rng.choice((2, 3, 4)))
    if kind in ("full", "partial") or inv is None:
        reason = rng.choice(("requested_by_customer", "requested_by_customer", "duplicate", None))
        operations.refund_charge(sink, charge, t, amount, reason)
        return
    billing.issue_credit_note(
        sink,
        inv,
        t,
        amount=amount,
        reason="product_unsatisfactory",
        sequence=1,
        customer=c.obj,
        charge=charge if kind == "credit_note" else None,
    )


def _dispute_task(w: World, charge: Obj, paid_at: int) -> Task:
    rng, now = w.rng, w.now
    windows = {
        "needs_response": (now - 6 * DAY, now - HOUR),
        "warning_needs_response": (now - 6 * DAY, now - HOUR),
        "under_review": (now - 25 * DAY, now - 8 * DAY),
        "warning_under_review": (now - 25 * DAY, now - 8 * DAY),
    }
    # closed: evidence by +6 days, decided within 40 more, all before now
    closed = (paid_at + 3 * DAY, min(paid_at + 90 * DAY, now - 47 * DAY))

    def window(status: str) -> tuple[int, int]:
        low, high = windows.get(status, closed)
        return max(low, paid_at + DAY), min(high, paid_at + 110 * DAY)

    status = w.pick("dispute", DISPUTES, lambda s: window(s)[0] <= window(s)[1])
    if status is None:
        return
    at = w.between(*window(status))
    yield at
    if charge["refunded"] or charge["disputed"]:
        return
    inquiry = status.startswith("warning_")
    reason = rng.choice(DISPUTE_REASONS)
    dispute = operations.open_dispute(w.sink, charge, at, reason, inquiry=inquiry)
    if status.endswith("needs_response"):
        return
    at += rng.randint(2 * DAY, 6 * DAY)
    yield at
    dispute = operations.review_dispute(w.sink, dispute, at)
    if status.endswith("under_review"):
        return
    at += rng.randint(20 * DAY, 40 * DAY)
    yield at
    operations.close_dispute(w.sink, dispute, at, won=status == "won")
