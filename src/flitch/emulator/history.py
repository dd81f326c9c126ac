"""A customer's history: sign-up, subscriptions, one-off purchases, manual invoices, and what
later happens to their payments (refunds, credit notes, disputes), ending in deletion for some.

Every customer's tasks run in time order (``world.Customer.run``), so the customer's balance and
invoice numbers follow the calendar across all of their subscriptions.
"""

from __future__ import annotations

from flitch.emulator import billing, operations
from flitch.emulator import shapes_billing as bill
from flitch.emulator.catalog_seed import CouponInfo, PriceInfo, convert
from flitch.emulator.followups import charge_follow_up
from flitch.emulator.lifecycle import FAILURE_CODES, HOUR, SubPlan, subscription_task
from flitch.emulator.operations import DAY
from flitch.emulator.shapes import Obj, customer, new_id
from flitch.emulator.world import Customer, Task, World

YEAR = 365 * DAY
FIRST = (
    "Ada",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emma",
    "Farah",
    "Gus",
    "Hana",
    "Ines",
    "Jamal",
    "Kenji",
    "Lena",
    "Marco",
    "Nadia",
    "Oscar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomoko",
    "Uma",
    "Victor",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
    "Amélie",
    "Bruno",
    "Camille",
    "Diego",
)
LAST = (
    "Adams",
    "Bauer",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "García",
    "Hughes",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Walsh",
    "Yamamoto",
    "Zimmermann",
    "Moreau",
    "Silva",
    "Kim",
)
COMPANY = ("Labs", "Studio", "Analytics", "Works", "Digital", "Partners", "Systems", "Co")
CURRENCY_WEIGHTS = {"usd": 55.0, "eur": 22.0, "gbp": 13.0, "jpy": 10.0}
INTERVAL_WEIGHTS = {("month", 1): 62.0, ("year", 1): 30.0, ("month", 3): 8.0, ("week", 1): 100.0}
FATES = {
    "natural": 84.0,
    "trialing": 3.5,
    "paused": 1.5,
    "past_due": 3.0,
    "unpaid": 2.0,
    "incomplete": 1.2,
    "incomplete_expired": 2.5,
    "cancel_nonpayment": 2.3,
}
MANUAL = {"paid": 55.0, "open": 20.0, "draft": 12.0, "void": 8.0, "uncollectible": 5.0}


def new_customer(w: World, index: int, *, span: int, clock: Obj | None) -> Customer:
    """A customer signed up some time in the last ``span`` seconds (recent ones more often)."""
    rng, now = w.rng, w.now
    created = now - int(span * rng.random() ** 1.8) - 60
    if clock is not None:
        created = w.between(clock["created"], now - HOUR)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = rng.random() < 0.3
    name = f"{last} {rng.choice(COMPANY)}" if company else f"{first} {last}"
    handle = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    email = f"{handle}{index}@example.{rng.choice(('com', 'org', 'net'))}"
    cid = new_id(rng, "cus_", 14)
    pm = operations.payment_method_of(cid)[0]
    obj = customer(
        id=cid,
        created=created,
        livemode=w.sink.livemode,
        email=email,
        name=name,
        description=rng.choice((None, None, "Signed up from the pricing page", "Referred")),
        invoice_prefix=new_id(rng, "", 8).upper(),
        payment_method=pm,
        phone=None if rng.random() < 0.6 else f"+1415555{rng.randrange(10000):04d}",
        test_clock=None if clock is None else clock["id"],
        metadata={"signup": rng.choice(("web", "sales", "partner"))} if company else {},
    )
    deleted_at = None
    if clock is None and created < now - 3 * DAY:
        if w.quotas["deletion"]:  # one recent deletion, so the events show one
            w.quotas["deletion"].clear()
            deleted_at = w.between(max(created + 2 * DAY, now - 25 * DAY), now - HOUR)
        elif rng.random() < 0.04:
            deleted_at = w.between(created + 2 * DAY, now - HOUR)
    currency = rng.choices(list(CURRENCY_WEIGHTS), list(CURRENCY_WEIGHTS.values()))[0]
    return Customer(
        obj=obj,
        horizon=deleted_at or now,
        deleted_at=deleted_at,
        on_clock=clock is not None,
        currency=currency,
    )


def customer_history(w: World, c: Customer) -> None:
    """Write one customer's whole history."""
    rng, sink = w.rng, w.sink
    created = c.obj["created"]
    sink.add(c.obj)
    sink.emit("customer.created", c.obj, created)
    roll = rng.random()
    subscriptions = 0 if roll < 0.38 else (1 if roll < 0.93 else 2)
    after = created
    for _ in range(subscriptions):
        plan = plan_subscription(w, c, after)
        if plan is None:
            break
        after = plan.start + DAY
        c.spawn(subscription_task(w, c, plan))
    if rng.random() < 0.18:
        for _ in range(rng.choice((1, 1, 2))):
            c.spawn(one_off_task(w, c, w.between(created, c.horizon - HOUR)))
    if rng.random() < 0.07:
        c.spawn(manual_invoice_task(w, c))
    if c.deleted_at is not None:
        c.spawn(_delete(w, c), last=True)
    c.run()


def _delete(w: World, c: Customer) -> Task:
    assert c.deleted_at is not None
    yield c.deleted_at
    w.sink.emit("customer.deleted", c.obj, c.deleted_at)
    w.deleted.append(c.obj["id"])


# -- subscriptions -------------------------------------------------------------------------------
def plan_subscription(w: World, c: Customer, after: int) -> SubPlan | None:
    """Choose where a new subscription is headed, and when it starts so it can get there."""
    rng, now, horizon = w.rng, w.now, c.horizon
    live = horizon == now and not c.on_clock

    def month_back(delta: int) -> int:
        return billing.period_boundary(now - delta, "month", 1, -rng.randint(1, 6))

    starts: dict[str, int] = {}
    #: When a subscription headed for each fate may start: (earliest, latest).
    windows = {
        "natural": (after, horizon - 2 * HOUR),
        "trialing": (max(after, now - 13 * DAY), now - HOUR),
        "paused": (after, now - 15 * DAY),
        "incomplete_expired": (after, horizon - DAY),
        "cancel_nonpayment": (after, horizon - 80 * DAY),
    }

    def feasible(fate: str) -> bool:
        if not live and fate not in ("natural", "incomplete_expired", "cancel_nonpayment"):
            return False
        if fate in ("past_due", "unpaid", "incomplete"):
            # these are placed from now backwards: the last renewal failed days (or weeks) ago
            start = {
                "past_due": lambda: month_back(rng.randint(2 * HOUR, 5 * DAY)),
                "unpaid": lambda: month_back(rng.randint(9 * DAY, 25 * DAY)),
                "incomplete": lambda: now - rng.randint(600, 22 * HOUR),
            }[fate]()
            windows[fate] = (after, now - 600)
        else:
            low, high = windows[fate]
            start = w.between(low, high)
            soon = after + int(rng.expovariate(1 / (12 * DAY)))
            if fate == "natural" and soon <= high and rng.random() < 0.75:
                start = soon  # most subscribe soon after signing up, some much later
        starts[fate] = start
        low, high = windows[fate]
        return low <= start <= high

    fate = w.pick("subscription", FATES, feasible, use_quota=not c.on_clock)
    if fate is None:
        return None
    start = starts[fate]
    monthly = fate in ("past_due", "unpaid")
    items = _items(w, c, start, monthly=monthly)
    if items is None:
        return None
    plan = SubPlan(start=start, fate=fate, items=items)
    if fate in ("trialing", "paused") or (fate == "natural" and rng.random() < 0.2):
        plan.trial_days = 14 if fate != "trialing" else rng.choice((14, 14, 30))
    if fate in ("natural", "trialing") and rng.random() < 0.18:
        plan.coupon = _coupon(w, start, items[0][0].currency)
    if fate == "natural":
        begins = start + (plan.trial_days or 0) * DAY
        cancel = begins + DAY + int(rng.expovariate(1 / (10 * 30 * DAY)))
        if cancel < horizon:
            plan.cancel_at = cancel
            plan.at_period_end = rng.random() < 0.45
    elif fate in ("past_due", "unpaid"):
        # the last renewal before now fails, and every retry after it
        k = 1
        while billing.period_boundary(start, "month", 1, k + 1) <= now:
            k += 1
        plan.fail_from = billing.period_boundary(start, "month", 1, k) - 1
    elif fate == "cancel_nonpayment":
        plan.fail_from = w.between(start + 30 * DAY, horizon - 40 * DAY)
        plan.after_retries = "cancel"
    return plan


def _items(
    w: World, c: Customer, t: int, *, monthly: bool
) -> list[tuple[PriceInfo, int | None]] | None:
    rng, catalog = w.rng, w.catalog
    usable = [
        p
        for p in catalog.prices
        if p.family.weight and p.currency == c.currency and p.interval and p.usable(t)
    ]
    if monthly:
        usable = [p for p in usable if p.interval == "month" and p.count == 1]
    if not usable:
        return None
    families = list(dict.fromkeys(p.family for p in usable))
    family = rng.choices(families, [f.weight for f in families])[0]
    choices = [p for p in usable if p.family is family]
    main = rng.choices(choices, [INTERVAL_WEIGHTS[(p.interval or "", p.count)] for p in choices])[0]
    qty = 1
    if family.key == "team":
        qty = min(60, 1 + int(rng.paretovariate(1.5) * 2))
    elif family.key == "enterprise":
        qty = min(400, 8 + int(rng.paretovariate(1.2) * 10))
    items: list[tuple[PriceInfo, int | None]] = [(main, qty)]
    if main.interval == "month" and main.count == 1:
        for key, chance in (("support", 0.12), ("api", 0.4 if qty > 8 else 0.1), ("storage", 0.05)):
            extra = catalog.find(key, main.currency, t, "month")
            if extra and rng.random() < chance:
                items.append((extra[0], 1))
    return items


def _coupon(w: World, t: int, currency: str) -> CouponInfo | None:
    usable = [c for c in w.catalog.coupons if c.usable(t, currency)]
    return w.rng.choice(usable) if usable else None


# -- one-off payments ----------------------------------------------------------------------------
def one_off_task(w: World, c: Customer, t: int) -> Task:
    """A one-time purchase paid by card, outside any invoice."""
    yield t
    rng, sink = w.rng, w.sink
    prices = w.catalog.find("onboarding", c.currency, t)
    amount = prices[0].stored["unit_amount"] if prices else convert(25000, c.currency)
    amount *= rng.choice((1, 1, 1, 2, 3))
    pi = operations.start_payment(
        sink,
        t,
        amount=amount,
        currency=c.currency,
        customer=c.obj,
        description="Onboarding Session",
        off_session=False,
    )
    if rng.random() >= 0.09:
        pi, charge = operations.attempt_payment(sink, pi, t, customer=c.obj)
        charge_follow_up(w, c, charge, t, None)
        return
    pi, _failed = operations.attempt_payment(
        sink, pi, t, customer=c.obj, failure_code=rng.choice(FAILURE_CODES)
    )
    later = t + rng.randint(HOUR, 2 * DAY)
    if later > c.horizon:
        return
    yield later
    if rng.random() < 0.6:
        pi, charge = operations.attempt_payment(sink, pi, later, customer=c.obj)
        charge_follow_up(w, c, charge, later, None)
    elif rng.random() < 0.5:
        operations.cancel_payment(sink, pi, later, "abandoned")


def guest_purchase(w: World, t: int) -> None:
    """A card payment from someone who never became a customer."""
    rng, sink = w.rng, w.sink
    currency = rng.choices(list(CURRENCY_WEIGHTS), list(CURRENCY_WEIGHTS.values()))[0]
    amount = convert(rng.choice((1900, 4900, 9900, 25000)), currency)
    pi = operations.start_payment(
        sink,
        t,
        amount=amount,
        currency=currency,
        customer=None,
        description="Workshop ticket",
        off_session=False,
    )
    guest = (f"guest{rng.randrange(10**6)}@example.com", f"{rng.choice(FIRST)} {rng.choice(LAST)}")
    code = rng.choice(FAILURE_CODES) if rng.random() < 0.1 else None
    _pi, charge = operations.attempt_payment(
        sink, pi, t, customer=None, failure_code=code, guest=guest
    )
    later = t + rng.randint(HOUR, 20 * DAY)
    if code is None and rng.random() < 0.05 and later <= w.now:
        operations.refund_charge(sink, charge, later, charge["amount"], "requested_by_customer")


# -- manual invoices -----------------------------------------------------------------------------
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

    status = w.pick("manual_invoice", MANUAL, feasible, use_quota=not c.on_clock)
    if status is None:
        return
    low = max(created, lows.get(status, created))
    high = horizon - HOUR - delay[status]
    crediting = status == "open" and (bool(w.quotas["credit_note"]) or rng.random() < 0.4)
    if crediting and high - 10 * DAY >= low:
        high -= 10 * DAY  # leave time to credit it, and perhaps void the credit note
    t = w.between(low, high)
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
    hours = rng.randint(2, 20)
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
