"""A dashboard in one reporting currency, computed by hand.

The Payments dashboard from 1 January to 1 April 2026 (by month) over four succeeded charges:
two EUR charges Stripe settled into USD, 100.00 EUR on 10 January at 1.10 and 200.00 EUR on
20 March at 1.20; 50.00 USD on 5 February; 30.00 GBP on 10 February, kept in a GBP balance
(never settled into USD, so it has no rate and stays apart).

Gross volume over the period is converted at the period's middle (15 February, noon): the
20 March rate is nearer (32.5 days) than the 10 January one (36.5), so 300.00 EUR are 360.00
USD, plus 50.00 USD: 410.00 USD, and 30.00 GBP apart. By month, each bucket at its start:
January's 100.00 EUR at 1.10 (1 January is nearer the 10 January rate) = 110.00; February's
50.00 USD; March's 200.00 EUR at 1.20 (19 days from 1 March, against 50) = 240.00.
"""

from __future__ import annotations

from typing import Any

import pytest

from flitch.dashboards import BUILTIN, Period, evaluate
from flitch.dashboards.reporting import LABEL, convert_board
from flitch.metrics.series import Grain
from flitch.store import MemoryDatasets
from tests.metrics.objects import charge, load, ts, txn

PERIOD = Period(ts("2026-01-01"), ts("2026-04-01"))


@pytest.fixture
def memory() -> MemoryDatasets:
    made = [
        ("ch_e1", "2026-01-10", 10_000, "eur", "txn_e1", 11_000, "usd", 1.10),
        ("ch_e2", "2026-03-20", 20_000, "eur", "txn_e2", 24_000, "usd", 1.20),
        ("ch_u1", "2026-02-05", 5_000, "usd", "txn_u1", 5_000, "usd", None),
        ("ch_g1", "2026-02-10", 3_000, "gbp", "txn_g1", 3_000, "gbp", None),
    ]
    charges, txns = [], []
    for cid, day, amount, currency, tid, settled, into, rate in made:
        c = charge(cid, ts(day), amount, currency)
        c["balance_transaction"] = tid
        charges.append(c)
        t = txn(tid, ts(day), settled, currency=into)
        t.update(exchange_rate=rate, source=cid)
        txns.append(t)
    return load({"charges": charges, "balance_transactions": txns})


def _board(memory: MemoryDatasets, currency: str | None) -> dict[str, Any]:
    out = evaluate(memory, BUILTIN["payments"], PERIOD, grain=Grain.MONTH, workers=1)
    return out if currency is None else convert_board(out, memory, currency, PERIOD)


def _chart(board: dict[str, Any], metric: str, kind: str) -> dict[str, Any]:
    return next(c for c in board["charts"] if c.get("metric") == metric and c["type"] == kind)


def test_off_by_default_every_currency_apart(memory: MemoryDatasets) -> None:
    board = _board(memory, None)
    assert board["metrics"]["gross_volume"] == {"eur": 30_000, "gbp": 3_000, "usd": 5_000}
    assert "reporting" not in board
    assert "converted" not in _chart(board, "gross_volume", "number")


def test_two_rates_on_two_dates_and_a_currency_never_settled(memory: MemoryDatasets) -> None:
    board = _board(memory, "usd")
    assert board["metrics"]["gross_volume"] == {"usd": 41_000, "gbp": 3_000}
    number = _chart(board, "gross_volume", "number")
    assert number["converted"] == {
        "currency": "usd",
        "label": LABEL,
        "rates": ["txn_e2"],
        "apart": ["gbp"],
    }
    # the converted total drills to the rows of both currencies it adds up
    assert "currency = 'usd'" in number["drill"]["usd"]["where"]
    assert "currency = 'eur'" in number["drill"]["usd"]["where"]
    assert "currency = 'gbp'" in number["drill"]["gbp"]["where"]
    # counts are not money: untouched
    assert board["metrics"]["successful_payments"] == {"eur": 2, "gbp": 1, "usd": 1}

    series = _chart(board, "gross_volume", "area")["series"]
    assert [s["currency"] for s in series] == ["usd", "gbp"]
    assert [p[1] for p in series[0]["points"]] == [11_000, 5_000, 24_000]
    assert [p[1] for p in series[1]["points"]] == [0, 3_000, 0]

    reporting = board["reporting"]
    assert reporting["currency"] == "usd"
    assert reporting["label"] == "converted at Stripe's settlement rates"
    assert reporting["apart"] == ["gbp"]
    assert [(r["currency"], r["rate"], r["transaction"]) for r in reporting["rates"]] == [
        ("eur", 1.10, "txn_e1"),
        ("eur", 1.20, "txn_e2"),
    ]
    assert reporting["rates"][0]["drill"] == {
        "dataset": "balance_transactions",
        "where": "id = 'txn_e1'",
    }


def test_the_settlement_currency_of_no_rate_leaves_all_apart(memory: MemoryDatasets) -> None:
    board = _board(memory, "gbp")  # nothing was ever settled into GBP from another currency
    assert board["metrics"]["gross_volume"] == {"gbp": 3_000, "eur": 30_000, "usd": 5_000}
    assert board["reporting"]["rates"] == []
    assert board["reporting"]["apart"] == ["eur", "usd"]
