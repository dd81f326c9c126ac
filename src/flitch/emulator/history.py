"""A customer's history: sign-up, subscriptions, one-off purchases, manual invoices, and what
later happens to their payments (refunds, credit notes, disputes), ending in deletion for some.

Every customer's tasks run in time order (``world.Customer.run``), so the customer's balance and
invoice numbers follow the calendar across all of their subscriptions.
"""

from __future__ import annotations

from flitch.emulator import billing, operations
from flitch.emulator.catalog_seed import CouponInfo, PriceInfo, convert
from flitch.emulator.followups import charge_follow_up
from flitch.emulator.lifecycle import FAILURE_CODES, HOUR, SubPlan, subscription_task
from flitch.emulator.manual_invoices import manual_invoice_task
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
#: The weights of the present-day fates in a draw, which only a subscription whose own start
#: leads there can get (a renewal failed days ago, a first payment failed hours ago): about one
#: in seven of those renewed in the last days is past due. None is drawn into a trial: the
#: trials begun in the last two weeks (``TRIALS`` of the subscriptions) are still running.
NOW_FATES = {"trialing": 0.0, "past_due": 15.0, "unpaid": 6.0, "incomplete": 8.0}
#: The share of subscriptions that start with a free trial.
TRIALS = 0.4
#: How long a subscriber stays on average before cancelling (about 6 % churn a month).
LIFETIME = 16 * 30 * DAY


def new_customer(w: World, index: int, *, clock: Obj | None) -> Customer:
    """A customer signed up when the business's sign-up curve says (``growth``), or, on a
    test clock, since the clock was made."""
    rng, now = w.rng, w.now
    assert w.signups is not None, "the generator sets the sign-up curve"
    created = w.signups.draw(rng)
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
            # a delay from sign-up, not a time between sign-up and now: that would put most
            # deletions of the history in its last months
            deleted_at = created + 2 * DAY + int(rng.expovariate(1 / YEAR))
            if deleted_at > now - HOUR:
                deleted_at = None
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
            at = created + int(rng.expovariate(1 / (120 * DAY)))
            if at <= c.horizon - HOUR:
                c.spawn(one_off_task(w, c, at))
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
    """Choose where a new subscription is headed, and when it starts so it can get there.

    Every subscription starts when its customer would subscribe of their own accord, and a
    fate that shows only at the present (past due, unpaid, incomplete) is drawn only for one
    whose start leads there — a renewal that failed days ago, a first payment hours ago; those
    in trial now are the trials begun in the last two weeks. So the last weeks of the history
    hold no more of them than any other weeks. The coverage quotas alone place one of each
    where it fits, so that even a small account shows every status.
    """
    rng, now, horizon = w.rng, w.now, c.horizon
    live = horizon == now and not c.on_clock

    def month_back(delta: int) -> int:
        return billing.period_boundary(now - delta, "month", 1, -rng.randint(1, 6))

    # When the customer subscribes of their own accord: most soon after signing up, some
    # months later; as a delay, so that the later ones do not crowd the last months. One who
    # has not subscribed by now has no subscription (yet).
    mean = 12 * DAY if rng.random() < 0.75 else 150 * DAY
    natural = after + int(rng.expovariate(1 / mean))
    starts: dict[str, int] = {}
    #: When a subscription headed for each fate may start: (earliest, latest).
    windows = {
        "natural": (after, horizon - 2 * HOUR),
        "trialing": (max(after, now - 13 * DAY), now - HOUR),
        "paused": (after, now - 15 * DAY),
        "incomplete_expired": (after, horizon - DAY),
        "cancel_nonpayment": (after, horizon - 80 * DAY),
        "past_due": (after, now - 600),
        "unpaid": (after, now - 600),
        "incomplete": (max(after, now - 22 * HOUR), now - 600),
    }
    #: How long ago the last (failed) renewal of a fate placed from now backwards was.
    failed_ago = {"past_due": (2 * HOUR, 5 * DAY), "unpaid": (9 * DAY, 25 * DAY)}

    def fits(fate: str, start: int) -> bool:
        starts[fate] = start
        low, high = windows[fate]
        return low <= start <= high

    def feasible(fate: str) -> bool:
        """Where a fate can be placed: for a quota, the present-day ones from now backwards."""
        if not live and fate not in ("natural", "incomplete_expired", "cancel_nonpayment"):
            return False
        if fate in failed_ago:
            return fits(fate, month_back(rng.randint(*failed_ago[fate])))
        if fate == "incomplete":
            return fits(fate, now - rng.randint(600, 22 * HOUR))
        if fate == "natural":
            return fits(fate, natural)
        return fits(fate, w.between(*windows[fate]))

    def drawn(fate: str) -> bool:
        """Where a draw may lead: only where the natural start fits (a present-day fate only
        when the start leads there by now)."""
        if not live and fate not in ("natural", "incomplete_expired", "cancel_nonpayment"):
            return False
        if not fits(fate, natural):
            return False
        if fate in failed_ago:
            low, high = failed_ago[fate]
            last = _last_renewal(natural, now)
            return last is not None and low <= now - last <= high
        return True

    weights = FATES | NOW_FATES
    fate = w.pick("subscription", weights, feasible, use_quota=not c.on_clock, drawn=drawn)
    if fate is None:
        return None
    start = starts[fate]
    monthly = fate in ("past_due", "unpaid")
    items = _items(w, c, start, monthly=monthly)
    if items is None:
        return None
    plan = SubPlan(start=start, fate=fate, items=items)
    if fate in ("trialing", "paused") or (fate == "natural" and rng.random() < TRIALS):
        plan.trial_days = 14 if fate != "trialing" else rng.choice((14, 14, 30))
    if fate in ("natural", "trialing") and rng.random() < 0.18:
        plan.coupon = _coupon(w, start, items[0][0].currency)
    if fate == "natural":
        begins = start + (plan.trial_days or 0) * DAY
        cancel = begins + DAY + int(rng.expovariate(1 / LIFETIME))
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
        # payments start failing some months in (none by now: it runs on, paid)
        fail_from = start + 30 * DAY + int(rng.expovariate(1 / (LIFETIME / 2)))
        plan.fail_from = fail_from if fail_from <= horizon - 40 * DAY else None
        plan.after_retries = "cancel"
    return plan


def _last_renewal(start: int, now: int) -> int | None:
    """The last monthly renewal of a subscription started at ``start``, up to ``now``."""
    k, last = 1, None
    while (boundary := billing.period_boundary(start, "month", 1, k)) <= now:
        k, last = k + 1, boundary
    return last


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
        qty = min(40, 1 + int(rng.paretovariate(2.0) * 2))
    elif family.key == "enterprise":
        # a few dozen seats, now and then a hundred: not one customer paying more than the
        # rest of the business together
        qty = min(120, 6 + int(rng.paretovariate(2.5) * 6))
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


def guest_purchase(w: World, t: int, *, paid: bool = False) -> None:
    """A card payment from someone who never became a customer (``paid``: one that
    succeeds)."""
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
    code = rng.choice(FAILURE_CODES) if rng.random() < 0.1 and not paid else None
    _pi, charge = operations.attempt_payment(
        sink, pi, t, customer=None, failure_code=code, guest=guest
    )
    later = t + rng.randint(HOUR, 20 * DAY)
    if code is None and rng.random() < 0.05 and later <= w.now:
        operations.refund_charge(sink, charge, later, charge["amount"], "requested_by_customer")
