"""The balance bridge: gross → refunds → disputes → fees → net → payouts, per currency.

Built from balance transactions created in the period (the money that actually moved, when it
moved), grouped by ``reporting_category``. The steps add up by construction:

    gross + refunds + disputes + adjustments + fees = net
    net + payouts + other = change in balance

so a period whose net volume was all paid out ends with a change in balance of zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.model import Column, Report, Unit, period, sql_list, sql_text

#: Balance-transaction reporting categories that make up net volume (money in and out of the
#: business's activity), leaving out payouts, transfers and the like.
NET_VOLUME_CATEGORIES = (
    "charge",
    "refund",
    "dispute",
    "dispute_reversal",
    "partial_capture_reversal",
    "refund_failure",
    "other_adjustment",
    "fee",
)
PAYOUT_CATEGORIES = ("payout", "payout_reversal")

#: (step, label, kind, categories, the amount summed). ``kind``: ``total`` bars stand on zero,
#: ``delta`` bars move from the previous total.
STEPS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("gross", "Gross", "total", ("charge",), "amount"),
    ("refunds", "Refunds", "delta", ("refund", "refund_failure"), "amount"),
    ("disputes", "Disputes", "delta", ("dispute", "dispute_reversal"), "amount"),
    (
        "adjustments",
        "Adjustments",
        "delta",
        ("other_adjustment", "partial_capture_reversal"),
        "amount",
    ),
    ("fees", "Fees", "delta", NET_VOLUME_CATEGORIES, "fee"),
    ("net", "Net volume", "total", NET_VOLUME_CATEGORIES, "net"),
    ("payouts", "Payouts", "delta", PAYOUT_CATEGORIES, "net"),
    ("other", "Other (transfers, top-ups…)", "delta", (), "net"),
    ("balance_change", "Change in balance", "total", (), "net"),
)

_KNOWN = NET_VOLUME_CATEGORIES + PAYOUT_CATEGORIES


def _expression(step: str, categories: tuple[str, ...], field: str) -> str:
    if step == "fees":
        # fees carried by transactions, plus fees charged on their own (negative amounts)
        return (
            f"COALESCE(-sum(fee) FILTER (WHERE reporting_category IN {sql_list(categories)}), 0)"
            " + COALESCE(sum(amount) FILTER (WHERE reporting_category = 'fee'), 0)"
        )
    if step == "other":
        return f"COALESCE(sum(net) FILTER (WHERE reporting_category NOT IN {sql_list(_KNOWN)}), 0)"
    if step == "balance_change":
        return "sum(net)"
    return f"COALESCE(sum({field}) FILTER (WHERE reporting_category IN {sql_list(categories)}), 0)"


_SQL = (
    "SELECT currency, "  # noqa: S608
    + ", ".join(f"{_expression(s, cats, f)} AS {s}" for s, _, _, cats, f in STEPS)
    + f" FROM balance_transactions WHERE {period()} GROUP BY currency ORDER BY currency"
)


def _long(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per currency and step, in bridge order."""
    out: list[dict[str, Any]] = []
    for row in rows:
        for step, label, kind, _, _ in STEPS:
            out.append(
                {
                    "currency": row["currency"],
                    "step": step,
                    "label": label,
                    "kind": kind,
                    "amount": round(row[step] or 0),
                }
            )
    return out


def _drill(row: Mapping[str, Any]) -> tuple[str, str]:
    step = str(row.get("step", ""))
    categories = {s: cats for s, _, _, cats, _ in STEPS}.get(step, ())
    cond = [period()]
    if "currency" in row:
        cond.append(f"currency = {sql_text(str(row['currency']))}")
    if step == "fees":
        cond.append("(fee <> 0 OR reporting_category = 'fee')")
    elif step == "other":
        cond.append(f"reporting_category NOT IN {sql_list(_KNOWN)}")
    elif categories:
        cond.append(f"reporting_category IN {sql_list(categories)}")
    return "balance_transactions", " AND ".join(cond)


BALANCE_BRIDGE = Report(
    name="balance_bridge",
    label="Balance bridge",
    definition=(
        "Where the money went, per currency, from balance transactions created in the period: "
        "gross (charges) → refunds → disputes (and reversals) → adjustments → fees (Stripe's "
        "fees on every transaction, plus fees charged on their own) = net volume → payouts "
        "(payout transactions created in the period, failed payouts returned) → other "
        "(transfers, top-ups) = the change in balance. The steps add up exactly; payouts "
        "here are by when they left the balance, not their arrival date."
    ),
    datasets=("balance_transactions",),
    sql=_SQL,
    columns=(
        Column("currency", "Currency"),
        Column("step", "Step"),
        Column("label", "Label"),
        Column("kind", "Kind"),
        Column("amount", "Amount", Unit.MONEY),
    ),
    drill=_drill,
    reshape=_long,
)
