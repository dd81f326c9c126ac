"""The balance: what has become available, and the payouts that send it to the bank.

Per currency, Stripe pays out the *available* balance on a schedule (weekly here, on Mondays):
every transaction whose ``available_on`` has passed and that no payout has taken yet. So at each
payout, the nets of all non-payout transactions available by then equal the sum of all payouts
so far; what remains at any time is the pending money plus what became available since the
last payout. A payout that bounces returns its amount in a ``payout_failure`` transaction,
which the next payout takes along. ``ModeStore.paid_out_by`` remembers which payout took what.
"""

from __future__ import annotations

from flitch.emulator.operations import DAY, Sink, pay_out, settle_payout
from flitch.emulator.shapes import Obj

HOUR = 3600
#: The payout run's hour on Mondays (UTC).
PAYOUT_HOUR = 2
#: The payout of each currency that bounces (the bank account was closed), by its number.
FAILING_PAYOUT = 9


def destination(currency: str, livemode: bool) -> str:
    """The bank account of a currency (the same on every run: a fixed id per currency)."""
    return f"ba_1Flitch{'Live' if livemode else 'Test'}{currency.upper()}Bank0000"


def is_payout(txn: Obj) -> bool:
    return bool(txn["type"] == "payout")


def schedule_payouts(
    sink: Sink, transactions: list[Obj], paid_out_by: dict[str, str], start: int
) -> None:
    """Weekly payouts from ``start`` to ``sink.now`` of every currency's available balance."""
    by_currency: dict[str, list[Obj]] = {}
    for txn in transactions:
        if not is_payout(txn):
            by_currency.setdefault(txn["currency"], []).append(txn)
    now = sink.now
    first = (start // DAY + (7 - (start // DAY + 3) % 7) % 7) * DAY + PAYOUT_HOUR * HOUR
    for currency in sorted(by_currency):
        queue = sorted(by_currency[currency], key=lambda x: (x["available_on"], x["id"]))
        balance, i, count = 0, 0, 0
        waiting: list[str] = []
        t = first
        while t <= now:
            while i < len(queue) and queue[i]["available_on"] <= t:
                balance += queue[i]["net"]
                waiting.append(queue[i]["id"])
                i += 1
            if balance > 0:
                count += 1
                payout, _txn = pay_out(
                    sink,
                    t,
                    currency=currency,
                    amount=balance,
                    destination=destination(currency, sink.livemode),
                )
                for txn_id in waiting:
                    paid_out_by[txn_id] = payout["id"]
                waiting, balance = [], 0
                arrival = payout["arrival_date"]
                if arrival <= now:
                    failure = "account_closed" if count == FAILING_PAYOUT else None
                    _payout, returned = settle_payout(sink, payout, arrival, failure=failure)
                    if returned is not None:
                        _insert(queue, i, returned)
                elif t + HOUR <= now:
                    payout["status"] = "in_transit"
            t += 7 * DAY


def _insert(queue: list[Obj], start: int, txn: Obj) -> None:
    """Put a returned-funds transaction in the queue's order, after ``start``."""
    j = start
    while j < len(queue) and queue[j]["available_on"] <= txn["available_on"]:
        j += 1
    queue.insert(j, txn)


def unpaid_balances(
    transactions: list[Obj], paid_out_by: dict[str, str], now: int
) -> dict[str, tuple[int, list[str]]]:
    """Per currency, what a payout at ``now`` would take: (amount, transaction ids)."""
    found: dict[str, tuple[int, list[str]]] = {}
    for txn in transactions:
        if txn["available_on"] <= now and txn["id"] not in paid_out_by and not is_payout(txn):
            total, ids = found.get(txn["currency"], (0, []))
            ids.append(txn["id"])
            found[txn["currency"]] = (total + txn["net"], ids)
    return found


def unpaid_balance(
    transactions: list[Obj], paid_out_by: dict[str, str], currency: str, now: int
) -> tuple[int, list[str]]:
    """What a payout at ``now`` would take: available, not yet paid out (amount, txn ids)."""
    total, ids = 0, []
    for txn in transactions:
        if (
            txn["currency"] == currency
            and not is_payout(txn)
            and txn["available_on"] <= now
            and txn["id"] not in paid_out_by
        ):
            total += txn["net"]
            ids.append(txn["id"])
    return total, ids
