"""The customers behind one bar of the MRR movements waterfall, with their MRR before and after.

The waterfall (``movements.MRR_MOVEMENTS``) adds up, per currency, each customer's change
between two instants one grain apart; a bar is the sum of one kind of change (new, expansion,
reactivation, contraction, churned) over the period. This runs the same statement up to the
point where each change is classified, and lists the changes of one kind and currency instead
of adding them up: each customer with the bucket it happened in and their MRR before and after
(rounded). A customer whose MRR went up in one week and down in another is listed under each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flitch.metrics.compute import Queryable, run
from flitch.metrics.movements import MOVEMENTS, MRR_MOVEMENTS

#: Where the movements statement turns its classified changes into sums.
_CUT = "-- amounts to the millionth"

SQL = (
    MRR_MOVEMENTS.sql[: MRR_MOVEMENTS.sql.index(_CUT)]
    + """SELECT k.bucket, k.currency, k.customer, k.movement, round(c.before) AS mrr_before,
  round(c.after) AS mrr_after, round(k.amount) AS change
FROM kinds k JOIN changes c ON c.bucket = k.bucket AND c.currency = k.currency
  AND c.customer = k.customer
WHERE k.movement = $movement AND k.currency = $currency
ORDER BY abs(k.amount) DESC, k.customer, k.bucket"""
)


def movement_customers(
    source: Queryable, start: int, end: int, grain: str, currency: str, movement: str
) -> list[dict[str, Any]]:
    """The changes of kind ``movement`` in ``currency`` over ``[start, end)`` at ``grain``
    (the waterfall's), biggest first: ``bucket, currency, customer, movement, mrr_before,
    mrr_after, change``."""
    if movement not in MOVEMENTS:
        raise ValueError(f"unknown movement {movement!r}; expected one of {', '.join(MOVEMENTS)}")
    params = {
        "start": datetime.fromtimestamp(start, UTC),
        "end": datetime.fromtimestamp(end, UTC),
        "grain": grain,
        "currency": currency,
        "movement": movement,
    }
    return run(source, SQL, params).dicts()
