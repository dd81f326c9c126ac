"""One customer's timeline on the small account of ``customer_account``, checked by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flitch.metrics.customer_timeline import PARTS, customer_timeline, parts_of, reads
from flitch.store import MemoryDatasets
from tests.metrics.customer_account import objects
from tests.metrics.objects import load


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    m = load(objects())
    yield m
    m.close()


def test_every_part_of_one_customer_by_hand(memory: MemoryDatasets) -> None:
    page = customer_timeline(memory, "cus_a", PARTS)
    assert (page["email"], page["name"]) == ("cus_a@example.com", "Ada")
    assert [(s["id"], s["status"], s["mrr"]) for s in page["subscriptions"]] == [
        ("sub_usd", "active", 3000),
        ("sub_eur", "canceled", 0),
    ]
    assert len(page["invoices"]) == 5
    assert {i["subscription"] for i in page["invoices"]} == {"sub_usd", "sub_eur"}
    assert [(c["id"], c["amount_refunded"]) for c in page["charges"]] == [
        ("ch_a1", 400),
        ("ch_a2", 0),
    ]
    assert [(d["id"], d["charge"]) for d in page["disputes"]] == [("dp_a", "ch_a2")]
    steps = [(s["currency"], s["at"][:10], s["mrr"]) for s in page["mrr"]["steps"]]
    assert steps == [
        ("eur", "2026-02-01", 2000),
        ("eur", "2026-03-01", 0),
        ("usd", "2026-01-01", 1000),
        ("usd", "2026-03-01", 3000),
    ]
    running = [s for s in page["mrr"]["spans"] if s["span_to"] is None]
    assert [(s["subscription"], s["mrr"]) for s in running] == [("sub_usd", 3000)]


def test_the_timeline_is_in_order_with_each_kind(memory: MemoryDatasets) -> None:
    events = customer_timeline(memory, "cus_a", PARTS)["timeline"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    kinds = [(e["at"][:10], e["kind"], e["id"], e.get("amount")) for e in events]
    # 1 January: the subscription starts, its invoice, the MRR step, and the charge of 01:00
    # with its refund (shown on the charge's date: Stripe does not say when it was refunded)
    assert kinds[:6] == [
        ("2026-01-01", "subscription", "sub_usd", None),
        ("2026-01-01", "invoice", "in_sub_usd_2026-01-01", 1000),
        ("2026-01-01", "mrr", None, 1000),
        ("2026-01-01", "charge", "ch_a1", 1000),
        ("2026-01-01", "refund", "ch_a1", 400),
        ("2026-02-01", "subscription", "sub_eur", None),
    ]
    assert ("2026-02-03", "dispute", "dp_a", 1000) in kinds
    assert ("2026-03-01", "subscription", "sub_eur", None) in kinds  # canceled and ended
    drops = [e for e in events if e["kind"] == "mrr" and e["amount"] < e["before"]]
    assert [(e["currency"], e["before"], e["amount"]) for e in drops] == [("eur", 2000, 0)]
    assert not any(e["id"] in ("ch_b1", "dp_b", "sub_b") for e in events)


def test_a_part_without_its_datasets_is_left_out(memory: MemoryDatasets) -> None:
    shown, missing = parts_of(["charges", "invoices"])
    assert shown == ["invoices", "charges"]
    assert missing == ["subscriptions", "disputes", "mrr"]
    page = customer_timeline(memory, "cus_a", shown)
    assert [page[p] for p in ("subscriptions", "disputes", "mrr")] == [None, None, None]
    assert {e["kind"] for e in page["timeline"]} == {"invoice", "charge", "refund"}


def test_a_live_load_reads_only_this_customers_rows_where_stripe_filters() -> None:
    got = {r.dataset: r.params for r in reads("cus_a", PARTS)}
    assert got == {
        "charges": {"customer": "cus_a"},
        "coupons": {},
        "disputes": {},
        "invoices": {"customer": "cus_a"},
        "prices": {},
        "subscriptions": {"customer": "cus_a"},
    }
