"""The balance bridge — gross → refunds → disputes → fees → net → payouts — on balance
transactions built by hand, in USD and JPY (zero-decimal)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flitch.metrics import compute, compute_report, get, get_report
from flitch.store import MemoryDatasets
from tests.metrics.objects import DAY, load, payout, ts, txn

T0 = ts("2026-10-01")
END = T0 + 30 * DAY

USD = [
    txn("t1", T0 + DAY, 10000, 320),
    txn("t2", T0 + 2 * DAY, 5000, 175),
    txn("t3", T0 + 3 * DAY, -2000, 0, "refund"),
    txn("t4", T0 + 4 * DAY, -5000, 1500, "dispute"),  # with Stripe's dispute fee
    txn("t5", T0 + 5 * DAY, -200, 0, "fee"),  # a fee charged on its own
    txn("t6", T0 + 6 * DAY, 100, 0, "other_adjustment"),
    # everything above, net: 9680 + 4825 - 2000 - 6500 - 200 + 100 = 5905, paid out
    txn("t7", T0 + 7 * DAY, -5905, 0, "payout"),
    txn("t8", END + 1, 7777, 250),  # after the period
]
JPY = [
    txn("j1", T0 + DAY, 5000, 180, currency="jpy"),
    txn("j2", T0 + 8 * DAY, -4820, 0, "payout", currency="jpy"),
]


def bridge(rows: list[dict[str, Any]], currency: str) -> dict[str, int]:
    return {r["step"]: r["amount"] for r in rows if r["currency"] == currency}


def run(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with load({"balance_transactions": objects}) as memory:
        return compute_report(memory, get_report("balance_bridge"), T0, END)


def test_the_bridge_balances_to_the_payouts() -> None:
    rows = run(USD + JPY)
    assert bridge(rows, "usd") == {
        "gross": 15000,
        "refunds": -2000,
        "disputes": -5000,
        "adjustments": 100,
        "fees": -(320 + 175 + 1500) - 200,
        "net": 5905,
        "payouts": -5905,
        "other": 0,
        "balance_change": 0,
    }
    assert bridge(rows, "jpy") == {
        "gross": 5000,
        "refunds": 0,
        "disputes": 0,
        "adjustments": 0,
        "fees": -180,
        "net": 4820,
        "payouts": -4820,
        "other": 0,
        "balance_change": 0,
    }


def test_the_steps_add_up_in_order_and_are_labelled() -> None:
    rows = run([*USD, txn("tp", T0 + 9 * DAY, 1000, 0, "topup")])
    steps = bridge(rows, "usd")
    between = sum(steps[s] for s in ("gross", "refunds", "disputes", "adjustments", "fees"))
    assert between == steps["net"]
    assert steps["net"] + steps["payouts"] + steps["other"] == steps["balance_change"] == 1000
    usd = [r for r in rows if r["currency"] == "usd"]
    assert [r["kind"] for r in usd] == [
        "total",
        "delta",
        "delta",
        "delta",
        "delta",
        "total",
        "delta",
        "delta",
        "total",
    ]
    assert usd[0]["label"] == "Gross"


def test_net_volume_and_fees_metrics_agree_with_the_bridge() -> None:
    memory: MemoryDatasets
    with load({"balance_transactions": USD + JPY}) as memory:
        got = compute(memory, [get("net_volume"), get("fees")], T0, END)
    assert got["net_volume"].values == {"jpy": 4820, "usd": 5905}
    assert got["fees"].values == {"jpy": 180, "usd": 320 + 175 + 1500 + 200}


def test_each_step_drills_down_to_its_transactions() -> None:
    rows = run(USD)
    report = get_report("balance_bridge")
    with load({"balance_transactions": USD}) as memory:
        for row in rows:
            dataset, where = report.drill(row)
            assert dataset == "balance_transactions"
            sql = f"SELECT id FROM balance_transactions WHERE {where} ORDER BY id"
            ids = [r[0] for r in memory.query(sql, {"start": _dt(T0), "end": _dt(END)}).rows]
            expected = {
                "gross": ["t1", "t2"],
                "refunds": ["t3"],
                "disputes": ["t4"],
                "adjustments": ["t6"],
                "fees": ["t1", "t2", "t4", "t5"],
                "payouts": ["t7"],
                "other": [],
            }.get(row["step"])
            if expected is not None:
                assert ids == expected, row["step"]


def test_payouts_by_arrival_date_leave_failed_ones_out() -> None:
    payouts = [
        payout("po_1", T0 - 2 * DAY, 3000, T0 + DAY),  # created before, arrives in the period
        payout("po_2", T0 + 3 * DAY, 4000, T0 + 5 * DAY, status="failed"),
        payout("po_3", END - DAY, 500, END + DAY),  # arrives after
        payout("po_4", T0 + 3 * DAY, 70000, T0 + 4 * DAY, currency="jpy"),
    ]
    with load({"payouts": payouts}) as memory:
        assert compute(memory, [get("payouts")], T0, END)["payouts"].values == {
            "jpy": 70000,
            "usd": 3000,
        }


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)
