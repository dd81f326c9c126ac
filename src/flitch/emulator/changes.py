"""Activity while the emulator runs: operations that move the account like a real business.

``apply_changes(store, kind, count)`` performs ``count`` operations of one kind (``KINDS``;
``"mix"`` draws a realistic blend) on one mode's data and returns the events they created.
Each operation is what Stripe does when it happens — a new charge comes with its payment intent
and balance transaction, a refund updates the charge and takes money out of the balance, a
cancellation ends the subscription — and emits the events Stripe would, and only those (updates
carry ``data.previous_attributes``): some changes have no event at all (a shop's edit of a
payment intent), or only one about another object (a credit note lowers its invoice's payment
intent). Before the operations, each call first applies what time alone has changed since the
last (``changes_billing.pass_time``). Objects are never changed in place: a changed object is a
copy ``put`` into the store (so its cached JSON is refreshed), keeping its ``created``.

An operation that finds nothing to act on (no open invoice to pay, say) does nothing. The whole
call holds ``store.lock``. The kinds about customers and the catalog are here; those about
subscriptions, invoices and payments are in ``changes_billing``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from flitch import clock as clocks
from flitch.emulator import shapes
from flitch.emulator import shapes_money as money
from flitch.emulator.billing import cancel_subscription
from flitch.emulator.operations import DAY, payment_method_of
from flitch.emulator.shapes import API_VERSION, Obj, Rng, new_id
from flitch.emulator.store import ModeStore

Kind = Callable[["Context"], None]


class StoreSink:
    """The running server's ``Sink``: copy before changing, ``put`` every change, keep events."""

    def __init__(self, store: ModeStore, rng: random.Random, now: int) -> None:
        self.store = store
        self.rng = rng
        self.now = now
        self.livemode = store.livemode
        self.events: list[Obj] = []
        #: objects added or changed (a change may come with no event)
        self.writes = 0

    def add(self, obj: Obj) -> None:
        self.store.put(obj)
        self.writes += 1

    def edit(self, obj: Obj) -> Obj:
        copied: Obj = orjson.loads(orjson.dumps(obj))
        return copied

    def save(self, obj: Obj) -> None:
        self.store.put(obj)
        self.writes += 1

    def done(self) -> int:
        """How much has happened so far: writes and events (a deletion is only an event)."""
        return self.writes + len(self.events)

    def emit(
        self, type_: str, obj: Obj, t: int, previous: Obj | None = None, *, auto: bool = False
    ) -> None:
        # ``obj`` is never changed after this: a later change works on a copy.
        event = money.event(
            id=new_id(self.rng, "evt_"),
            created=t,
            livemode=self.livemode,
            type=type_,
            obj=obj,
            previous=previous,
            request_id=None if auto else new_id(self.rng, "req_", 14),
            api_version=API_VERSION,
        )
        self.store.put(event)
        self.events.append(event)


class Context:
    """One call's state: the store, its sink, the clock and helpers to find things."""

    def __init__(self, store: ModeStore, rng: random.Random, now: int) -> None:
        self.store = store
        self.rng = rng
        self.now = now
        # New ids come from a generator that also depends on the time and on what the store
        # holds, so a caller that seeds its rng the same way twice still never repeats an id.
        size = sum(store.count(t) for t in store.types()) + len(store.tombstones)
        self.sink = StoreSink(store, Rng(f"{rng.getrandbits(64)}:{now}:{size}"), now)

    def find(
        self, kind: str, accept: Callable[[Obj], bool] = lambda _o: True, *, recent: bool = False
    ) -> Obj | None:
        """A random object of ``kind`` that ``accept``s (``recent``: newer ones more likely)."""
        objects = self.store.ordered(kind).objects
        if not objects:
            return None
        n = len(objects)
        for _ in range(80):
            r = self.rng.random()
            obj = objects[int(n * (r * r if recent else r))]
            if accept(obj):
                return obj
        matches = [o for o in objects if accept(o)]
        return self.rng.choice(matches) if matches else None

    def new_id(self, prefix: str, length: int = 24) -> str:
        """A fresh id (never one the caller's rng, seeded again, would repeat)."""
        return new_id(self.sink.rng, prefix, length)

    def every(self, kind: str, accept: Callable[[Obj], bool]) -> list[Obj]:
        return [o for o in self.store.ordered(kind).objects if accept(o)]

    def get(self, object_id: str | None) -> Obj | None:
        return None if object_id is None else self.store.get(object_id)


# -- customers -----------------------------------------------------------------------------------
FIRST = ("Ava", "Noah", "Mia", "Liam", "Sofia", "Lucas", "Yuki", "Omar", "Elena", "Kofi")
LAST = ("Rivera", "Chen", "Novak", "Okafor", "Lindqvist", "Sato", "Haddad", "Moreau", "Berg")


def new_customer(cx: Context) -> None:
    rng = cx.rng
    first, last = rng.choice(FIRST), rng.choice(LAST)
    cid = cx.new_id("cus_", 14)
    obj = shapes.customer(
        id=cid,
        created=cx.now,
        livemode=cx.store.livemode,
        email=f"{first}.{last}.{cid[-5:]}@example.com".lower(),
        name=f"{first} {last}",
        description=None,
        invoice_prefix=cx.new_id("", 8).upper(),
        payment_method=payment_method_of(cid)[0],
        metadata={"signup": rng.choice(("web", "sales", "partner"))},
    )
    cx.sink.add(obj)
    cx.sink.emit("customer.created", obj, cx.now)


def _live_customer(c: Obj) -> bool:
    return not c.get("test_clock")


def update_customer(cx: Context) -> None:
    customer = cx.find("customer", _live_customer)
    if customer is None:
        return
    sink = cx.sink
    obj = sink.edit(customer)
    local, domain = obj["email"].split("@", 1)
    values: Obj = cx.rng.choice(
        (
            {"email": f"{local}+billing@{domain}"},
            {"description": "Moved to annual invoicing"},
            {"metadata": {**obj["metadata"], "segment": cx.rng.choice(("smb", "mid", "ent"))}},
            {"phone": f"+44207946{cx.rng.randrange(10000):04d}"},
        )
    )
    previous = {k: obj.get(k) for k in values}
    obj.update(values)
    sink.save(obj)
    sink.emit("customer.updated", obj, cx.now, previous)


def delete_customer(cx: Context) -> None:
    """Deleting a customer cancels their subscriptions; the id then answers with a tombstone."""
    customer = cx.find("customer", _live_customer)
    if customer is None:
        return
    for sub in cx.every("subscription", lambda s: s["customer"] == customer["id"]):
        if sub["status"] not in ("canceled", "incomplete_expired"):
            cancel_subscription(cx.sink, sub, cx.now, reason="cancellation_requested")
    cx.store.delete(customer["id"])
    cx.sink.emit("customer.deleted", customer, cx.now)


# -- the catalog ---------------------------------------------------------------------------------
PRODUCT_NAMES = ("Reports Pro", "Data Export", "Audit Log", "Team Inbox", "White Label")


def new_product(cx: Context) -> None:
    rng, sink = cx.rng, cx.sink
    product = shapes.product(
        id=cx.new_id("prod_", 14),
        created=cx.now,
        livemode=cx.store.livemode,
        name=rng.choice(PRODUCT_NAMES),
        description="New this month.",
    )
    sink.add(product)
    sink.emit("product.created", product, cx.now)
    _add_price(cx, product, rng.choice(("usd", "eur", "gbp", "jpy")))


def _add_price(cx: Context, product: Obj, currency: str) -> None:
    rng = cx.rng
    amount = rng.choice((900, 1900, 2900, 4900))
    if currency == "jpy":
        amount = amount * 3 // 2 // 100 * 100
    interval = rng.choice(("month", "month", "year"))
    price = shapes.price(
        id=cx.new_id("price_"),
        created=cx.now,
        livemode=cx.store.livemode,
        product=product["id"],
        currency=currency,
        unit_amount=amount * (10 if interval == "year" else 1),
        interval=interval,
        nickname=f"{product['name']} {interval}ly",
    )
    cx.sink.add(price)
    cx.sink.emit("price.created", price, cx.now)


def new_price(cx: Context) -> None:
    product = cx.find("product", lambda p: bool(p["active"]))
    if product is not None:
        currency = cx.rng.choice(("usd", "eur", "gbp", "jpy"))
        _add_price(cx, product, currency)


def archive_price(cx: Context) -> None:
    """Stripe cannot delete a price, only archive it (``active: false``); subscriptions go on."""
    price = cx.find("price", lambda p: bool(p["active"]))
    if price is None:
        return
    obj = cx.sink.edit(price)
    obj["active"] = False
    cx.sink.save(obj)
    cx.sink.emit("price.updated", obj, cx.now, {"active": True})


def delete_product(cx: Context) -> None:
    """Stripe deletes only a product without prices; any other product is archived instead."""
    priced = {p["product"] for p in cx.store.ordered("price").objects}
    product = cx.find("product", lambda p: p["id"] not in priced)
    if product is not None:
        cx.store.delete(product["id"])
        cx.sink.emit("product.deleted", product, cx.now)
        return
    product = cx.find("product", lambda p: bool(p["active"]))
    if product is None:
        return
    obj = cx.sink.edit(product)
    obj.update(active=False, updated=cx.now)
    cx.sink.save(obj)
    cx.sink.emit("product.updated", obj, cx.now, {"active": True, "updated": product["updated"]})


def new_coupon(cx: Context) -> None:
    rng = cx.rng
    percent = rng.random() < 0.7
    duration = rng.choice(("once", "repeating", "forever"))
    coupon = shapes.coupon(
        id=cx.new_id("", 8) if rng.random() < 0.5 else f"SAVE{rng.randrange(10, 60)}",
        created=cx.now,
        livemode=cx.store.livemode,
        name="Spring promotion",
        duration=duration,
        percent_off=float(rng.choice((10, 15, 20, 25))) if percent else None,
        amount_off=None if percent else rng.choice((500, 1000, 2000)),
        currency=None if percent else "usd",
        duration_in_months=3 if duration == "repeating" else None,
        redeem_by=cx.now + 30 * DAY,
    )
    if cx.store.get(coupon["id"]) is not None or coupon["id"] in cx.store.tombstones:
        coupon["id"] = cx.new_id("", 8)
    cx.sink.add(coupon)
    cx.sink.emit("coupon.created", coupon, cx.now)


def delete_coupon(cx: Context) -> None:
    """Deleting a coupon stops new redemptions; discounts already given keep it."""
    coupon = cx.find("coupon")
    if coupon is not None:
        cx.store.delete(coupon["id"])
        cx.sink.emit("coupon.deleted", coupon, cx.now)


# -- the registry --------------------------------------------------------------------------------
def _registry() -> dict[str, tuple[Kind, float]]:
    from flitch.emulator import changes_billing as b
    from flitch.emulator import changes_subscriptions as s

    return {
        # kind: (operation, weight in "mix")
        "new_customer": (new_customer, 8.0),
        "update_customer": (update_customer, 3.0),
        "delete_customer": (delete_customer, 1.0),
        "new_subscription": (s.new_subscription, 8.0),
        "renew_subscription": (s.renew_subscription, 20.0),
        "upgrade": (s.upgrade, 3.0),
        "downgrade": (s.downgrade, 2.0),
        "change_quantity": (s.change_quantity, 2.0),
        "cancel_subscription": (s.cancel_now, 4.0),
        "cancel_at_period_end": (s.cancel_at_period_end, 2.0),
        "new_charge": (b.new_charge, 10.0),
        "failed_charge": (b.failed_charge, 4.0),
        "update_payment_intent": (b.update_payment_intent, 3.0),
        "refund": (b.refund, 4.0),
        "partial_refund": (b.partial_refund, 2.0),
        "dispute": (b.dispute, 1.0),
        "close_dispute": (b.close_dispute, 1.0),
        "finalize_invoice": (b.finalize_draft, 2.0),
        "pay_invoice": (b.pay_invoice, 6.0),
        "void_invoice": (b.void_open_invoice, 1.0),
        "mark_uncollectible": (b.write_off_invoice, 0.5),
        "credit_note": (b.credit_note, 1.0),
        "void_credit_note": (b.void_credit, 0.5),
        "payout": (b.payout, 2.0),
        "new_product": (new_product, 0.3),
        "new_price": (new_price, 0.3),
        "archive_price": (archive_price, 0.3),
        "delete_product": (delete_product, 0.2),
        "new_coupon": (new_coupon, 0.3),
        "delete_coupon": (delete_coupon, 0.2),
        "customer_discount": (s.customer_discount, 0.5),
    }


KINDS: tuple[str, ...] = (*_registry(), "mix")


def apply_changes(
    store: ModeStore,
    kind: str,
    count: int = 1,
    *,
    rng: random.Random | None = None,
    now: int | None = None,
) -> list[dict[str, Any]]:
    """Perform ``count`` operations of ``kind`` on ``store``, after what time alone changed;
    returns the events created (an operation Stripe does not announce adds none).

    ``now`` (default: the wall clock) is when they happen; ``rng`` (default: a fresh, unseeded
    one) makes them reproducible when given.
    """
    from flitch.emulator.changes_billing import pass_time

    registry = _registry()
    if kind != "mix" and kind not in registry:
        raise ValueError(f"unknown change kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    chooser = rng or random.Random()
    at = int(clocks.now()) if now is None else int(now)
    with store.lock:
        cx = Context(store, chooser, at)
        pass_time(cx)
        names = list(registry)
        for _ in range(count):
            if kind != "mix":
                registry[kind][0](cx)
                continue
            # A drawn kind may find nothing to act on (no invoice is open): draw another, and
            # leave that kind out for the rest of this call (looking again costs a full scan).
            before = cx.sink.done()
            while cx.sink.done() == before and names:
                name = chooser.choices(names, [registry[n][1] for n in names])[0]
                registry[name][0](cx)
                if cx.sink.done() == before:
                    names.remove(name)
        return cx.sink.events
