"""Activity while the server runs: every change keeps the account consistent and tells of itself."""

from __future__ import annotations

import random
import threading
from collections import Counter

import orjson
import pytest

from flitch.emulator.changes import KINDS, apply_changes
from flitch.emulator.generator import REFERENCE_NOW, fill_mode
from flitch.emulator.ledger import unpaid_balance
from flitch.emulator.operations import DAY
from flitch.emulator.shapes import API_VERSION, Rng
from flitch.emulator.store import ModeStore
from tests.emulator.test_generator import check_all, objects

#: Changes happen two days after the account was generated.
NOW = REFERENCE_NOW + 2 * DAY

#: What each kind must announce (at least these event types).
EXPECTED: dict[str, set[str]] = {
    "new_customer": {"customer.created"},
    "update_customer": {"customer.updated"},
    "delete_customer": {"customer.deleted"},
    "new_subscription": {"customer.subscription.created", "invoice.created", "invoice.finalized"},
    "renew_subscription": {"invoice.created", "customer.subscription.updated"},
    "upgrade": {"customer.subscription.updated", "invoice.created", "invoice.paid"},
    "downgrade": {"customer.subscription.updated", "invoice.created", "invoice.paid"},
    "change_quantity": {"customer.subscription.updated", "invoice.created"},
    "cancel_subscription": {"customer.subscription.deleted"},
    "cancel_at_period_end": {"customer.subscription.updated"},
    "new_charge": {"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"},
    "failed_charge": {"charge.failed", "payment_intent.payment_failed"},
    "update_payment_intent": set(),  # Stripe has no payment_intent.updated
    "refund": {"charge.refunded", "refund.created"},
    "partial_refund": {"charge.refunded", "refund.created"},
    "dispute": {"charge.dispute.created", "charge.dispute.funds_withdrawn"},
    "close_dispute": {"charge.dispute.updated"},
    "finalize_invoice": {"invoice.finalized"},
    "pay_invoice": {"invoice.paid", "charge.succeeded"},
    "void_invoice": {"invoice.voided"},
    "mark_uncollectible": {"invoice.marked_uncollectible"},
    "credit_note": {"credit_note.created", "invoice.updated"},
    "void_credit_note": {"credit_note.voided"},
    "payout": {"payout.created"},
    "new_product": {"product.created", "price.created"},
    "new_price": {"price.created"},
    "archive_price": {"price.updated"},
    "delete_product": {"product.deleted"},
    "new_coupon": {"coupon.created"},
    "delete_coupon": {"coupon.deleted"},
    "customer_discount": {"customer.discount.created"},
}
#: Kinds Stripe announces with no event at all.
SILENT = {"update_payment_intent"}
#: Kinds that need another kind's result to act on.
PREPARE = {
    "void_credit_note": "credit_note",
    "close_dispute": "dispute",
    "update_payment_intent": "failed_charge",
}


def fresh_store(customers: int = 80, seed: int = 3) -> ModeStore:
    """One mode of a generated account (half the cost of a whole account)."""
    store = ModeStore(livemode=False)
    fill_mode(store, Rng(f"changes-test:{seed}"), customers, REFERENCE_NOW)
    return store


def test_kinds_are_the_operations_and_mix() -> None:
    assert set(KINDS) == {*EXPECTED, "mix"}


def test_an_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid kinds: new_customer") as err:
        apply_changes(ModeStore(livemode=False), "explode")
    assert "mix" in str(err.value)
    with pytest.raises(ValueError, match="count"):
        apply_changes(ModeStore(livemode=False), "refund", -1)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_kind_keeps_the_account_consistent_and_emits_its_events(kind: str) -> None:
    store = fresh_store()
    rng = random.Random(11)
    if kind in PREPARE:
        apply_changes(store, PREPARE[kind], 4, rng=rng, now=NOW - 60)
    if kind == "void_credit_note":  # only a credit note on an open invoice can be voided
        while not any(n["type"] == "pre_payment" for n in objects(store, "credit_note")):
            apply_changes(store, "credit_note", 1, rng=rng, now=NOW - 60)
    # renewals need a period to have ended since the account was made
    when = NOW + 8 * DAY if kind == "renew_subscription" else NOW
    before = store.count("event")
    objects_before = {o["id"]: store.json(o) for o in store.iter_all()}
    events = apply_changes(store, kind, 3, rng=rng, now=when)
    assert events or kind in SILENT
    if kind in SILENT:
        assert any(store.json(o) != objects_before.get(o["id"]) for o in store.iter_all())
    assert EXPECTED[kind] <= {e["type"] for e in events}
    assert store.count("event") == before + len(events)
    for event in events:
        assert store.get(event["id"]) is event
        assert event["created"] == when
        assert event["api_version"] == API_VERSION
        assert event["livemode"] is False
        obj = event["data"]["object"]
        if event["type"].endswith((".updated", ".refunded", ".paid", ".voided", ".closed")):
            previous = event["data"].get("previous_attributes")
            assert previous
            assert all(key in obj for key in previous)
            assert any(obj[key] != value for key, value in previous.items())
    check_all(store, when)


def test_changes_replace_objects_and_never_edit_them_in_place() -> None:
    store = fresh_store()
    before = {o["id"]: (o, store.json(o)) for o in store.iter_all()}
    apply_changes(store, "mix", 120, rng=random.Random(4), now=NOW)
    changed = 0
    for object_id, (old, raw) in before.items():
        assert orjson.dumps(old) == raw  # the object served before is untouched
        now = store.get(object_id)
        if now is None:
            assert object_id in store.tombstones
            continue
        assert now.get("created") == old.get("created")
        if now is not old:
            changed += 1
            assert store.json(now) != raw
    assert changed > 20
    check_all(store, NOW)


def test_a_seeded_rng_makes_the_same_changes() -> None:
    runs = []
    for _ in range(2):
        store = fresh_store(customers=40)
        events = apply_changes(store, "mix", 40, rng=random.Random(9), now=NOW)
        runs.append([orjson.dumps(e) for e in events])
    assert runs[0] == runs[1]


def test_mix_draws_a_realistic_blend() -> None:
    store = fresh_store()
    events = apply_changes(store, "mix", 150, rng=random.Random(2), now=NOW)
    types = Counter(e["type"] for e in events)
    assert len(types) > 12
    assert types["charge.succeeded"] > types["charge.dispute.created"]


def test_a_refund_shows_on_the_charge_and_the_balance() -> None:
    store = fresh_store()
    events = apply_changes(store, "partial_refund", 1, rng=random.Random(1), now=NOW)
    refunded = next(e for e in events if e["type"] == "charge.refunded")
    charge = store.get(refunded["data"]["object"]["id"])
    assert charge is not None
    assert charge["amount_refunded"] == refunded["data"]["object"]["amount_refunded"]
    assert 0 < charge["amount_refunded"] < charge["amount"]
    assert charge["refunded"] is False
    refund = next(e["data"]["object"] for e in events if e["type"] == "refund.created")
    txn = store.get(refund["balance_transaction"])
    assert txn is not None
    assert txn["amount"] == -refund["amount"]
    assert txn["source"] == refund["id"]


def test_a_deleted_customer_answers_with_a_tombstone() -> None:
    store = fresh_store()
    events = apply_changes(store, "delete_customer", 1, rng=random.Random(3), now=NOW)
    gone = next(e for e in events if e["type"] == "customer.deleted")["data"]["object"]["id"]
    assert store.get(gone) is None
    assert store.tombstones[gone] == {"id": gone, "object": "customer", "deleted": True}
    assert all(c["id"] != gone for c in objects(store, "customer"))
    for sub in objects(store, "subscription"):
        if sub["customer"] == gone:
            assert sub["status"] in ("canceled", "incomplete_expired")


def test_a_payout_takes_everything_available() -> None:
    store = fresh_store()
    apply_changes(store, "new_charge", 5, rng=random.Random(6), now=NOW - 5 * DAY)
    apply_changes(store, "payout", 1, rng=random.Random(6), now=NOW)
    txns = objects(store, "balance_transaction")
    for currency in {t["currency"] for t in txns}:
        left, _ids = unpaid_balance(txns, store.paid_out_by, currency, NOW)
        assert left <= 0 or left == 0
    check_all(store, NOW)


def test_changes_from_several_threads_hold_the_lock() -> None:
    store = fresh_store()
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            apply_changes(store, "mix", 40, rng=random.Random(seed), now=NOW)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    check_all(store, NOW)


def test_an_rng_seeded_the_same_again_never_repeats_an_id() -> None:
    """A server restarted with the same seed keeps changing the same account safely."""
    store = fresh_store(customers=40)
    seen: set[str] = set()
    for day in (1, 2, 3):
        for event in apply_changes(store, "mix", 40, rng=random.Random(5), now=NOW + day * DAY):
            obj = event["data"]["object"]
            assert event["id"] not in seen
            seen.add(event["id"])
            if event["type"].endswith(".created"):
                assert obj["id"] not in seen
                seen.add(obj["id"])
    check_all(store, NOW + 3 * DAY)


# -- changes Stripe does not announce ------------------------------------------------------------
def _about(events: list[dict[str, object]]) -> set[str]:
    return {e["data"]["object"]["id"] for e in events}  # type: ignore[index]


def test_time_alone_makes_balance_available_and_ends_coupons_with_no_event() -> None:
    store = fresh_store()
    pending = [t for t in objects(store, "balance_transaction") if t["status"] == "pending"]
    # redeem_by: 30 days on
    apply_changes(store, "new_coupon", 2, rng=random.Random(1), now=REFERENCE_NOW)
    ending = [c for c in objects(store, "coupon") if c["valid"] and c["redeem_by"]]
    assert pending
    assert ending
    later = NOW + 40 * DAY
    events = apply_changes(store, "new_customer", 1, rng=random.Random(1), now=later)
    assert {e["type"] for e in events} == {"customer.created"}
    for txn in pending:
        assert store.get(txn["id"])["status"] == "available"  # type: ignore[index]
    for coupon in ending:
        assert store.get(coupon["id"])["valid"] is False  # type: ignore[index]
    check_all(store, later)


def test_a_shop_edits_only_open_payment_intents_of_the_last_day() -> None:
    store = fresh_store()
    apply_changes(store, "failed_charge", 3, rng=random.Random(2), now=NOW - 60)
    invoiced = {i["payment"]["payment_intent"] for i in objects(store, "invoice_payment")}
    before = {p["id"]: store.json(p) for p in objects(store, "payment_intent")}
    assert apply_changes(store, "update_payment_intent", 4, rng=random.Random(2), now=NOW) == []
    edited = [p for p in objects(store, "payment_intent") if before[p["id"]] != store.json(p)]
    assert edited
    for pi in edited:
        assert pi["status"] == "requires_payment_method"
        assert pi["created"] >= NOW - DAY
        assert pi["id"] not in invoiced


def test_a_dispute_changes_its_charge_with_no_charge_event() -> None:
    store = fresh_store()
    events = apply_changes(store, "dispute", 2, rng=random.Random(3), now=NOW)
    charges = {e["data"]["object"]["charge"] for e in events}
    assert charges
    assert all(store.get(c)["disputed"] for c in charges)  # type: ignore[index]
    assert not charges & _about(events)
    assert {e["type"] for e in events} <= {
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    }


def test_a_customer_discount_is_announced_only_as_a_discount() -> None:
    store = fresh_store()
    coupons = {c["id"]: c["times_redeemed"] for c in objects(store, "coupon")}
    events = apply_changes(store, "customer_discount", 2, rng=random.Random(4), now=NOW)
    assert [e["type"] for e in events] == ["customer.discount.created"] * 2
    for event in events:
        discount = event["data"]["object"]
        customer = store.get(discount["customer"])
        assert customer is not None
        assert customer["discount"] == discount
        assert discount["subscription"] is None
        coupon = store.get(discount["source"]["coupon"])
        assert coupon is not None
        assert coupon["times_redeemed"] > coupons[coupon["id"]]
    assert all(e["data"]["object"]["object"] == "discount" for e in events)
    check_all(store, NOW)
