"""Invoices sent by hand (``send_invoice``): an onboarding session and consulting hours,
drafted, then open, paid, voided or written off; an open one sometimes credited.

Part of a customer's history (``history``): each is a task run in time order with the
customer's other tasks.
"""

from __future__ import annotations

from flitch.emulator import billing
from flitch.emulator import shapes_billing as bill
from flitch.emulator.catalog_seed import convert
from flitch.emulator.followups import charge_follow_up
from flitch.emulator.lifecycle import HOUR
from flitch.emulator.operations import DAY
from flitch.emulator.shapes import Obj, new_id
from flitch.emulator.world import Customer, Task, World

#: How often a manual invoice ends in each status (each shows at least once: the quota).
MANUAL = {"paid": 55.0, "open": 20.0, "draft": 12.0, "void": 8.0, "uncollectible": 5.0}


def manual_invoice_task(w: World, c: Customer) -> Task:
    """An invoice sent by hand (``send_invoice``): draft, then open, paid, void or written off."""
    rng, sink, now = w.rng, w.sink, w.now
    created: int = c.obj["created"]
    horizon = c.horizon
    delay = {
        "paid": rng.randint(DAY, 25 * DAY),
        "void": rng.randint(DAY, 10 * DAY),
        "uncollectible": 60 * DAY,
        "open": 0,
        "draft": 0,
    }
    lows = {"draft": now - 3 * DAY}

    def feasible(status: str) -> bool:
        if status == "draft" and horizon != now:
            return False
        return bool(max(created, lows.get(status, created)) <= horizon - HOUR - delay[status])

    wanted = list(w.quotas["manual_invoice"])
    status = w.pick("manual_invoice", MANUAL, feasible, use_quota=not c.on_clock)
    if status is None:
        return
    low = max(created, lows.get(status, created))
    high = horizon - HOUR - delay[status]
    crediting = status == "open" and (bool(w.quotas["credit_note"]) or rng.random() < 0.4)
    if crediting and high - 10 * DAY >= low:
        high -= 10 * DAY  # leave time to credit it, and perhaps void the credit note
    t = w.between(low, high)
    if status in ("paid", "void", "uncollectible"):
        # sent some time after sign-up (a time between sign-up and now would crowd the last
        # months); one not due by now is not sent, unless the account still needs its status
        sent = low + int(rng.expovariate(1 / (90 * DAY)))
        if sent <= high:
            t = sent
        elif status not in wanted:
            return
    yield t
    inv_id = new_id(rng, "in_")
    lines = []
    onboarding = w.catalog.find("onboarding", c.currency, t)
    if onboarding:
        price = onboarding[0].stored
        lines.append(
            _ii_line(
                w,
                inv_id,
                price["unit_amount"],
                c.currency,
                "Onboarding Session",
                (t, t),
                price=price,
            )
        )
    hours = rng.randint(2, 12)
    lines.append(
        _ii_line(
            w,
            inv_id,
            convert(15000, c.currency) * hours,
            c.currency,
            f"Consulting, {hours} hours",
            (t, t),
        )
    )
    inv = billing.draft_invoice(
        sink,
        t,
        invoice_id=inv_id,
        customer=c.obj,
        currency=c.currency,
        lines=lines,
        billing_reason="manual",
        collection_method="send_invoice",
        period=(t, t),
        subscription=None,
    )
    if status == "draft":
        return
    t += HOUR
    yield t
    if c.obj["currency"] is None:
        c.obj["currency"] = c.currency
    inv, c.obj = billing.finalize_invoice(sink, inv, t, c.obj)
    pi, link = billing.open_payment(sink, inv, t, c.obj)
    if crediting:
        yield from _prepayment_credit(w, c, inv, pi, link, t)
        return
    if status == "open":
        return
    t += delay[status]
    yield t
    if status == "paid":
        inv, pi, link, charge = billing.collect(sink, inv, pi, link, t, c.obj)
        charge_follow_up(w, c, charge, t, inv)
    elif status == "void":
        billing.void_invoice(sink, inv, t, pi, link)
    else:
        billing.mark_uncollectible(sink, inv, t)


def _ii_line(
    w: World,
    inv_id: str,
    amount: int,
    currency: str,
    text: str,
    period: tuple[int, int],
    price: Obj | None = None,
) -> Obj:
    return bill.line_item(
        id=new_id(w.rng, "il_"),
        livemode=w.sink.livemode,
        invoice=inv_id,
        amount=amount,
        currency=currency,
        description=text,
        quantity=1,
        period_start=period[0],
        period_end=period[1],
        price_id=None if price is None else price["id"],
        product_id=None if price is None else price["product"],
        unit_amount=amount,
        subscription=None,
        subscription_item=None,
        invoice_item=new_id(w.rng, "ii_"),
    )


def _prepayment_credit(w: World, c: Customer, inv: Obj, pi: Obj, link: Obj, t: int) -> Task:
    """A credit note on an open invoice (lowers what is due); sometimes voided later."""
    rng, sink = w.rng, w.sink
    t = w.between(t + 60, min(t + 5 * DAY, c.horizon - 120))
    if t > c.horizon - 120:
        return
    yield t
    amount = max(1, inv["amount_remaining"] // rng.choice((2, 4, 5)))
    note, inv = billing.issue_credit_note(
        sink,
        inv,
        t,
        amount=amount,
        reason="order_change",
        sequence=1,
        customer=c.obj,
        pi=pi,
        link=link,
    )
    later = w.between(t + 60, min(t + 3 * DAY, c.horizon))
    outcome = w.pick(
        "credit_note", {"issued": 80.0, "void": 20.0}, lambda o: o == "issued" or later <= c.horizon
    )
    if outcome == "void":
        yield later
        billing.void_credit_note(sink, note, inv, later, pi, link)
