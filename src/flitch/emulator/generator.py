"""The seeded account: a deterministic, consistent, realistic Stripe account in both modes.

``generate_account(seed, customers, now)`` writes two years of a subscription business before
``now``, growing steadily with the seasons (``growth``: when people sign up; churn, failed
payments and plan changes follow from each subscription's life, so no stretch of the history,
the last days included, is busier than its season): a catalog (``catalog_seed``), then each
customer's history (``history``: sign-up,
subscriptions through every status, invoices, payments, refunds, credit notes, disputes,
deletions), then the weekly payouts of every currency's available balance (``ledger``). Every
amount moves through a balance transaction with its fee; every reference resolves (a deleted
customer's id resolves to its tombstone). The last 30 days of activity are also events, the
older of them in the account's previous API version.

Determinism: the same ``seed``, ``customers`` and ``now`` give byte-identical objects. ``now``
defaults to ``REFERENCE_NOW`` (a fixed time, not the wall clock), so tests and benchmarks see
the same account every run; the demo passes the real time so the data looks current. Test and
live mode are separate accounts of the same size, from the seed with the mode mixed in; only
test mode has test clocks.
"""

from __future__ import annotations

import gc
import random

from flitch.emulator.catalog_seed import build_catalog, settle_coupons
from flitch.emulator.growth import SignupCurve
from flitch.emulator.history import customer_history, guest_purchase, new_customer
from flitch.emulator.ledger import schedule_payouts
from flitch.emulator.operations import DAY
from flitch.emulator.shapes import Obj, Rng, new_id, test_clock
from flitch.emulator.store import Account, ModeStore
from flitch.emulator.world import GenSink, World

#: 2026-11-01T00:00:00Z: the default "now" of a generated account.
REFERENCE_NOW = 1_793_491_200
HOUR = 3600
#: How far back the account's history goes.
HISTORY = 2 * 365 * DAY
#: Options every account shows at least once (each picked by the first customer it fits).
QUOTAS: dict[str, tuple[str, ...]] = {
    "subscription": (
        "trialing",
        "paused",
        "past_due",
        "unpaid",
        "incomplete",
        "incomplete_expired",
        "cancel_nonpayment",
    ),
    "manual_invoice": ("draft", "open", "paid", "void", "uncollectible"),
    "refund": ("full", "partial", "credit_note", "credit_balance"),
    "dispute": (
        "needs_response",
        "under_review",
        "won",
        "lost",
        "warning_needs_response",
        "warning_under_review",
        "warning_closed",
    ),
    "credit_note": ("void", "issued"),
    "deletion": ("recent",),
    "recent_refund": ("yes",),
}


def generate_account(seed: int = 42, customers: int = 300, now: int | None = None) -> Account:
    """A generated account: test and live data of ``customers`` customers each, up to ``now``."""
    if customers < 0:
        raise ValueError(f"customers must be 0 or more, not {customers}")
    at = REFERENCE_NOW if now is None else int(now)
    account = Account()
    # The objects form no reference cycles; collecting while hundreds of thousands of fresh
    # containers pile up would only re-scan them over and over (most of the time, at scale).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for livemode in (False, True):
            rng = Rng(f"flitch-emulator:{seed}:{'live' if livemode else 'test'}")
            fill_mode(account.mode(livemode), rng, customers, at)
    finally:
        if collecting:
            gc.enable()
    # The account lives as long as the server: park its objects where the collector no longer
    # re-scans them (a full collection over a large account takes seconds). Objects replaced
    # later are still freed by reference counting; none of them form cycles.
    gc.freeze()
    return account


def fill_mode(store: ModeStore, rng: random.Random, customers: int, now: int) -> None:
    """Write one mode's account into an empty ``store``."""
    sink = GenSink(rng, store.livemode, now)
    catalog = build_catalog(sink, now, customers)
    world = World(sink, catalog, now, quotas={k: list(v) for k, v in QUOTAS.items()})
    world.signups = SignupCurve(now - HISTORY, now - 60)
    clocks = _test_clocks(sink, customers) if not store.livemode else []
    on_clock = 3 * len(clocks)
    for index in range(customers):
        clock = clocks[index % len(clocks)] if index < on_clock else None
        customer_history(world, new_customer(world, index, clock=clock))
    for n in range(customers // 25):
        if n == 0:
            # one paid a few hours ago: every account has money still pending in its balance
            guest_purchase(world, now - world.rng.randint(HOUR, 20 * HOUR), paid=True)
        else:
            guest_purchase(world, min(world.signups.draw(world.rng, movers=False), now - HOUR))
    settle_coupons(catalog, now)
    paid_out_by: dict[str, str] = {}
    schedule_payouts(
        sink, list(sink.objects.get("balance_transaction", [])), paid_out_by, now - HISTORY
    )
    for object_type in sorted(sink.objects):
        store.load_sorted(object_type, sink.objects[object_type])
    store.load_sorted("event", sink.events)
    store.paid_out_by.update(paid_out_by)
    for customer_id in world.deleted:
        store.delete(customer_id)
    for product, _when in catalog.deleted_products:
        store.delete(product["id"])
    for coupon in catalog.coupons:
        if coupon.deleted_at is not None:
            store.delete(coupon.obj["id"])


def _test_clocks(sink: GenSink, customers: int) -> list[Obj]:
    """Test clocks (test mode only), each with a few customers Stripe hides from lists."""
    clocks = []
    count = 1 + customers // 300
    for n in range(count):
        # Stripe deletes a test clock 30 days after it is made: these are all younger
        created = sink.now - (2 * DAY + n * 23 * DAY // count) - sink.rng.randrange(3600)
        clock = test_clock(
            id=new_id(sink.rng, "clock_"),
            created=created,
            name=f"Renewal test {n + 1}",
            frozen_time=sink.now,
        )
        sink.add(clock)
        clocks.append(clock)
    return clocks


def summary(account: Account) -> dict[str, dict[str, int]]:
    """How many objects of each type each mode holds (deleted objects not counted)."""
    return {
        mode: {t: store.count(t) for t in store.types() if store.count(t)}
        for mode, store in (("test", account.test), ("live", account.live))
    }
