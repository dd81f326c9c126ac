"""Converting to a reporting currency at Stripe's settlement rates, checked by hand.

Balance transactions (settled in USD) of two EUR charges: 1 January at 1.10, 1 March at 1.20;
one JPY charge settled on 1 February: 1,000 yen became 6.50 USD, and Stripe's rate multiplies
the integer amounts (yen has no minor unit, the dollar has cents), so it is 0.65, not 0.0065.
GBP was never settled into USD: it has no rate and stays apart. A USD charge settled in USD
carries no rate.
"""

from __future__ import annotations

import pytest

from flitch.metrics.conversion import Rate, convert, load_rates, rate_for
from flitch.store import MemoryDatasets
from tests.metrics.objects import charge, load, ts, txn


@pytest.fixture
def memory() -> MemoryDatasets:
    charges = [
        charge("ch_e1", ts("2026-01-01"), 1000, "eur"),
        charge("ch_e2", ts("2026-03-01"), 2000, "eur"),
        charge("ch_y1", ts("2026-02-01"), 1000, "jpy"),
        charge("ch_u1", ts("2026-02-01"), 500, "usd"),
    ]
    settled = [
        ("txn_e1", "ch_e1", 1100, 1.10, "2026-01-01"),
        ("txn_e2", "ch_e2", 2400, 1.20, "2026-03-01"),
        ("txn_y1", "ch_y1", 650, 0.65, "2026-02-01"),
        ("txn_u1", "ch_u1", 500, None, "2026-02-01"),
    ]
    txns = []
    for (tid, cid, amount, rate, day), c in zip(settled, charges, strict=True):
        c["balance_transaction"] = tid
        t = txn(tid, ts(day), amount)
        t["exchange_rate"] = rate
        t["source"] = cid
        txns.append(t)
    return load({"charges": charges, "balance_transactions": txns})


def test_the_rates_stripe_applied_per_pair(memory: MemoryDatasets) -> None:
    rates = load_rates(memory, "usd")
    assert [(r.source, r.rate, r.at[:10], r.transaction) for r in rates] == [
        ("eur", 1.10, "2026-01-01", "txn_e1"),
        ("eur", 1.20, "2026-03-01", "txn_e2"),
        ("jpy", 0.65, "2026-02-01", "txn_y1"),
    ]
    assert load_rates(memory, "eur") == []


def test_the_nearest_rate_in_time_and_a_currency_never_settled(memory: MemoryDatasets) -> None:
    rates = load_rates(memory, "usd")
    jan_20 = ts("2026-01-20")  # 19 days after the first EUR rate, 40 before the second
    feb_15 = ts("2026-02-15")  # 45 days after, 14 before
    first = rate_for(rates, "eur", jan_20)
    second = rate_for(rates, "eur", feb_15)
    assert first is not None
    assert second is not None
    assert (first.rate, second.rate) == (1.10, 1.20)
    assert rate_for(rates, "gbp", jan_20) is None
    # 100.00 EUR on 20 January: 110.00 USD; 100.00 EUR on 15 February: 120.00 USD;
    # 10,000 yen: 65.00 USD (10,000 × 0.65 cents); 50.00 GBP stays apart; USD as is
    got = convert({"eur": 10_000, "gbp": 5_000, "usd": 700}, "usd", rates, jan_20)
    assert got.total == 11_000 + 700
    assert got.apart == {"gbp": 5_000}
    assert [r.transaction for r in got.used] == ["txn_e1"]
    later = convert({"eur": 10_000, "jpy": 10_000}, "usd", rates, feb_15)
    assert later.total == 12_000 + 6_500
    assert later.apart == {}
    assert sorted(r.transaction for r in later.used) == ["txn_e2", "txn_y1"]
    assert isinstance(later.used[0], Rate)
