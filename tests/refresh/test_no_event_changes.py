"""Changes Stripe makes with no event of the changed object's own are caught by the incremental
refresh (the README's "Changes without an event of their own").

Each test makes the change in the emulator the way Stripe makes it — with only the events
Stripe sends, none of them about the changed object — checks that much, refreshes, and expects
the cache to hold the object as Stripe now lists it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from flitch import catalog
from flitch.connections.records import RunOutcome
from flitch.emulator import billing
from flitch.emulator.store import ModeStore, Obj
from flitch.refresh import Strategy, plan, refresh, unannounced
from flitch.refresh.verify import verify
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World
from tests.refresh.helpers import StoreSink, cached, differences, stripe_truth

HOUR = 3600
DAY = 86400
README = Path(__file__).resolve().parents[2] / "README.md"


def _first(world: World, objects: str | None = None) -> None:
    world.service.create("Shop", TEST_KEY, refresh="1h", objects=objects)
    result = refresh(world.service, "Shop", clock=world.clock)
    assert result.outcome is RunOutcome.OK, result.to_dict()


def _refresh(world: World, *incremental: str) -> dict[str, Strategy]:
    """Refresh two minutes on; the datasets named are read from events, not in full."""
    world.advance(120)
    result = refresh(world.service, "Shop", clock=world.clock)
    assert result.outcome is RunOutcome.OK, result.to_dict()
    strategies = {d.name: d.strategy for d in result.datasets}
    assert all(strategies[name] is not Strategy.FULL for name in incremental), strategies
    return strategies


def _snapshot(store: ModeStore, kind: str) -> dict[str, bytes]:
    return {o["id"]: store.json(o) for o in store.ordered(kind).objects}


def _changed(store: ModeStore, kind: str, before: dict[str, bytes]) -> set[str]:
    return {i for i, raw in _snapshot(store, kind).items() if i in before and before[i] != raw}


def _unannounced(store: ModeStore, ids: set[str], since: int) -> None:
    """No event since ``since`` is about one of ``ids`` (its ``data.object``)."""
    for event in store.ordered("event").objects:
        if event["created"] >= since:
            assert event["data"]["object"]["id"] not in ids, event["type"]


def _same(world: World, dataset: str, ids: set[str]) -> None:
    """The cache holds each of ``ids`` as Stripe lists it."""
    spec = catalog.get(dataset)
    truth = stripe_truth(world.emulator, TEST_KEY, spec)
    rows = cached(world.service, "Shop", spec)
    for object_id in ids:
        assert rows[object_id] == truth[object_id], object_id


def _open_invoice(store: ModeStore) -> tuple[Obj, Obj, Obj]:
    """An open invoice off test clocks, the payment intent collecting it and their link."""
    links = {link["invoice"]: link for link in store.ordered("invoice_payment").objects}
    for inv in store.ordered("invoice").objects:
        link = links.get(inv["id"])
        if inv["status"] != "open" or inv["amount_remaining"] < 4 or link is None:
            continue
        pi = store.get(link["payment"]["payment_intent"])
        if pi is not None and pi["status"] == "requires_payment_method":
            return inv, pi, link
    raise AssertionError("the generator made no open invoice with a payment intent")


def _credit(world: World) -> tuple[Obj, Obj, Obj]:
    """A credit note on an open invoice; returns the note, the invoice and its intent before."""
    store = world.account.test
    inv, pi, link = _open_invoice(store)
    t = int(world.clock.t)
    sink = StoreSink(store, t)
    note, _inv = billing.issue_credit_note(
        sink,
        inv,
        t,
        amount=inv["amount_remaining"] // 4,
        reason="order_change",
        sequence=1,
        customer=store.get(inv["customer"]) or {},
        pi=pi,
        link=link,
    )
    return note, inv, pi


# -- payment intents --------------------------------------------------------------------------
def test_a_credit_note_on_an_open_invoice_lowers_its_payment_intent(world: World) -> None:
    """The issue's case: 1,100 → 825 with only credit_note.created and invoice.updated."""
    _first(world)
    world.advance(HOUR)
    t = int(world.clock.t)
    _note, inv, pi = _credit(world)
    store = world.account.test
    now = store.get(pi["id"])
    assert now is not None
    assert now["amount"] == pi["amount"] - inv["amount_remaining"] // 4
    _unannounced(store, {pi["id"]}, t)

    _refresh(world, "payment_intents")

    _same(world, "payment_intents", {pi["id"]})
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_voiding_that_credit_note_raises_the_amount_again(world: World) -> None:
    _first(world)
    world.advance(HOUR)
    note, inv, pi = _credit(world)
    _refresh(world, "payment_intents")
    _same(world, "payment_intents", {pi["id"]})  # lowered
    world.advance(HOUR)
    store = world.account.test
    t = int(world.clock.t)
    sink = StoreSink(store, t)
    link = next(i for i in store.ordered("invoice_payment").objects if i["invoice"] == inv["id"])
    billing.void_credit_note(
        sink, store.get(note["id"]) or {}, store.get(inv["id"]) or {}, t, store.get(pi["id"]), link
    )
    assert (store.get(pi["id"]) or {})["amount"] == pi["amount"]
    _unannounced(store, {pi["id"]}, t)

    _refresh(world, "payment_intents")

    _same(world, "payment_intents", {pi["id"]})


def test_a_shop_editing_a_payment_intent_is_caught_while_it_is_open(make_world: Any) -> None:
    """No ``payment_intent.updated`` exists: open intents of the last day are read again (an
    account big enough that re-reading them by id costs less than reading all of them)."""
    world: World = make_world(customers=100)
    # The history's own open intents of its last days are settled first: how many there are
    # depends on the date the account was generated at, and re-reading them by id must stay
    # cheaper than a full read (else the refresh rightly reads the dataset in full)
    store = world.account.test
    for pi in list(store.ordered("payment_intent").objects):
        if (
            pi["status"] not in ("succeeded", "canceled")
            and pi["created"] > world.clock.t - 3 * DAY
        ):
            settled = {**pi, "status": "canceled", "cancellation_reason": "abandoned"}
            store.put({**settled, "canceled_at": int(world.clock.t) - HOUR})
    world.emulator.apply_changes("failed_charge", 2)  # open intents, older than the cursor
    world.advance(HOUR)
    _first(world, "payment_intents")
    world.advance(HOUR)
    store = world.account.test
    before = _snapshot(store, "payment_intent")
    t = int(world.clock.t)
    events = world.emulator.apply_changes("update_payment_intent", 2)
    edited = _changed(store, "payment_intent", before)
    assert edited
    assert events == []
    _unannounced(store, edited, t)
    world.emulator.log.clear()

    _refresh(world, "payment_intents")

    by_id = {r.path.rsplit("/", 1)[1] for r in world.emulator.log.entries if r.path.count("/") == 3}
    assert edited <= by_id
    _same(world, "payment_intents", edited)


def test_open_payment_intents_older_than_a_day_are_not_read_again(world: World) -> None:
    """The re-read is bounded: what a shop changes later is left to ``--verify``."""
    world.emulator.apply_changes("failed_charge", 4)
    world.advance(2 * DAY)
    _first(world, "payment_intents")
    world.advance(HOUR)
    world.emulator.log.clear()
    _refresh(world, "payment_intents")
    by_id = [r.path for r in world.emulator.log.entries if r.path.count("/") == 3]
    assert by_id == []


# -- charges ---------------------------------------------------------------------------------
def test_a_disputed_charge_is_read_again_from_its_dispute(world: World) -> None:
    _first(world)
    world.advance(HOUR)
    store = world.account.test
    t = int(world.clock.t)
    events = world.emulator.apply_changes("dispute", 2)
    charges = {e["data"]["object"]["charge"] for e in events if e["type"].startswith("charge.d")}
    assert charges
    assert all((store.get(c) or {})["disputed"] for c in charges)
    _unannounced(store, charges, t)

    _refresh(world, "charges")

    _same(world, "charges", charges)


# -- customers and coupons ----------------------------------------------------------------------
def test_a_customer_discount_is_read_again_with_its_coupon(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "READ_IN_FULL_WHILE_SMALL", {})  # coupons by events too
    _first(world, "customers,coupons")
    world.advance(HOUR)
    store = world.account.test
    customers, coupons = _snapshot(store, "customer"), _snapshot(store, "coupon")
    t = int(world.clock.t)
    events = world.emulator.apply_changes("customer_discount", 2)
    assert {e["type"] for e in events} == {"customer.discount.created"}
    changed = _changed(store, "customer", customers) | _changed(store, "coupon", coupons)
    assert len(changed) >= 3  # two customers and at least one coupon
    _unannounced(store, changed, t)

    _refresh(world, "customers", "coupons")

    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_a_coupon_past_its_redeem_by_stops_being_valid(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "READ_IN_FULL_WHILE_SMALL", {})
    world.emulator.apply_changes("new_coupon", 2)  # valid for 30 days
    world.advance(HOUR)
    _first(world, "coupons")
    store = world.account.test
    ending = [c for c in store.ordered("coupon").objects if c["valid"] and c["redeem_by"]]
    assert ending
    world.advance(max(c["redeem_by"] for c in ending) - world.clock.t - DAY)
    _refresh(world, "coupons")  # a day before: still valid (and the cursor within the events kept)
    world.advance(2 * DAY)
    world.emulator.apply_changes("new_customer", 1)  # time passes for the account
    assert not any((store.get(c["id"]) or {})["valid"] for c in ending)

    _refresh(world, "coupons")

    _same(world, "coupons", {c["id"] for c in ending})


# -- balance transactions -----------------------------------------------------------------------
def test_pending_balance_becomes_available_with_time_alone(world: World) -> None:
    world.emulator.apply_changes("new_charge", 3)  # settled days from now: pending until then
    _first(world, "balance_transactions")
    store = world.account.test
    waiting = [t for t in store.ordered("balance_transaction").objects if t["status"] == "pending"]
    assert waiting
    pending = {t["id"] for t in waiting}
    # past the first one's available_on (days ahead, more over a weekend: it depends on the date)
    world.advance(max(HOUR, min(t["available_on"] for t in waiting) - world.clock.t + HOUR))
    t = int(world.clock.t)
    world.emulator.apply_changes("new_customer", 1)
    became = {i for i in pending if (store.get(i) or {})["status"] == "available"}
    assert became
    _unannounced(store, became, t)

    _refresh(world, "balance_transactions")

    _same(world, "balance_transactions", became)


# -- the table and the whole account ------------------------------------------------------------
def _readme_table() -> dict[str, str]:
    """The README's table of changes without an event: object -> the text of its rows."""
    text = README.read_text(encoding="utf-8")
    start = text.index("### Changes without an event of their own")
    section = text[start : text.index("\n## ", start)]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and not set(cells[0]) <= {"-", " "}:
            rows[cells[0]] = rows.get(cells[0], "") + line
    return rows


def test_the_readme_lists_each_field_and_how_it_is_caught() -> None:
    rows = _readme_table()
    for spec in catalog.OBJECTS:
        assert spec.label in rows, spec.label
    for fact in unannounced.FACTS:
        row = rows[catalog.get(fact.dataset).label]
        for name in fact.fields:
            assert re.search(rf"`{re.escape(name)}`", row), (fact.dataset, name)
        assert fact.caught.value in row, (fact.dataset, fact.caught)


@pytest.mark.slow
def test_the_demo_account_after_ten_rounds_of_mix_verifies_clean(
    make_world: Any,
) -> None:
    """The demo account (300 customers), ten rounds of the emulator's ``mix`` — six hours apart,
    so balance becomes available and open payment intents age — each followed by an
    incremental refresh; then ``--verify`` finds nothing to repair."""
    world: World = make_world(customers=300)
    _first(world)
    store = world.account.test
    txns = store.ordered("balance_transaction").objects
    pending = {t["id"] for t in txns if t["status"] == "pending"}
    unannounced_changes = 0
    by_events: Counter[str] = Counter()
    for _ in range(10):
        world.advance(6 * HOUR)
        before = _snapshot(store, "payment_intent")
        events = world.emulator.apply_changes("mix", 30)
        announced = {e["data"]["object"]["id"] for e in events}
        unannounced_changes += len(_changed(store, "payment_intent", before) - announced)
        strategies = _refresh(world, "customers", "charges", "invoices", "balance_transactions")
        by_events.update(n for n, s in strategies.items() if s is not Strategy.FULL)
    # a payment intent dataset with many open intents may be cheaper to read in full
    assert by_events["payment_intents"] >= 5, by_events
    assert unannounced_changes > 0
    # 60 h later, what was pending and is due by now is available (a weekend may move a
    # transaction's available_on past the run, depending on the date)
    due = [t for i in pending if (t := store.get(i) or {}).get("available_on", 0) <= world.clock.t]
    assert due
    assert all(t["status"] == "available" for t in due)

    result = verify(world.service, "Shop", clock=world.clock)

    assert result.error is None
    assert result.complete
    assert result.differences == 0, result.to_dict()
