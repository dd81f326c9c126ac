"""Later refreshes are incremental (events since the cursor) and miss nothing."""

from __future__ import annotations

from typing import Any

import pytest

from flitch import catalog
from flitch.connections.records import RunOutcome
from flitch.emulator import billing, operations
from flitch.emulator.store import ModeStore
from flitch.refresh import Strategy, refresh
from flitch.stripe_source.client import API_VERSION as API
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World
from tests.refresh.helpers import StoreSink, differences


def _first(world: World, **create: Any) -> None:
    world.service.create("Shop", TEST_KEY, refresh="1h", **create)
    result = refresh(world.service, "Shop", clock=world.clock)
    assert result.outcome is RunOutcome.OK, result.to_dict()


def _pick(store: ModeStore, kind: str, **wanted: Any) -> dict[str, Any]:
    for obj in store.ordered(kind).objects:
        if all(obj.get(k) == v for k, v in wanted.items()) and not obj.get("test_clock"):
            return obj
    raise AssertionError(f"no {kind} with {wanted}")


def _change_everything(world: World) -> StoreSink:
    """New, updated, refunded, canceled and deleted objects; some events in the old version."""
    store = world.account.test
    t = int(world.clock.t)
    sink = StoreSink(store, t)
    customer = _pick(store, "customer")
    pi = operations.start_payment(
        sink,
        t,
        amount=4200,
        currency="usd",
        customer=customer,
        description="New",
        off_session=False,
    )
    operations.attempt_payment(sink, pi, t, customer=customer)
    charge = _pick(store, "charge", status="succeeded", refunded=False, disputed=False)
    operations.refund_charge(sink, charge, t, charge["amount"], "requested_by_customer")
    billing.cancel_subscription(sink, _pick(store, "subscription", status="active"), t, reason="x")
    sink.update(_pick(store, "price", active=True)["id"], "price.updated", nickname="Renamed")
    sink.update(_pick(store, "product")["id"], "product.updated", name="Renamed product")
    sink.delete(_pick(store, "coupon")["id"], "coupon.deleted")
    gone = [c for c in store.ordered("customer").objects if not c.get("test_clock")][-1]
    sink.delete(gone["id"], "customer.deleted")
    sink.old_version = True  # the account's events of another API version: re-read by id
    sink.update(_pick(store, "invoice", status="paid")["id"], "invoice.updated", description="Old")
    sink.update(
        _pick(store, "subscription", status="active")["id"],
        "customer.subscription.updated",
        description="Old version",
    )
    sink.old_version = False
    return sink


def test_incremental_refresh_equals_a_full_read(world: World) -> None:
    _first(world)
    world.advance(3600)
    _change_everything(world)
    world.advance(120)

    result = refresh(world.service, "Shop", clock=world.clock)

    assert result.outcome is RunOutcome.OK, result.to_dict()
    by_name = {d.name: d for d in result.datasets}
    assert by_name["balance_transactions"].strategy is Strategy.CREATED
    assert by_name["coupons"].strategy is Strategy.FULL  # few, and they change without events
    others = {
        d.strategy for n, d in by_name.items() if n not in ("balance_transactions", "coupons")
    }
    assert others == {Strategy.EVENTS}
    assert by_name["customers"].deleted == 1
    assert by_name["invoices"].refetched >= 1
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_incremental_refresh_makes_few_requests(world: World) -> None:
    _first(world)
    world.advance(3600)
    _change_everything(world)
    world.advance(120)
    world.emulator.log.clear()

    result = refresh(world.service, "Shop", clock=world.clock)

    log = world.emulator.log.entries
    assert len(log) == result.requests
    # 4 event reads (67 types, 20 a request); for each list, one page of what was created since
    # the cursor (prices: two lists, active and not); the coupons in full (one page); and
    # re-reads by id of the few older objects whose event payload cannot be trusted (another
    # API version, expanded fields) or that changed without an event (the customer of an
    # invoice).
    events = [r for r in log if r.path == "/v1/events"]
    assert len(events) == 4
    lists = [r for r in log if r.path.count("/") == 2 and r.path != "/v1/events"]
    assert {r.path for r in lists} == {s.list_path for s in catalog.OBJECTS}
    assert [r.path for r in lists if "created" not in r.query] == ["/v1/coupons"]
    assert len(lists) <= 15
    by_id = [r for r in log if r.path.count("/") == 3]
    assert 0 < len(by_id) <= 10
    assert len(log) < 30


def test_nothing_changed_costs_a_request_per_list_and_event_group(world: World) -> None:
    _first(world, objects="customers,charges")
    world.advance(3600)
    world.emulator.log.clear()
    result = refresh(world.service, "Shop", clock=world.clock)
    assert result.outcome is RunOutcome.OK
    paths = sorted(world.emulator.log.paths())
    # a permission probe per object, and the events of customers, charges and of the objects
    # that change them without an event of their own (invoices, credit notes, new
    # subscriptions, discounts; disputes): 37 types, two reads of 20 at most
    assert paths == ["/v1/charges", "/v1/customers", "/v1/events", "/v1/events"]


def test_a_cursor_older_than_the_events_kept_means_a_full_read(world: World) -> None:
    _first(world, objects="customers")
    world.advance(31 * 86400)
    result = refresh(world.service, "Shop", clock=world.clock)
    assert result.datasets[0].strategy is Strategy.FULL
    assert "30 days" in result.datasets[0].reason
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_full_flag_reads_everything_again(world: World) -> None:
    _first(world, objects="customers,balance_transactions")
    world.advance(60)
    result = refresh(world.service, "Shop", clock=world.clock, full=True)
    assert {d.strategy for d in result.datasets} == {Strategy.FULL}


def test_every_kind_of_change_the_emulator_makes_is_applied(world: World) -> None:
    changes = pytest.importorskip("flitch.emulator.changes")
    _first(world)
    for round_ in range(2):
        world.advance(3600)
        events = 0
        for kind in changes.KINDS:
            events += len(world.emulator.apply_changes(kind, 2 if kind != "mix" else 25))
        assert events > 50
        world.advance(120)
        result = refresh(world.service, "Shop", clock=world.clock)
        assert result.outcome is RunOutcome.OK, result.to_dict()
        assert result.events >= events // 2, round_
        assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_changes_inside_the_lag_window_are_read_again(world: World) -> None:
    changes = pytest.importorskip("flitch.emulator.changes")
    _first(world, objects="customers,charges,payment_intents")
    world.advance(3600)
    world.emulator.apply_changes("new_charge", 3)
    # refreshed right away: the events are newer than now - lag, read now and again next time
    first = refresh(world.service, "Shop", clock=world.clock)
    assert first.outcome is RunOutcome.OK
    world.advance(30)
    world.emulator.apply_changes("refund", 2)
    world.advance(30)
    second = refresh(world.service, "Shop", clock=world.clock)
    assert second.events >= first.events  # the first run's events are inside the lag: again
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}
    assert changes.KINDS


def test_events_of_an_older_api_version_are_re_read_by_id(world: World) -> None:
    """The generated account's events older than 24 days are in its previous API version: an
    object created before the cursor whose newest event is one of them is re-read by id."""
    world.clock.t -= 26 * 86400  # a cache filled 26 days ago: its cursor is that old
    _first(world)
    cursor = int(world.clock.t) - 60
    world.clock.t += 26 * 86400
    # one such event surely exists, whatever history the generator made at this run's date
    store = world.account.test
    early = next(c for c in store.ordered("customer").objects if c["created"] < cursor)
    sink = StoreSink(store, cursor + 3600)
    sink.old_version = True
    sink.update(early["id"], "customer.updated", description="Changed 25 days ago")
    newest: dict[str, tuple[int, str, int, str]] = {}
    for event in world.account.test.ordered("event").objects:
        obj = event["data"]["object"]
        if event["created"] >= cursor and event["created"] > newest.get(obj["id"], (0,))[0]:
            newest[obj["id"]] = (
                event["created"],
                event["api_version"],
                obj.get("created", 0),
                obj["object"],
            )
    world.emulator.log.clear()

    result = refresh(world.service, "Shop", clock=world.clock)

    # a dataset with more to re-read by id than a full read costs is read in full instead
    by_id = {d.name for d in result.datasets if d.strategy is Strategy.EVENTS}
    old = {
        i
        for i, (_, version, created, kind) in newest.items()
        if version != API
        and created < cursor
        and kind in catalog.BY_OBJECT_TYPE
        and catalog.BY_OBJECT_TYPE[kind].name in by_id
    }
    assert early["id"] in old, "the customer changed 25 days ago is re-read by id"
    assert result.outcome is RunOutcome.OK, result.to_dict()
    fetched = {
        r.path.rsplit("/", 1)[1] for r in world.emulator.log.entries if r.path.count("/") == 3
    }
    assert old <= fetched
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_pending_balance_transactions_are_read_again_once_due(world: World) -> None:
    _first(world, objects="balance_transactions")
    store = world.account.test
    pending = [t for t in store.ordered("balance_transaction").objects if t["status"] == "pending"]
    assert pending, "the generator made no pending balance transaction"
    latest = max(t["available_on"] for t in pending)
    world.advance(latest - world.clock.t + 3600)
    for txn in pending:  # Stripe makes them available without an event
        store.put({**txn, "status": "available"})
    world.emulator.log.clear()

    result = refresh(world.service, "Shop", clock=world.clock)
    requests = len(world.emulator.log)  # the refresh's, not the check's below

    assert result.datasets[0].strategy is Strategy.CREATED
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}
    # the range of those due (a page per 100), and what is new (one page)
    assert requests <= len(pending) // 100 + 3
    world.advance(3600)
    world.emulator.log.clear()
    refresh(world.service, "Shop", clock=world.clock)
    assert len(world.emulator.log) == 1  # none left pending: only what is new


def test_a_machine_clock_ahead_of_stripes_loses_no_change(world: World) -> None:
    # This machine's clock runs 10 minutes ahead of Stripe's (the emulator's): a cursor taken
    # from it would start after the changes made in the next few minutes, and skip them.
    def ahead() -> float:
        return world.clock.t + 600

    world.service.create("Shop", TEST_KEY, refresh="1h", objects="customers,charges")
    first = refresh(world.service, "Shop", clock=ahead)
    assert first.outcome is RunOutcome.OK
    world.advance(120)
    world.emulator.apply_changes("new_charge", 3)
    world.advance(120)
    second = refresh(world.service, "Shop", clock=ahead)
    assert second.outcome is RunOutcome.OK
    by_name = {d.name: d for d in second.datasets}
    assert by_name["charges"].strategy is Strategy.EVENTS
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}
