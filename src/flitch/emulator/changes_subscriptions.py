"""Change kinds about subscriptions: sign-ups, renewals, plan changes, cancellations."""

from __future__ import annotations

import time

from flitch.emulator import billing, shapes
from flitch.emulator import shapes_billing as bill
from flitch.emulator.changes import Context
from flitch.emulator.changes_billing import (
    OPEN_SUBSCRIPTION,
    customer_of,
    every_text,
    finalize_and_collect,
    on_clock,
    product_name,
    stored_price,
)
from flitch.emulator.lifecycle import FAILURE_CODES, FEEDBACK
from flitch.emulator.operations import DAY
from flitch.emulator.shapes import Obj, format_amount


# -- subscriptions -------------------------------------------------------------------------------
def new_subscription(cx: Context) -> None:
    """A customer subscribes: first invoice paid at once (or a trial, or a declined card)."""
    rng, sink, now = cx.rng, cx.sink, cx.now
    customer = cx.find("customer", lambda c: not on_clock(c), recent=True)
    if customer is None:
        return
    currency = customer["currency"] or rng.choice(("usd", "usd", "eur", "gbp", "jpy"))
    prices = cx.every(
        "price",
        lambda p: (
            p["active"]
            and p["currency"] == currency
            and p["type"] == "recurring"
            and p["recurring"]["usage_type"] == "licensed"
        ),
    )
    if not prices:
        return
    price = rng.choice(prices)
    product = cx.get(price["product"])
    qty = rng.randint(2, 20) if product and product.get("unit_label") == "seat" else 1
    recurring = price["recurring"]
    sub_id = cx.new_id("sub_")
    trial_end = now + 14 * DAY if rng.random() < 0.2 else None
    end = trial_end or billing.period_boundary(
        now, recurring["interval"], recurring["interval_count"], 1
    )
    public = shapes.public_price(price)
    item = bill.subscription_item(
        id=cx.new_id("si_"),
        created=now,
        price_obj=public,
        plan_obj=shapes.plan_of(public),
        quantity=qty,
        subscription=sub_id,
        period_start=now,
        period_end=end,
    )
    discount = _redeem(cx, customer["id"], sub_id, currency) if rng.random() < 0.15 else None
    sub = bill.subscription(
        id=sub_id,
        created=now,
        livemode=cx.store.livemode,
        customer=customer["id"],
        currency=currency,
        items=[item],
        status="trialing" if trial_end else "incomplete",
        payment_method=customer["invoice_settings"]["default_payment_method"],
        trial_start=now if trial_end else None,
        trial_end=trial_end,
        discounts=[discount[0]["id"]] if discount else [],
    )
    sink.add(sub)
    name = product_name(cx, price)
    amount = 0 if trial_end else billing.price_amount(price, qty)
    text = f"Trial period for {name}" if trial_end else f"{qty} × {name}"
    inv_id = cx.new_id("in_")
    line = billing.subscription_line(
        sink,
        invoice_id=inv_id,
        subscription_id=sub_id,
        item=item,
        amount=amount,
        quantity=qty,
        period=(now, end),
        description=text,
    )
    inv = billing.draft_invoice(
        sink,
        now,
        invoice_id=inv_id,
        customer=customer,
        currency=currency,
        lines=[line],
        billing_reason="subscription_create",
        collection_method="charge_automatically",
        period=(now, now),
        subscription=sub_id,
        discount=discount,
    )
    if customer["currency"] is None:
        customer = sink.edit(customer)
        customer["currency"] = currency
        sink.save(customer)
    inv, customer = billing.finalize_invoice(sink, inv, now, customer)
    status = "trialing" if trial_end else "active"
    if inv["status"] != "paid":
        pi, link = billing.open_payment(sink, inv, now, customer)
        code = rng.choice(FAILURE_CODES) if rng.random() < 0.08 else None
        inv, pi, link, _charge = billing.collect(
            sink, inv, pi, link, now, customer, failure_code=code
        )
        if code is not None:
            status = "incomplete"
    if discount is not None and discount[1]["duration"] == "once" and inv["discounts"]:
        sub = _set(sub, discounts=[])
    sub = _set(sub, status=status, latest_invoice=inv["id"])
    sink.save(sub)
    sink.emit("customer.subscription.created", sub, now)


def _set(obj: Obj, **values: object) -> Obj:
    """A copy of a not-yet-announced object with new values (``save`` it afterwards)."""
    return {**obj, **values}


def _usable_coupon(cx: Context, currency: str | None) -> Obj | None:
    """A coupon that can still be redeemed, in ``currency`` if it takes an amount off."""
    now = cx.now

    def usable(c: Obj) -> bool:
        return bool(
            c["valid"]
            and (c["amount_off"] is None or c["currency"] == currency)
            and (c["redeem_by"] is None or c["redeem_by"] > now)
            and (c["max_redemptions"] is None or c["times_redeemed"] < c["max_redemptions"])
        )

    return cx.find("coupon", usable)


def _redeem_coupon(
    cx: Context, coupon: Obj, customer_id: str, sub_id: str | None
) -> tuple[Obj, Obj]:
    """A discount of ``coupon`` (stored), and the coupon with one more redemption: Stripe
    announces neither change to the coupon (no ``coupon.updated``)."""
    now = cx.now
    ends = None
    if coupon["duration"] == "repeating":
        ends = billing.period_boundary(now, "month", 1, coupon["duration_in_months"])
    discount = shapes.discount(
        id=cx.new_id("di_"),
        coupon_id=coupon["id"],
        customer=customer_id,
        subscription=sub_id,
        start=now,
        end=ends,
    )
    cx.sink.add(discount)
    coupon = cx.sink.edit(coupon)
    coupon["times_redeemed"] += 1
    if coupon["max_redemptions"] is not None:
        coupon["valid"] = coupon["times_redeemed"] < coupon["max_redemptions"]
    cx.sink.save(coupon)
    return discount, coupon


def _redeem(cx: Context, customer_id: str, sub_id: str, currency: str) -> tuple[Obj, Obj] | None:
    coupon = _usable_coupon(cx, currency)
    return None if coupon is None else _redeem_coupon(cx, coupon, customer_id, sub_id)


def customer_discount(cx: Context) -> None:
    """A coupon applied to a customer (all their invoices): Stripe announces it with
    ``customer.discount.created`` alone, about the discount; the customer's ``discount`` and
    the coupon's ``times_redeemed`` change with no event of their own."""
    customer = cx.find(
        "customer", lambda c: not on_clock(c) and c["discount"] is None and bool(c["currency"])
    )
    if customer is None:
        return
    coupon = _usable_coupon(cx, customer["currency"])
    if coupon is None:
        return
    discount, _coupon = _redeem_coupon(cx, coupon, customer["id"], None)
    customer = cx.sink.edit(customer)
    customer["discount"] = discount
    cx.sink.save(customer)
    cx.sink.emit("customer.discount.created", discount, cx.now)


def renew_subscription(cx: Context) -> None:
    """A subscription whose period is over: bill the next one (or end it, if asked to)."""
    now, sink = cx.now, cx.sink

    def due(s: Obj) -> bool:
        return bool(
            s["status"] in ("active", "trialing", "past_due")
            and s["items"]["data"][0]["current_period_end"] <= now
        )

    sub = cx.find("subscription", due)
    if sub is None:
        return
    if sub["cancel_at_period_end"]:
        billing.cancel_subscription(sink, sub, now, reason="cancellation_requested", auto=True)
        return
    first = sub["items"]["data"][0]
    recurring = first["price"]["recurring"]
    start = first["current_period_end"]
    end = billing.period_boundary(start, recurring["interval"], recurring["interval_count"], 1)
    values: Obj = {"items": billing.rolled_items(sub, start, end)}
    if sub["status"] == "trialing":
        values["status"] = "active"
    inv_id = cx.new_id("in_")
    lines = []
    for item in sub["items"]["data"]:
        price = item["price"]
        name = product_name(cx, price)
        if price["recurring"]["usage_type"] == "metered":
            used = int(cx.rng.paretovariate(1.3) * 40)
            amount = billing.price_amount(stored_price(cx, item), used)
            period, text, qty = (item["current_period_start"], start), f"{used} × {name}", used
        else:
            qty = item["quantity"] or 1
            amount = billing.price_amount(stored_price(cx, item), qty)
            each = format_amount(price["unit_amount"] or amount // qty, price["currency"])
            period, text = (start, end), f"{qty} × {name} (at {each} / {every_text(price)})"
        lines.append(
            billing.subscription_line(
                sink,
                invoice_id=inv_id,
                subscription_id=sub["id"],
                item=item,
                amount=amount,
                quantity=qty,
                period=period,
                description=text,
            )
        )
    discount = _current_discount(cx, sub, values)
    customer = customer_of(cx, sub["customer"])
    if customer is None:
        return
    inv = billing.draft_invoice(
        sink,
        now,
        invoice_id=inv_id,
        customer=customer,
        currency=sub["currency"],
        lines=lines,
        billing_reason="subscription_cycle",
        collection_method="charge_automatically",
        period=(start, end),
        subscription=sub["id"],
        discount=discount,
    )
    values["latest_invoice"] = inv_id
    sub = billing.update_subscription(sink, sub, now, values, auto=True)
    finalize_and_collect(cx, inv, customer, sub, fail=cx.rng.random() < 0.1)


def _current_discount(cx: Context, sub: Obj, values: Obj) -> tuple[Obj, Obj] | None:
    """The subscription's discount for a renewal, dropping it if it has run out."""
    if not sub["discounts"]:
        return None
    discount = cx.get(sub["discounts"][0])
    coupon = None if discount is None else cx.get(discount["source"]["coupon"])
    if discount is None or coupon is None:
        return None
    ended = discount["end"] is not None and discount["end"] <= cx.now
    if ended or coupon["duration"] == "once":
        values["discounts"] = []
        return None
    return discount, coupon


def _change_plan(cx: Context, mode: str) -> None:
    """Change the first item's price (up or down) or seats, invoicing the prorations now."""
    rng, sink, now = cx.rng, cx.sink, cx.now

    prices = cx.every(
        "price",
        lambda p: (
            bool(p["active"] and p["unit_amount"] and p["type"] == "recurring")
            and p["recurring"]["usage_type"] == "licensed"
        ),
    )

    def targets(old: Obj) -> list[Obj]:
        """Prices the item could move to: same currency and period, dearer or cheaper."""
        unit, recurring = billing.price_amount(old, 1), old["recurring"]
        return [
            p
            for p in prices
            if p["currency"] == old["currency"]
            and p["recurring"]["interval"] == recurring["interval"]
            and p["recurring"]["interval_count"] == recurring["interval_count"]
            and (p["unit_amount"] > unit if mode == "up" else p["unit_amount"] < unit)
        ]

    def eligible(s: Obj) -> bool:
        item = s["items"]["data"][0]
        return bool(
            s["status"] == "active"
            and not on_clock(s)
            and item["price"]["recurring"]["usage_type"] == "licensed"
            and item["current_period_end"] > now
            and (mode == "quantity" or targets(stored_price(cx, item)))
        )

    sub = cx.find("subscription", eligible)
    if sub is None:
        return
    item = sub["items"]["data"][0]
    old = stored_price(cx, item)
    qty = item["quantity"] or 1
    new, new_qty = old, qty
    if mode == "quantity":
        new_qty = max(1, qty + rng.choice((-2, -1, 1, 2, 3, 5)))
        if new_qty == qty:
            new_qty = qty + 1
    else:
        new = rng.choice(targets(old))
    start, end = item["current_period_start"], item["current_period_end"]
    fraction = (end - now) / max(1, end - start)
    public = shapes.public_price(new)
    new_item = {**item, "price": public, "plan": shapes.plan_of(public), "quantity": new_qty}
    day = _day(now)
    inv_id = cx.new_id("in_")
    lines = [
        billing.subscription_line(
            sink,
            invoice_id=inv_id,
            subscription_id=sub["id"],
            item=item,
            amount=-round(billing.price_amount(old, qty) * fraction),
            quantity=qty,
            period=(now, end),
            proration=True,
            description=f"Unused time on {qty} × {product_name(cx, old)} after {day}",
        ),
        billing.subscription_line(
            sink,
            invoice_id=inv_id,
            subscription_id=sub["id"],
            item=new_item,
            quantity=new_qty,
            period=(now, end),
            amount=round(billing.price_amount(new, new_qty) * fraction),
            proration=True,
            description=(f"Remaining time on {new_qty} × {product_name(cx, new)} after {day}"),
        ),
    ]
    customer = customer_of(cx, sub["customer"])
    if customer is None:
        return
    inv = billing.draft_invoice(
        sink,
        now,
        invoice_id=inv_id,
        customer=customer,
        currency=sub["currency"],
        lines=lines,
        billing_reason="subscription_update",
        collection_method="charge_automatically",
        period=(now, end),
        subscription=sub["id"],
    )
    items = {**sub["items"], "data": [new_item, *sub["items"]["data"][1:]]}
    sub = billing.update_subscription(sink, sub, now, {"items": items, "latest_invoice": inv_id})
    finalize_and_collect(cx, inv, customer, sub, fail=False)


def _day(t: int) -> str:
    return time.strftime("%d %b %Y", time.gmtime(t))


def upgrade(cx: Context) -> None:
    _change_plan(cx, "up")


def downgrade(cx: Context) -> None:
    _change_plan(cx, "down")


def change_quantity(cx: Context) -> None:
    _change_plan(cx, "quantity")


def cancel_now(cx: Context) -> None:
    sub = cx.find("subscription", lambda s: s["status"] in OPEN_SUBSCRIPTION and not on_clock(s))
    if sub is not None:
        billing.cancel_subscription(
            cx.sink, sub, cx.now, reason="cancellation_requested", feedback=cx.rng.choice(FEEDBACK)
        )


def cancel_at_period_end(cx: Context) -> None:
    sub = cx.find(
        "subscription",
        lambda s: (
            s["status"] in ("active", "trialing")
            and not s["cancel_at_period_end"]
            and not on_clock(s)
        ),
    )
    if sub is None:
        return
    end = sub["items"]["data"][0]["current_period_end"]
    details = {
        "comment": None,
        "feedback": cx.rng.choice(FEEDBACK),
        "reason": "cancellation_requested",
    }
    billing.update_subscription(
        cx.sink,
        sub,
        cx.now,
        {
            "cancel_at_period_end": True,
            "cancel_at": end,
            "canceled_at": cx.now,
            "cancellation_details": details,
        },
    )
