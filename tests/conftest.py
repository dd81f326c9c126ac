"""Shared fixtures: a generated Stripe account and the emulator serving it over real HTTP.

- ``account`` (session): ``generate_account(seed=42, customers=60)``. Shared by every test in
  the session: read it, never change it (use ``fresh_account()`` for that).
- ``emulator``: an ``Emulator`` serving ``account`` with no rate limits; its config is reset
  and its request log cleared before each test, so a test may change ``emulator.config``.
- ``make_emulator(account=None, **config_overrides)``: starts a fresh emulator (stopped after
  the test), e.g. ``make_emulator(test_rps=2)`` or ``make_emulator(fresh_account(), ...)``.
- ``tiny_emulator``: like ``emulator``, on ``tiny_account()`` — sixty hand-made objects in
  which every edge case surely exists (its present: ``TINY_NOW``; its clock, the suite's).
- ``stripe_client(url, key=TEST_KEY)``: the official SDK pointed at an emulator.
- Time: the whole run reads one clock, started at ``tests.timeline.TEST_NOW`` (set
  ``FLITCH_TEST_AT`` to run at another date); generated accounts live at ``ACCOUNT_NOW``, as does
  ``tiny_account()`` (``TINY_NOW``). ``pin_clock(at)`` freezes the process's clock for a test.
- PostgreSQL (``tests.postgres``): ``postgres_server`` (session) is a real server started for
  the run, ``postgres_url`` a fresh database on it, ``database_url`` runs a test on each engine
  (None for SQLite, then a PostgreSQL URL).
- Keys: ``TEST_KEY`` / ``LIVE_KEY`` (Read on everything), ``LIMITED_KEY`` (no subscriptions,
  no events), ``REVOKED_KEY``, ``SECRET_KEY`` (sk_), ``PUBLISHABLE_KEY`` (pk_) — the emulator's
  demo keys, accepted by every emulator these fixtures start.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe

from flitch import clock as clocks
from flitch.emulator.auth import (
    DEMO_LIMITED_KEY,
    DEMO_LIVE_KEY,
    DEMO_PUBLISHABLE_KEY,
    DEMO_REVOKED_KEY,
    DEMO_SECRET_KEY,
    DEMO_TEST_KEY,
)
from flitch.emulator.server import Emulator, EmulatorConfig
from flitch.emulator.store import Account
from tests.postgres import database_url, postgres_server, postgres_url  # noqa: F401 (fixtures)
from tests.timeline import ACCOUNT_NOW, TEST_NOW, describe

TEST_KEY = DEMO_TEST_KEY
LIVE_KEY = DEMO_LIVE_KEY
LIMITED_KEY = DEMO_LIMITED_KEY
REVOKED_KEY = DEMO_REVOKED_KEY
SECRET_KEY = DEMO_SECRET_KEY
PUBLISHABLE_KEY = DEMO_PUBLISHABLE_KEY

SEED = 42
CUSTOMERS = 60


def pytest_configure(config: pytest.Config) -> None:
    """Start this process's clock at the suite's instant; ``flitch`` processes that tests start
    inherit it (``FLITCH_CLOCK_OFFSET``), so Flitch and the emulators agree on the time."""
    clock = clocks.Clock.starting_at(TEST_NOW)
    clocks.set_process_clock(clock)
    os.environ[clocks.OFFSET_ENV] = repr(clock.offset)


def pytest_report_header(config: pytest.Config) -> str:
    return describe()


def clock_env(clock: clocks.Clock | None = None) -> dict[str, str]:
    """The environment that gives a ``flitch`` subprocess ``clock`` (default: the process's)."""
    return {clocks.OFFSET_ENV: repr((clock or clocks.process_clock()).offset)}


@pytest.fixture
def pin_clock() -> Iterator[Callable[[float], clocks.Clock]]:
    """``pin_clock(at)``: the process's clock reads ``at`` (frozen) until the test ends."""
    before = clocks.process_clock()

    def pin(at: float) -> clocks.Clock:
        clock = clocks.Clock.frozen(at)
        clocks.set_process_clock(clock)
        return clock

    yield pin
    clocks.set_process_clock(before)


def fresh_account(seed: int = SEED, customers: int = CUSTOMERS) -> Account:
    """A new generated account, yours to change, living at ``ACCOUNT_NOW``."""
    from flitch.emulator.generator import generate_account

    return generate_account(seed=seed, customers=customers, now=ACCOUNT_NOW)


def generous_config(**overrides: Any) -> EmulatorConfig:
    """The demo keys and no rate limits (tests that want limits set them)."""
    settings: dict[str, Any] = {"live_rps": None, "test_rps": None, "endpoint_rps": None}
    settings.update(overrides)
    return EmulatorConfig(**settings)


_HTTP: list[stripe.HTTPXClient] = []


def stripe_client(url: str, key: str = TEST_KEY, **options: Any) -> stripe.StripeClient:
    """The official SDK, talking to the emulator at ``url`` with ``key``.

    The SDK's HTTP client is shared (making one costs an SSL context, tens of milliseconds).
    """
    if not _HTTP:
        _HTTP.append(stripe.HTTPXClient(allow_sync_methods=True))
    return stripe.StripeClient(key, base_addresses={"api": url}, http_client=_HTTP[0], **options)


@pytest.fixture(scope="session")
def account() -> Account:
    return fresh_account()


@pytest.fixture(scope="session")
def _shared_emulator(account: Account) -> Iterator[Emulator]:
    with Emulator(account, generous_config()) as emu:
        yield emu


@pytest.fixture
def emulator(_shared_emulator: Emulator) -> Emulator:
    emu = _shared_emulator
    emu.config = generous_config()
    emu.app.limiter.reset()
    emu.log.clear()
    return emu


@pytest.fixture(scope="session")
def _shared_tiny_emulator() -> Iterator[Emulator]:
    with Emulator(tiny_account(), generous_config()) as emu:
        yield emu


@pytest.fixture
def tiny_emulator(_shared_tiny_emulator: Emulator) -> Emulator:
    """An emulator serving ``tiny_account()`` (read-only use; config and log reset per test)."""
    emu = _shared_tiny_emulator
    emu.config = generous_config()
    emu.app.limiter.reset()
    emu.log.clear()
    return emu


@pytest.fixture
def make_emulator(request: pytest.FixtureRequest) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(account_: Account | None = None, **overrides: Any) -> Emulator:
        served = account_ if account_ is not None else request.getfixturevalue("account")
        emu = Emulator(served, generous_config(**overrides)).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


# -- a hand-made account with every edge case ---------------------------------------------------
#: The tiny account's present: the generated accounts' own.
TINY_NOW = ACCOUNT_NOW


def tiny_account(now: int = TINY_NOW) -> Account:
    """About sixty objects, made by hand so that each edge case surely exists.

    Test mode: 12 customers (one deleted, one on a test clock; two share a second), their
    payment intents and charges (one disputed, one refunded), 2 products (one inactive),
    4 prices (one inactive, one tiered), 2 coupons, 6 subscriptions (active, trialing,
    past_due, canceled, incomplete_expired, and one on a test clock) with a discount, their
    invoices, a credit note, 2 payouts, balance transactions paid out by them, and events.
    Live mode: 3 customers and a charge. ``now`` is the newest ``created``.
    """
    acct = Account("acct_1TinyEdgeCases00")
    t = acct.test
    day = 86400
    base = now - 20 * day

    def put(obj: dict[str, Any], created: int, livemode: bool = False) -> None:
        obj.setdefault("created", created)
        obj.setdefault("livemode", livemode)
        obj.setdefault("metadata", {})
        acct.mode(livemode).put(obj)

    for i in range(12):
        put(
            {
                "id": f"cus_tiny{i:02d}",
                "object": "customer",
                "email": f"person{i}@example.com",
                "name": f"Person {i}",
                "balance": 0,
                "currency": "usd",
                "test_clock": "clock_tiny" if i == 7 else None,
            },
            base + (i if i != 5 else 4) * day,  # cus_tiny04 and cus_tiny05 share a second
        )
    t.delete("cus_tiny03")
    put({"id": "prod_tinyA", "object": "product", "name": "Basic", "active": True}, base)
    put({"id": "prod_tinyB", "object": "product", "name": "Old", "active": False}, base + 1)
    prices = [
        ("price_tiny1", "prod_tinyA", True, 1000, None),
        ("price_tiny2", "prod_tinyA", True, None, [{"up_to": 10, "unit_amount": 500}]),
        ("price_tiny3", "prod_tinyB", False, 700, None),
        ("price_tiny4", "prod_tinyA", True, 9000, None),
    ]
    for n, (pid, prod, active, amount, tiers) in enumerate(prices):
        price: dict[str, Any] = {
            "id": pid,
            "object": "price",
            "product": prod,
            "active": active,
            "currency": "usd",
            "unit_amount": amount,
            "billing_scheme": "tiered" if tiers else "per_unit",
            "type": "recurring",
            "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        }
        if tiers:
            price["tiers"] = tiers
        put(price, base + 2 + n)
    put(
        {"id": "coupon_tinyA", "object": "coupon", "percent_off": 10.0, "duration": "forever"}, base
    )
    put({"id": "coupon_tinyB", "object": "coupon", "amount_off": 500, "duration": "once"}, base + 5)
    t.put(
        {"id": "di_tiny1", "object": "discount", "start": base + 3 * day, "coupon": "coupon_tinyA"}
    )
    statuses = ["active", "trialing", "past_due", "canceled", "incomplete_expired", "active"]
    for i, status in enumerate(statuses):
        cus = f"cus_tiny{i + 6:02d}"
        sub = f"sub_tiny{i}"
        inv = f"in_tiny{i}"
        price_id = "price_tiny4" if i == 2 else "price_tiny1"
        put(
            {
                "id": sub,
                "object": "subscription",
                "customer": cus,
                "status": status,
                "test_clock": "clock_tiny" if cus == "cus_tiny07" else None,
                "discounts": ["di_tiny1"] if i == 0 else [],
                "latest_invoice": inv,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"si_tiny{i}",
                            "object": "subscription_item",
                            "price": {"id": price_id, "object": "price", "product": "prod_tinyA"},
                            "quantity": 1,
                        }
                    ],
                },
            },
            base + (i + 6) * day + 10,
        )
        put(
            {
                "id": inv,
                "object": "invoice",
                "customer": cus,
                "status": ["paid", "draft", "open", "void", "uncollectible", "paid"][i],
                "total": 1000,
                "parent": {"subscription_details": {"subscription": sub}},
            },
            base + (i + 6) * day + 20,
        )
    put(
        {
            "id": "cn_tiny1",
            "object": "credit_note",
            "invoice": "in_tiny0",
            "customer": "cus_tiny06",
            "status": "issued",
            "total": 300,
        },
        base + 13 * day,
    )
    for i in range(6):
        cus = f"cus_tiny{i:02d}"
        put(
            {
                "id": f"pi_tiny{i}",
                "object": "payment_intent",
                "customer": cus,
                "amount": 1000 * (i + 1),
                "status": "succeeded",
                "latest_charge": f"ch_tiny{i}",
            },
            base + i * day + 30,
        )
        put(
            {
                "id": f"ch_tiny{i}",
                "object": "charge",
                "customer": cus,
                "payment_intent": f"pi_tiny{i}",
                "amount": 1000 * (i + 1),
                "amount_refunded": 1000 if i == 2 else 0,
                "refunded": i == 2,
                "disputed": i == 4,
                "status": "succeeded",
                "balance_transaction": f"txn_tiny{i}",
            },
            base + i * day + 31,
        )
        put(
            {
                "id": f"txn_tiny{i}",
                "object": "balance_transaction",
                "type": "charge",
                "amount": 1000 * (i + 1),
                "fee": 59,
                "net": 1000 * (i + 1) - 59,
                "source": f"ch_tiny{i}",
            },
            base + i * day + 31,
        )
    put(
        {
            "id": "dp_tiny1",
            "object": "dispute",
            "charge": "ch_tiny4",
            "payment_intent": "pi_tiny4",
            "status": "needs_response",
            "amount": 5000,
        },
        base + 4 * day + 100,
    )
    for i, (status, arrival) in enumerate([("paid", base + 9 * day), ("pending", now + 2 * day)]):
        put(
            {
                "id": f"po_tiny{i}",
                "object": "payout",
                "status": status,
                "arrival_date": arrival,
                "amount": 2000,
                "balance_transaction": f"txn_tinypo{i}",
            },
            base + (7 + 8 * i) * day,
        )
        put(
            {
                "id": f"txn_tinypo{i}",
                "object": "balance_transaction",
                "type": "payout",
                "amount": -2000,
                "fee": 0,
                "net": -2000,
                "source": f"po_tiny{i}",
            },
            base + (7 + 8 * i) * day,
        )
    t.paid_out_by.update(
        {"txn_tiny0": "po_tiny0", "txn_tiny1": "po_tiny0", "txn_tiny5": "po_tiny1"}
    )
    events = [
        ("customer.created", "cus_tiny11", now - 40 * day),  # older than Stripe keeps
        ("customer.created", "cus_tiny10", now - 3 * day),
        ("charge.succeeded", "ch_tiny5", now - 2 * day),
        ("charge.refunded", "ch_tiny2", now - 2 * day + 5),
        ("invoice.paid", "in_tiny5", now - day),
        ("customer.subscription.deleted", "sub_tiny3", now),
    ]
    for n, (kind, oid, created) in enumerate(events):
        obj = t.get(oid)
        put(
            {
                "id": f"evt_tiny{n}",
                "object": "event",
                "type": kind,
                "data": {"object": obj},
                "pending_webhooks": 0,
                "api_version": "2026-10-28.endive",
            },
            created,
        )
    for i in range(3):
        put(
            {"id": f"cus_tinylive{i}", "object": "customer", "email": f"live{i}@example.com"},
            base + i,
            livemode=True,
        )
    put({"id": "ch_tinylive0", "object": "charge", "customer": "cus_tinylive0"}, base + 9, True)
    return acct
