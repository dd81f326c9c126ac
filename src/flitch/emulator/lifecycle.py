"""One subscription's life, as a task of the generator's history (see ``world.Task``).

A plan (``SubPlan``) says how the subscription starts (trial or not, coupon, items) and where it
is headed (its *fate*): it may run until now, churn (now or at the end of the period), fail to
pay (past_due, then unpaid or canceled), never complete its first payment (incomplete, expired
after 23 hours), or stop at the end of a trial without a card (paused). On the way, every period
is invoiced and collected, plans change with prorations billed on the next invoice, discounts
run out, and every step emits the events Stripe would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flitch.emulator import billing
from flitch.emulator import shapes_billing as bill
from flitch.emulator.catalog_seed import CouponInfo, PriceInfo
from flitch.emulator.followups import charge_follow_up
from flitch.emulator.operations import DAY
from flitch.emulator.shapes import Obj, discount, format_amount, new_id
from flitch.emulator.world import Customer, Task, World

HOUR = 3600
#: Smart retries after a failed renewal, in days after the first attempt.
RETRY_DAYS = (3, 5, 7)
#: Chance that a period sees a plan change (upgrade, downgrade or seats).
CHANGE_RATE = 0.035
#: Chance that a renewal's first attempt fails but a retry succeeds.
TRANSIENT_FAILURE = 0.04
FAILURE_CODES = ("card_declined", "card_declined", "expired_card", "do_not_honor")
FEEDBACK = (
    "too_expensive",
    "unused",
    "missing_features",
    "switched_service",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
    None,
)


@dataclass
class SubPlan:
    start: int
    fate: str
    items: list[tuple[PriceInfo, int | None]]
    trial_days: int | None = None
    coupon: CouponInfo | None = None
    #: Churn: when the customer asks to cancel (None: never, within the horizon).
    cancel_at: int | None = None
    at_period_end: bool = False
    #: Renewals attempted at or after this time fail.
    fail_from: int | None = None
    #: After the last retry fails: "unpaid" or "cancel".
    after_retries: str = "unpaid"


class _Life:
    """The state of one subscription while its task runs."""

    def __init__(self, w: World, c: Customer, plan: SubPlan) -> None:
        self.w, self.c, self.plan = w, c, plan
        self.sink = w.sink
        self.main = plan.items[0][0]
        self.sub: Obj = {}
        self.disc: Obj | None = None
        self.once_used = False
        #: A once-only coupon was just used: the discount leaves the subscription.
        self.drop_once = False
        #: The time of the task's latest step (steps never go back in time).
        self.clock = plan.start
        #: Proration lines waiting for the next invoice: (amount, description, item, period).
        self.prorations: list[tuple[int, str, Obj, tuple[int, int]]] = []
        #: The subscriber's usual metered usage per period (set at the first usage billed).
        self.usage_level: float | None = None

    # -- invoices --------------------------------------------------------------------------------
    def _line(
        self,
        inv_id: str,
        item: Obj,
        amount: int,
        qty: int | None,
        period: tuple[int, int],
        description: str,
        proration: bool = False,
    ) -> Obj:
        return billing.subscription_line(
            self.sink,
            invoice_id=inv_id,
            subscription_id=self.sub["id"],
            item=item,
            amount=amount,
            quantity=qty,
            period=period,
            description=description,
            proration=proration,
        )

    def _stored(self, item: Obj) -> Obj:
        return self.w.catalog.price(item["price"]["id"]).stored

    def bill(self, t: int, reason: str, start: int, end: int, prev_start: int) -> Obj:
        """A draft invoice for the period [start, end) (metered usage for the one before)."""
        inv_id = new_id(self.w.rng, "in_")
        lines: list[Obj] = []
        trial = reason == "subscription_create" and self.plan.trial_days is not None
        for item in self.sub["items"]["data"]:
            price = item["price"]
            name = self.w.catalog.products[price["product"]]["name"]
            if price["recurring"]["usage_type"] == "metered":
                used = 0 if reason == "subscription_create" else self._usage()
                amount = billing.price_amount(self._stored(item), used)
                lines.append(
                    self._line(
                        inv_id, item, amount, used, (prev_start, start), f"{used} × {name} (usage)"
                    )
                )
                continue
            qty = item["quantity"] or 1
            if trial:
                lines.append(
                    self._line(inv_id, item, 0, qty, (start, end), f"Trial period for {name}")
                )
                continue
            amount = billing.price_amount(self._stored(item), qty)
            each = format_amount(price["unit_amount"] or amount // qty, price["currency"])
            lines.append(
                self._line(
                    inv_id,
                    item,
                    amount,
                    qty,
                    (start, end),
                    f"{qty} × {name} (at {each} / {self._every()})",
                )
            )
        for amount, text, item, period in self.prorations:
            lines.append(self._line(inv_id, item, amount, item["quantity"], period, text, True))
        self.prorations = []
        return billing.draft_invoice(
            self.sink,
            t,
            invoice_id=inv_id,
            customer=self.c.obj,
            currency=self.sub["currency"],
            lines=lines,
            billing_reason=reason,
            collection_method="charge_automatically",
            period=(start, end) if reason != "subscription_create" else (t, t),
            subscription=self.sub["id"],
            discount=self._discount(t, lines),
        )

    def _usage(self) -> int:
        """A period's metered usage: around the subscriber's own level (drawn once: a few
        heavy users, no one-month spike worth more than the rest of the business)."""
        rng = self.w.rng
        if self.usage_level is None:
            self.usage_level = min(3000.0, 40 * rng.paretovariate(2.0))
        return int(self.usage_level * rng.uniform(0.8, 1.25))

    def _every(self) -> str:
        interval, count = self.main.interval or "month", self.main.count
        return interval if count == 1 else f"{count} {interval}s"

    def _discount(self, t: int, lines: list[Obj]) -> tuple[Obj, Obj] | None:
        if self.disc is None or self.plan.coupon is None:
            return None
        coupon = self.plan.coupon.obj
        if self.disc["end"] is not None and t >= self.disc["end"]:
            self._drop_discount(t)
            return None
        if coupon["duration"] == "once":
            if sum(ln["amount"] for ln in lines) <= 0:
                return None
            if self.once_used:
                return None
            self.once_used = self.drop_once = True
        return self.disc, coupon

    def _drop_discount(self, t: int) -> None:
        if self.sub["discounts"]:
            self.sub = billing.update_subscription(
                self.sink, self.sub, t, {"discounts": []}, auto=True
            )

    def collect(self, t: int, inv: Obj, *, fail: bool) -> Task:
        """Finalize and collect an invoice, retrying on failure; ends with the outcome."""
        w, sink, c = self.w, self.sink, self.c
        inv, c.obj = billing.finalize_invoice(sink, inv, t, c.obj)
        if inv["status"] == "paid":
            return
        pi, link = billing.open_payment(sink, inv, t, c.obj)
        transient = not fail and w.rng.random() < TRANSIENT_FAILURE
        retry_days = RETRY_DAYS if self.main.interval != "week" else (1, 3, 5)
        attempts = [t] + [t + d * DAY for d in retry_days] if (fail or transient) else [t]
        for n, at in enumerate(attempts):
            if at != t:
                if at > c.horizon:
                    return
                yield at
                self.clock = at
            failing = fail or (transient and n == 0)
            code = w.rng.choice(FAILURE_CODES) if failing else None
            retry = attempts[n + 1] if failing and n + 1 < len(attempts) else None
            inv, pi, link, charge = billing.collect(
                sink, inv, pi, link, at, c.obj, failure_code=code, retry_at=retry
            )
            if code is None:
                if self.sub["status"] == "past_due":
                    self._status(at, "active")
                c.obj["delinquent"] = False
                charge_follow_up(w, c, charge, at, inv)
                return
            c.obj["delinquent"] = True
            if self.sub["status"] in ("active", "trialing"):
                self._status(at, "past_due")
        # every retry failed
        if self.plan.after_retries == "cancel":
            end = attempts[-1]
            if w.rng.random() < 0.7:
                billing.mark_uncollectible(sink, inv, end)
            else:
                billing.void_invoice(sink, inv, end, pi, link)
            self.sub = billing.cancel_subscription(
                sink, self.sub, end, reason="payment_failed", auto=True
            )
        else:
            self._status(attempts[-1], "unpaid")

    def _status(self, t: int, status: str) -> None:
        self.sub = billing.update_subscription(
            self.sink, self.sub, t, {"status": status}, auto=True
        )


def subscription_task(w: World, c: Customer, plan: SubPlan) -> Task:
    """The whole life of one subscription, step by step in time."""
    life = _Life(w, c, plan)
    sink, rng = w.sink, w.rng
    t = plan.start
    yield t
    sub_id = new_id(rng, "sub_")
    trial_end = None if plan.trial_days is None else t + plan.trial_days * DAY
    main = life.main
    first_end = trial_end or billing.period_boundary(t, main.interval or "month", main.count, 1)
    items = [
        bill.subscription_item(
            id=new_id(rng, "si_"),
            created=t,
            price_obj=p.public,
            plan_obj=p.plan,
            quantity=None if p.family.metered else qty,
            subscription=sub_id,
            period_start=t,
            period_end=first_end,
        )
        for p, qty in plan.items
    ]
    discounts: list[str] = []
    if plan.coupon is not None:
        coupon = plan.coupon.obj
        ends = None
        if coupon["duration"] == "repeating":
            ends = billing.period_boundary(t, "month", 1, coupon["duration_in_months"])
        life.disc = discount(
            id=new_id(rng, "di_"),
            coupon_id=coupon["id"],
            customer=c.obj["id"],
            subscription=sub_id,
            start=t,
            end=ends,
        )
        plan.coupon.redeemed += 1
        sink.add(life.disc)
        discounts = [life.disc["id"]]
    if c.obj["currency"] is None:
        c.obj["currency"] = main.currency
    paused = plan.fate == "paused"
    life.sub = sub = bill.subscription(
        id=sub_id,
        created=t,
        livemode=sink.livemode,
        customer=c.obj["id"],
        currency=main.currency,
        items=items,
        status="trialing" if trial_end else "incomplete",
        payment_method=None if paused else c.obj["invoice_settings"]["default_payment_method"],
        trial_start=t if trial_end else None,
        trial_end=trial_end,
        discounts=discounts,
        test_clock=c.obj["test_clock"],
        trial_end_behavior="pause" if paused else "create_invoice",
    )
    sink.add(sub)
    inv = life.bill(t, "subscription_create", t, first_end, t)
    sub["latest_invoice"] = inv["id"]
    first_fails = plan.fate in ("incomplete", "incomplete_expired")
    inv, c.obj = billing.finalize_invoice(sink, inv, t, c.obj)
    pi = link = None
    if inv["status"] != "paid":
        pi, link = billing.open_payment(sink, inv, t, c.obj)
        code = rng.choice(FAILURE_CODES) if first_fails else None
        inv, pi, link, charge = billing.collect(sink, inv, pi, link, t, c.obj, failure_code=code)
        if code is None:
            charge_follow_up(w, c, charge, t, inv)
    if sub["status"] == "incomplete" and not first_fails:
        sub["status"] = "active"
    if life.drop_once:
        sub["discounts"], life.drop_once = [], False
    sink.emit("customer.subscription.created", sub, t)
    if plan.fate == "incomplete":
        return
    if plan.fate == "incomplete_expired":
        t += 23 * HOUR
        yield t
        billing.void_invoice(sink, inv, t, pi, link)
        billing.update_subscription(
            sink, sub, t, {"status": "incomplete_expired", "ended_at": t}, auto=True
        )
        return
    yield from _run_periods(life, trial_end)


def _run_periods(life: _Life, trial_end: int | None) -> Task:
    """Period after period: changes, cancellation, renewal, until the history's horizon."""
    c, plan, sink = life.c, life.plan, life.sink
    main = life.main
    interval, count = main.interval or "month", main.count
    anchor = trial_end or plan.start
    if trial_end is not None:
        warn = trial_end - 3 * DAY
        if plan.start < warn <= c.horizon:
            yield warn
            sink.emit("customer.subscription.trial_will_end", life.sub, warn, auto=True)
        if plan.fate == "paused" and trial_end <= c.horizon:
            yield trial_end
            life.sub = billing.update_subscription(
                sink,
                life.sub,
                trial_end,
                {
                    "status": "paused",
                    "status_details": {
                        "paused": {
                            "subscription": {"type": "trial_end_without_payment_method"},
                            "transitioned_at": trial_end,
                            "type": "subscription",
                        }
                    },
                },
                event="customer.subscription.paused",
                auto=True,
            )
            yield from _stop(life, c.horizon)
            return
    # the current period [start, end); the next renewal is boundary k
    start, k = plan.start, 0 if trial_end is not None else 1
    end = billing.period_boundary(anchor, interval, count, k)
    while True:
        stop = c.horizon
        yield from _maybe_change(life, start, end, stop)
        if plan.cancel_at is not None and plan.cancel_at < min(end, stop):
            yield from _cancel(life, min(max(plan.cancel_at, life.clock + 60), stop), end)
            return
        if end > stop:
            yield from _stop(life, stop)
            return
        yield end
        life.clock = end
        following = billing.period_boundary(anchor, interval, count, k + 1)
        yield from _renew(life, end, following, start)
        if life.sub["status"] in ("canceled", "unpaid"):
            yield from _stop(life, stop)
            return
        start, end, k = end, following, k + 1


def _renew(life: _Life, start: int, end: int, prev_start: int) -> Task:
    """Bill the period [start, end): roll the items, invoice, collect an hour later."""
    c, sink, plan = life.c, life.sink, life.plan
    values: Obj = {"items": billing.rolled_items(life.sub, start, end)}
    if life.sub["status"] == "trialing":
        values["status"] = "active"
    inv = life.bill(start, "subscription_cycle", start, end, prev_start)
    values["latest_invoice"] = inv["id"]
    if life.drop_once:
        values["discounts"], life.drop_once = [], False
    life.sub = billing.update_subscription(sink, life.sub, start, values, auto=True)
    finalize = start + HOUR
    if finalize > c.horizon:
        return
    yield finalize
    life.clock = finalize
    fail = plan.fail_from is not None and start >= plan.fail_from
    yield from life.collect(finalize, inv, fail=fail)


def _maybe_change(life: _Life, start: int, end: int, stop: int) -> Task:
    """Perhaps an upgrade, downgrade or new seat count, prorated onto the next invoice."""
    w, rng = life.w, life.w.rng
    if life.plan.fate != "natural" or rng.random() >= CHANGE_RATE:
        return
    at = start + int((end - start) * rng.uniform(0.1, 0.9))
    if at >= stop or at <= life.clock or life.sub["status"] != "active":
        return
    item = life.sub["items"]["data"][0]
    old = w.catalog.price(item["price"]["id"])
    qty = item["quantity"] or 1
    new, new_qty = old, qty
    if old.family.seats:
        new_qty = max(1, qty + rng.choice((-3, -2, -1, 1, 2, 3, 5, 8)))
    else:
        target = {"starter": "pro", "pro": "starter", "pro_2024": "pro", "legacy": "starter"}
        family = target.get(old.family.key)
        options = [] if family is None else w.catalog.find(family, old.currency, at, old.interval)
        options = [p for p in options if p.count == old.count]
        if not options:
            return
        new = options[0]
    if new is old and new_qty == qty:
        return
    yield at
    life.clock = at
    fraction = (end - at) / (end - start)
    old_amount = billing.price_amount(old.stored, qty)
    new_amount = billing.price_amount(new.stored, new_qty)
    day = _day(at)
    name_old = w.catalog.products[old.stored["product"]]["name"]
    name_new = w.catalog.products[new.stored["product"]]["name"]
    new_item = {**item, "price": new.public, "plan": new.plan, "quantity": new_qty}
    unused = f"Unused time on {qty} × {name_old} after {day}"
    remaining = f"Remaining time on {new_qty} × {name_new} after {day}"
    life.prorations.append((-round(old_amount * fraction), unused, item, (at, end)))
    life.prorations.append((round(new_amount * fraction), remaining, new_item, (at, end)))
    items = life.sub["items"]
    data = [new_item, *items["data"][1:]]
    life.sub = billing.update_subscription(w.sink, life.sub, at, {"items": {**items, "data": data}})


def _day(t: int) -> str:
    return time.strftime("%d %b %Y", time.gmtime(t))


def _cancel(life: _Life, at: int, period_end: int) -> Task:
    """The customer cancels: now, or at the end of the period they paid for."""
    w, c, sink = life.w, life.c, life.sink
    yield at
    feedback = w.rng.choice(FEEDBACK)
    if not life.plan.at_period_end:
        billing.cancel_subscription(
            sink, life.sub, at, reason="cancellation_requested", feedback=feedback
        )
        return
    life.sub = billing.update_subscription(
        sink,
        life.sub,
        at,
        {
            "cancel_at_period_end": True,
            "cancel_at": period_end,
            "canceled_at": at,
            "cancellation_details": {
                "comment": None,
                "feedback": feedback,
                "reason": "cancellation_requested",
            },
        },
    )
    end = min(period_end, c.horizon)
    if period_end > c.horizon and c.deleted_at is None:
        return
    yield end
    billing.cancel_subscription(
        sink,
        life.sub,
        end,
        reason="cancellation_requested",
        feedback=feedback,
        auto=end == period_end,
    )


def _stop(life: _Life, stop: int) -> Task:
    """History ends: at ``now`` the subscription stays as it is; a deleted customer's ends."""
    if life.c.deleted_at is None or life.sub["status"] in ("canceled", "incomplete_expired"):
        return
    yield stop
    billing.cancel_subscription(life.sink, life.sub, stop, reason="cancellation_requested")
