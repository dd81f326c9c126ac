"""The seeded account: deterministic, consistent, realistic, in the pinned API version's shapes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from flitch.emulator.generator import REFERENCE_NOW, generate_account, summary
from flitch.emulator.operations import DAY, processing_fee
from flitch.emulator.store import Account, ModeStore

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def account() -> Account:
    """The default size: what the demo shows."""
    return generate_account(seed=42, customers=300)


def modes(account: Account) -> Iterator[ModeStore]:
    yield account.test
    yield account.live


def objects(store: ModeStore, kind: str) -> list[Obj]:
    return store.ordered(kind).objects


def resolves(store: ModeStore, object_id: str | None, kind: str) -> bool:
    """The id names an object of that type in the store, or a deleted one (its tombstone)."""
    if object_id is None:
        return False
    found = store.get(object_id) or store.tombstones.get(object_id)
    return found is not None and found["object"] == kind


# -- determinism ---------------------------------------------------------------------------------
def _dump(account: Account) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for name, store in (("test", account.test), ("live", account.live)):
        for kind in store.types():
            out[f"{name}:{kind}"] = [store.json(o) for o in objects(store, kind)]
        out[f"{name}:tombstones"] = sorted(str(t).encode() for t in store.tombstones.values())
        out[f"{name}:paid_out_by"] = sorted(
            f"{k}={v}".encode() for k, v in store.paid_out_by.items()
        )
    return out


def test_the_same_seed_gives_byte_identical_accounts() -> None:
    assert _dump(generate_account(seed=7, customers=40)) == _dump(
        generate_account(seed=7, customers=40)
    )


def test_another_seed_gives_another_account() -> None:
    a, b = generate_account(seed=7, customers=40), generate_account(seed=8, customers=40)
    assert [c["id"] for c in objects(a.test, "customer")] != [
        c["id"] for c in objects(b.test, "customer")
    ]


def test_test_and_live_are_separate_accounts(account: Account) -> None:
    test_ids = {o["id"] for o in account.test.iter_all()}
    live_ids = {o["id"] for o in account.live.iter_all()}
    shared = {i for i in test_ids & live_ids if not i.isupper()}  # coupon codes like SUMMER25
    assert not shared
    assert all(not o["livemode"] for o in objects(account.test, "charge"))
    assert all(o["livemode"] for o in objects(account.live, "charge"))


def test_now_defaults_to_a_fixed_time_and_bounds_the_history(account: Account) -> None:
    newest = max(o["created"] for o in account.test.iter_all() if "created" in o)
    assert REFERENCE_NOW - 2 * DAY < newest <= REFERENCE_NOW
    later = REFERENCE_NOW + 100 * DAY
    moved = generate_account(seed=42, customers=20, now=later)
    created = [o["created"] for o in moved.test.iter_all() if "created" in o]
    assert max(created) <= later
    assert min(created) >= later - 2 * 365 * DAY - 800 * DAY  # the catalog predates customers


def test_sizes_scale_with_customers() -> None:
    empty = generate_account(customers=0)
    assert empty.test.count("customer") == 0
    assert empty.test.count("price") > 0
    small, big = summary(generate_account(customers=20)), summary(generate_account(customers=80))
    assert big["test"]["invoice"] > 2 * small["test"]["invoice"]
    with pytest.raises(ValueError, match="customers"):
        generate_account(customers=-1)


def test_summary_counts_each_type_per_mode(account: Account) -> None:
    counts = summary(account)
    assert set(counts) == {"test", "live"}
    assert counts["test"]["customer"] == account.test.count("customer")
    assert counts["test"]["test_helpers.test_clock"] >= 1
    assert "test_helpers.test_clock" not in counts["live"]
    for kind in ("charge", "invoice", "subscription", "payout", "balance_transaction", "event"):
        assert counts["live"][kind] > 0


def check_all(store: ModeStore, now: int) -> None:
    """Every invariant that holds whatever has happened to the account."""
    check_references(store)
    check_charges(store)
    check_subscriptions(store, now)
    check_invoices(store)
    check_invoice_numbers(store)
    check_balance_transactions(store, now)
    check_payouts(store)
    check_coupons(store)


# -- references ----------------------------------------------------------------------------------
def test_every_reference_resolves(account: Account) -> None:
    for store in modes(account):
        check_references(store)


def check_references(store: ModeStore) -> None:
    """Every id an object holds names an object of the right type (or a deleted one)."""
    for ch in objects(store, "charge"):
        assert ch["customer"] is None or resolves(store, ch["customer"], "customer")
        assert resolves(store, ch["payment_intent"], "payment_intent")
        if ch["status"] == "succeeded":
            assert resolves(store, ch["balance_transaction"], "balance_transaction")
        else:
            assert ch["balance_transaction"] is None
            assert ch["failure_code"]
    for pi in objects(store, "payment_intent"):
        if pi["latest_charge"]:
            assert resolves(store, pi["latest_charge"], "charge")
    for inv in objects(store, "invoice"):
        assert resolves(store, inv["customer"], "customer")
        if inv["parent"]:
            sub = inv["parent"]["subscription_details"]["subscription"]
            assert resolves(store, sub, "subscription")
        for line in inv["lines"]["data"]:
            assert line["invoice"] == inv["id"]
            if line["pricing"]:
                assert resolves(store, line["pricing"]["price_details"]["price"], "price")
        for disc in inv["discounts"]:
            assert resolves(store, disc, "discount")
    for sub in objects(store, "subscription"):
        assert resolves(store, sub["customer"], "customer")
        assert resolves(store, sub["latest_invoice"], "invoice")
        for item in sub["items"]["data"]:
            assert resolves(store, item["price"]["id"], "price")
            assert resolves(store, item["price"]["product"], "product")
            assert item["subscription"] == sub["id"]
        for disc in sub["discounts"]:
            assert resolves(store, disc, "discount")
    for disc in objects(store, "discount"):
        assert resolves(store, disc["source"]["coupon"], "coupon")
        # a subscription's discount, or a customer's own (no subscription)
        assert disc["subscription"] is None or resolves(store, disc["subscription"], "subscription")
    for price in objects(store, "price"):
        assert resolves(store, price["product"], "product")
    for txn in objects(store, "balance_transaction"):
        kind = {"ch": "charge", "re": "refund", "dp": "dispute", "po": "payout"}
        assert resolves(store, txn["source"], kind[txn["source"].split("_")[0]])
    for dispute in objects(store, "dispute"):
        assert resolves(store, dispute["charge"], "charge")
        assert resolves(store, dispute["payment_intent"], "payment_intent")
    for refund in objects(store, "refund"):
        assert resolves(store, refund["charge"], "charge")
        assert resolves(store, refund["balance_transaction"], "balance_transaction")
    for note in objects(store, "credit_note"):
        assert resolves(store, note["invoice"], "invoice")
        assert resolves(store, note["customer"], "customer")
        for r in note["refunds"]:
            assert resolves(store, r["refund"], "refund")
    for payout in objects(store, "payout"):
        assert resolves(store, payout["balance_transaction"], "balance_transaction")
    for link in objects(store, "invoice_payment"):
        assert resolves(store, link["invoice"], "invoice")
        assert resolves(store, link["payment"]["payment_intent"], "payment_intent")
    for txn_id, payout_id in store.paid_out_by.items():
        assert resolves(store, txn_id, "balance_transaction")
        assert resolves(store, payout_id, "payout")


def test_charges_agree_with_their_refunds_and_disputes(account: Account) -> None:
    for store in modes(account):
        check_charges(store)


def check_charges(store: ModeStore) -> None:
    refunded: Counter[str] = Counter()
    for refund in objects(store, "refund"):
        refunded[refund["charge"]] += refund["amount"]
    disputed = {d["charge"] for d in objects(store, "dispute")}
    for ch in objects(store, "charge"):
        assert ch["amount_refunded"] == refunded[ch["id"]]
        assert ch["refunded"] == (ch["amount_refunded"] == ch["amount"])
        assert ch["disputed"] == (ch["id"] in disputed)
        assert ch["paid"] == (ch["status"] == "succeeded")


# -- every status --------------------------------------------------------------------------------
def test_every_status_occurs_at_the_default_size(account: Account) -> None:
    for store in modes(account):

        def statuses(kind: str, s: ModeStore = store) -> set[str]:
            return {o["status"] for o in objects(s, kind)}

        assert statuses("subscription") == {
            "incomplete",
            "incomplete_expired",
            "trialing",
            "active",
            "past_due",
            "canceled",
            "unpaid",
            "paused",
        }
        assert statuses("invoice") == {"draft", "open", "paid", "uncollectible", "void"}
        assert statuses("charge") == {"succeeded", "failed"}
        assert {"needs_response", "under_review", "won", "lost", "warning_closed"} <= statuses(
            "dispute"
        )
        assert statuses("credit_note") == {"issued", "void"}
        assert {"paid", "failed"} <= statuses("payout")
        assert {"succeeded", "requires_payment_method", "canceled"} <= statuses("payment_intent")
        charges = objects(store, "charge")
        assert any(c["refunded"] for c in charges)
        assert any(0 < c["amount_refunded"] < c["amount"] for c in charges)
        assert any(c["disputed"] for c in charges)
        assert len({c["failure_code"] for c in charges}) >= 3
        assert len({d["reason"] for d in objects(store, "dispute")}) >= 3
        assert {n["type"] for n in objects(store, "credit_note")} == {"pre_payment", "post_payment"}
        subs = objects(store, "subscription")
        assert any(s["cancel_at_period_end"] for s in subs)
        assert any(s["trial_start"] for s in subs if s["status"] != "trialing")
        assert any(s["discounts"] for s in subs)
        assert any(len(s["items"]["data"]) > 1 for s in subs)


def test_subscriptions_are_consistent_with_their_status(account: Account) -> None:
    for store in modes(account):
        check_subscriptions(store, REFERENCE_NOW, generated=True)


def check_subscriptions(store: ModeStore, now: int, *, generated: bool = False) -> None:
    """Status and dates agree (``generated``: nothing has happened since ``now``)."""
    for sub in objects(store, "subscription"):
        status = sub["status"]
        if status == "canceled":
            assert sub["canceled_at"]
            assert sub["ended_at"]
            assert sub["canceled_at"] <= sub["ended_at"] <= now
        elif status == "incomplete_expired":
            assert sub["ended_at"] == sub["created"] + 23 * 3600
        else:
            assert sub["ended_at"] is None
        if status == "trialing" and generated:
            assert sub["trial_start"] <= now < sub["trial_end"]
        for item in sub["items"]["data"]:
            assert item["current_period_start"] < item["current_period_end"]
        if status in ("active", "past_due", "trialing") and generated:
            for item in sub["items"]["data"]:
                assert item["current_period_start"] <= now < item["current_period_end"] or (
                    sub["cancel_at_period_end"] is False and item["current_period_end"] > now
                )
        if sub["cancel_at_period_end"]:
            assert sub["cancel_at"]
            assert sub["canceled_at"]
        assert sub["start_date"] == sub["created"]
        assert sub["currency"] == sub["items"]["data"][0]["price"]["currency"]


def test_invoices_add_up(account: Account) -> None:
    assert sum(check_invoices(store) for store in modes(account)) > 0


def check_invoices(store: ModeStore) -> int:
    """Invoices add up; returns how many proration lines there are."""
    prorations = 0
    for inv in objects(store, "invoice"):
        lines = inv["lines"]["data"]
        assert inv["subtotal"] == sum(line["amount"] for line in lines)
        off = sum(d["amount"] for d in inv["total_discount_amounts"])
        assert inv["total"] == inv["subtotal"] - off
        assert inv["amount_remaining"] == inv["amount_due"] - inv["amount_paid"]
        if inv["status"] == "paid":
            assert inv["amount_paid"] == inv["amount_due"]
            assert inv["status_transitions"]["paid_at"]
        if inv["status"] == "draft":
            assert inv["number"] is None
            assert inv["status_transitions"]["finalized_at"] is None
        else:
            assert inv["number"]
            assert inv["status_transitions"]["finalized_at"]
        if inv["status"] == "void":
            assert inv["status_transitions"]["voided_at"]
        prorations += sum(
            1
            for line in lines
            if (line["parent"]["subscription_item_details"] or {}).get("proration")
        )
    return prorations


def test_the_invoice_numbers_of_a_customer_are_in_sequence(account: Account) -> None:
    for store in modes(account):
        check_invoice_numbers(store)


def check_invoice_numbers(store: ModeStore) -> None:
    numbers: dict[str, list[tuple[int, str]]] = {}
    for inv in objects(store, "invoice"):
        if inv["number"]:
            finalized = inv["status_transitions"]["finalized_at"]
            numbers.setdefault(inv["customer"], []).append((finalized, inv["number"]))
    for customer_id, found in numbers.items():
        found.sort()
        sequence = [int(n.rsplit("-", 1)[1]) for _, n in found]
        assert sequence == list(range(1, len(sequence) + 1)), customer_id
        customer = store.get(customer_id)
        if customer is not None:
            assert customer["next_invoice_sequence"] == len(sequence) + 1


# -- money ---------------------------------------------------------------------------------------
def test_balance_transactions_carry_fees_and_signs(account: Account) -> None:
    for store in modes(account):
        kinds = check_balance_transactions(store, REFERENCE_NOW)
        assert {"charge", "refund", "adjustment", "payout"} <= set(kinds)
        usd = [t for t in objects(store, "balance_transaction") if t["type"] == "charge"]
        # live mode settles GBP and JPY into USD (emulator.settlement)
        settles = {"usd", "eur"} if store.livemode else {"usd", "eur", "gbp", "jpy"}
        assert {t["currency"] for t in usd} == settles


def check_balance_transactions(store: ModeStore, now: int) -> Counter[str]:
    """Every movement of money: signs, fees, net, its source; returns the count per type."""
    kinds: Counter[str] = Counter()
    for txn in objects(store, "balance_transaction"):
        assert txn["net"] == txn["amount"] - txn["fee"]
        assert txn["fee"] == sum(f["amount"] for f in txn["fee_details"])
        assert txn["available_on"] >= txn["created"] - DAY
        if txn["status"] == "available":
            assert txn["available_on"] <= now
        else:
            assert txn["available_on"] > txn["created"]
        source = store.get(txn["source"])
        assert source is not None
        kinds[txn["type"]] += 1
        # converted at settlement: the source's integer amount times the rate
        rate = txn["exchange_rate"]
        amount = source["amount"] if rate is None else round(source["amount"] * rate)
        if txn["type"] == "charge":
            assert txn["amount"] == amount > 0
            assert txn["fee"] == processing_fee(txn["amount"], txn["currency"])
            assert txn["reporting_category"] == "charge"
        elif txn["type"] == "refund":
            assert txn["amount"] == -amount < 0
            assert txn["fee"] == 0
        elif txn["type"] == "adjustment":
            assert txn["reporting_category"] in ("dispute", "dispute_reversal")
            if txn["reporting_category"] == "dispute":
                assert txn["amount"] == -amount
                assert txn["fee"] > 0
        elif txn["type"] == "payout":
            assert txn["amount"] == -source["amount"]
            assert txn["fee"] == 0
        else:
            assert txn["type"] == "payout_failure"
            assert txn["amount"] == source["amount"]
    return kinds


def test_payouts_take_the_available_balance_of_each_currency(account: Account) -> None:
    for store in modes(account):
        check_payouts(store)


def check_payouts(store: ModeStore) -> None:
    """Per currency, each payout took exactly what had become available and was not yet paid
    out: so the nets of everything up to a payout equal the payouts so far, and what is left
    over (pending, or newer) is the balance."""
    txns = [t for t in objects(store, "balance_transaction") if t["type"] != "payout"]
    payouts = sorted(objects(store, "payout"), key=lambda p: (p["created"], p["id"]))
    assert payouts
    taken: dict[str, list[Obj]] = {}
    for txn in txns:
        payout_id = store.paid_out_by.get(txn["id"])
        if payout_id is not None:
            taken.setdefault(payout_id, []).append(txn)
    for payout in payouts:
        mine = taken.get(payout["id"], [])
        assert sum(t["net"] for t in mine) == payout["amount"], payout["id"]
        assert all(t["currency"] == payout["currency"] for t in mine)
        assert all(t["available_on"] <= payout["created"] for t in mine)
        for txn in txns:  # everything available before this payout went out by then
            if txn["currency"] == payout["currency"] and txn["available_on"] < payout["created"]:
                earlier = store.get(store.paid_out_by.get(txn["id"], ""))
                if txn["created"] < payout["created"]:
                    assert earlier is not None, txn["id"]
                    assert earlier["created"] <= payout["created"]
    for currency in {p["currency"] for p in payouts}:
        mine = [t for t in objects(store, "balance_transaction") if t["currency"] == currency]
        paid = sum(p["amount"] for p in payouts if p["currency"] == currency)
        moved = sum(t["net"] for t in mine if t["type"] != "payout")
        left = sum(
            t["net"] for t in mine if t["type"] != "payout" and t["id"] not in store.paid_out_by
        )
        assert moved == paid + left
        # the balance (every transaction, payouts included) is what is left
        assert left == sum(t["net"] for t in mine)


def test_payout_statuses_follow_their_arrival(account: Account) -> None:
    for store in modes(account):
        for payout in objects(store, "payout"):
            if payout["status"] in ("paid", "failed"):
                assert payout["arrival_date"] <= REFERENCE_NOW
            else:
                assert payout["arrival_date"] > REFERENCE_NOW
            if payout["status"] == "failed":
                assert resolves(store, payout["failure_balance_transaction"], "balance_transaction")


# -- catalog and coupons -------------------------------------------------------------------------
def test_the_catalog_has_every_kind_of_price(account: Account) -> None:
    prices = objects(account.test, "price")
    recurring = [p["recurring"] for p in prices if p["recurring"]]
    assert {(r["interval"], r["interval_count"]) for r in recurring} >= {
        ("month", 1),
        ("year", 1),
        ("week", 1),
        ("month", 3),
    }
    assert {r["usage_type"] for r in recurring} == {"licensed", "metered"}
    assert all(r["meter"] for r in recurring if r["usage_type"] == "metered")
    tiered = [p for p in prices if p["billing_scheme"] == "tiered"]
    assert {p["tiers_mode"] for p in tiered} == {"graduated", "volume"}
    assert all(p["unit_amount"] is None and p["tiers"] for p in tiered)
    assert all("tiers" not in p for p in prices if p["billing_scheme"] == "per_unit")
    assert {p["currency"] for p in prices} == {"usd", "eur", "gbp", "jpy"}
    assert any(not p["active"] for p in prices)
    assert any(p["type"] == "one_time" for p in prices)
    assert any(not p["active"] for p in objects(account.test, "product"))
    seats = [
        s for s in objects(account.test, "subscription") if s["items"]["data"][0]["quantity"] > 1
    ]
    assert seats


def test_coupons_count_their_redemptions(account: Account) -> None:
    for store in modes(account):
        check_coupons(store)
        coupons = objects(store, "coupon")
        assert {c["duration"] for c in coupons} == {"forever", "once", "repeating"}
        assert any(not c["valid"] for c in coupons)
        deleted = [i for i, t in store.tombstones.items() if t["object"] == "coupon"]
        assert deleted
        assert all(store.get(i) is None for i in deleted)


def check_coupons(store: ModeStore) -> None:
    used: Counter[str] = Counter(d["source"]["coupon"] for d in objects(store, "discount"))
    coupons = objects(store, "coupon")
    for coupon in coupons:
        assert coupon["times_redeemed"] == used[coupon["id"]]
        if coupon["amount_off"] is not None:
            assert coupon["currency"]
            assert coupon["percent_off"] is None
        if coupon["max_redemptions"] is not None:
            assert coupon["times_redeemed"] <= coupon["max_redemptions"]


# -- deletions, test clocks, events --------------------------------------------------------------
def test_deleted_customers_leave_tombstones_and_end_their_subscriptions(account: Account) -> None:
    store = account.test
    gone = {i for i, t in store.tombstones.items() if t["object"] == "customer"}
    assert gone
    assert not gone & {c["id"] for c in objects(store, "customer")}
    for sub in objects(store, "subscription"):
        if sub["customer"] in gone:
            assert sub["status"] in ("canceled", "incomplete_expired")
    deleted_events = [e for e in objects(store, "event") if e["type"] == "customer.deleted"]
    assert {e["data"]["object"]["id"] for e in deleted_events} <= gone


def test_test_clocks_hold_a_few_test_mode_customers(account: Account) -> None:
    made = objects(account.test, "test_helpers.test_clock")
    assert all(c["created"] < REFERENCE_NOW < c["deletes_after"] for c in made)
    clocks = {c["id"] for c in made}
    on_clock = [c for c in objects(account.test, "customer") if c["test_clock"]]
    assert clocks
    assert on_clock
    assert {c["test_clock"] for c in on_clock} <= clocks
    subs = [s for s in objects(account.test, "subscription") if s["test_clock"]]
    assert subs
    assert all(s["test_clock"] in clocks for s in subs)
    assert not any(c["test_clock"] for c in objects(account.live, "customer"))


def test_events_cover_the_last_thirty_days(account: Account) -> None:
    events = objects(account.test, "event")
    assert all(REFERENCE_NOW - 30 * DAY <= e["created"] <= REFERENCE_NOW for e in events)
    types = {e["type"] for e in events}
    assert {
        "customer.created",
        "customer.deleted",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "payment_intent.succeeded",
        "payout.paid",
    } <= types
    for event in events:
        assert event["id"].startswith("evt_")
        assert event["object"] == "event"
        assert event["data"]["object"]["object"] in event["type"].replace("customer.sub", "sub")
        if event["type"].endswith(".updated"):
            assert event["data"]["previous_attributes"]
        assert isinstance(event["pending_webhooks"], int)
        assert set(event["request"]) == {"id", "idempotency_key"}


def test_older_events_keep_the_older_api_version_and_shape(account: Account) -> None:
    events = objects(account.test, "event")
    versions = Counter(e["api_version"] for e in events)
    assert versions["2026-10-28.endive"] > versions["2024-06-20"] > 0
    old_invoices = [
        e["data"]["object"]
        for e in events
        if e["api_version"] == "2024-06-20" and e["data"]["object"]["object"] == "invoice"
    ]
    assert old_invoices
    for inv in old_invoices:
        assert "subscription" in inv
        assert "paid" in inv
        assert "parent" not in inv
    for event in events:
        if event["api_version"] == "2026-10-28.endive" and event["type"].startswith("invoice."):
            assert "subscription" not in event["data"]["object"]


def test_event_snapshots_show_the_object_at_that_moment(account: Account) -> None:
    """An invoice's ``invoice.created`` shows a draft even though it is paid by now."""
    seen = 0
    for event in objects(account.test, "event"):
        if event["type"] == "invoice.created":
            assert event["data"]["object"]["status"] == "draft"
            seen += 1
        if event["type"] == "invoice.paid":
            assert event["data"]["previous_attributes"]["status"] == "open"
    assert seen


# -- shapes of the pinned version ----------------------------------------------------------------
def test_shapes_follow_the_pinned_version(account: Account) -> None:
    store = account.test
    for inv in objects(store, "invoice"):
        assert not {"subscription", "paid", "charge", "payment_intent"} & set(inv)
        assert inv["lines"]["object"] == "list"
        assert set(inv["status_transitions"]) == {
            "finalized_at",
            "marked_uncollectible_at",
            "paid_at",
            "voided_at",
        }
    for sub in objects(store, "subscription"):
        assert not {"current_period_start", "current_period_end", "discount", "plan"} & set(sub)
        assert sub["items"]["object"] == "list"
        assert all(isinstance(d, str) and d.startswith("di_") for d in sub["discounts"])
        for item in sub["items"]["data"]:
            assert item["id"].startswith("si_")
            assert item["price"]["object"] == "price"
            assert "tiers" not in item["price"]  # only when expanded
    for disc in objects(store, "discount"):
        assert disc["source"]["type"] == "coupon"
        assert "coupon" not in disc
    for ch in objects(store, "charge"):
        assert "invoice" not in ch
        assert "refunds" not in ch
    prefixes = {
        "customer": "cus_",
        "charge": "ch_",
        "payment_intent": "pi_",
        "invoice": "in_",
        "subscription": "sub_",
        "product": "prod_",
        "price": "price_",
        "payout": "po_",
        "balance_transaction": "txn_",
        "dispute": "dp_",
        "credit_note": "cn_",
        "refund": "re_",
        "discount": "di_",
        "event": "evt_",
    }
    for kind, prefix in prefixes.items():
        for obj in objects(store, kind):
            assert obj["id"].startswith(prefix)
            assert obj["object"] == kind
            assert isinstance(obj.get("created", obj.get("start")), int)
            if kind not in ("refund", "discount", "balance_transaction"):
                assert obj["livemode"] is False
            if kind not in ("discount", "balance_transaction", "event"):
                assert isinstance(obj["metadata"], dict)
