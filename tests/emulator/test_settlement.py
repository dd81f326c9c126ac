"""Live mode settles GBP and JPY charges into USD at Stripe-like rates; EUR and test mode keep
their own balances (so the hand-computed test-mode expectations are untouched)."""

from __future__ import annotations

from typing import Any

import pytest

from flitch.emulator.generator import generate_account
from flitch.emulator.settlement import rate
from flitch.emulator.store import Account, ModeStore

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(seed=42, customers=120)


def _settled(store: ModeStore) -> list[tuple[Obj, Obj]]:
    """Every succeeded charge with its balance transaction."""
    out = []
    for charge in store.ordered("charge").objects:
        if charge["balance_transaction"]:
            txn = store.get(charge["balance_transaction"])
            assert txn is not None
            out.append((charge, txn))
    return out


def test_live_gbp_and_jpy_settle_in_usd_at_the_days_rate(account: Account) -> None:
    settled = _settled(account.live)
    converted = [(c, t) for c, t in settled if c["currency"] in ("gbp", "jpy")]
    assert {c["currency"] for c, _ in converted} == {"gbp", "jpy"}
    for charge, txn in converted:
        assert txn["currency"] == "usd"
        assert txn["exchange_rate"] == rate(charge["currency"], txn["created"])
        # the rate multiplies the integer amounts as they are: yen into cents near 0.67
        assert txn["amount"] == round(charge["amount"] * txn["exchange_rate"])
        assert txn["net"] == txn["amount"] - txn["fee"]
    jpy = [t["exchange_rate"] for c, t in converted if c["currency"] == "jpy"]
    assert 0.6 < min(jpy) <= max(jpy) < 0.72
    assert len({round(r, 6) for r in jpy}) > 1  # the rate moves with the day
    for charge, txn in settled:
        if charge["currency"] in ("usd", "eur"):
            assert (txn["currency"], txn["exchange_rate"]) == (charge["currency"], None)
    assert {p["currency"] for p in account.live.ordered("payout").objects} <= {"usd", "eur"}


def test_test_mode_keeps_a_balance_in_every_currency(account: Account) -> None:
    for charge, txn in _settled(account.test):
        assert (txn["currency"], txn["exchange_rate"]) == (charge["currency"], None)
        assert txn["amount"] == charge["amount"]
