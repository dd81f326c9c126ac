"""Top customers: who paid the most in the period, per currency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.model import Column, Report, Unit, period, sql_text

#: Customers listed per currency.
TOP_N = 10

_SUCCEEDED = "status = 'succeeded' AND paid"

# Names and emails come from the charges themselves (billing details, receipt email), so the
# report needs no read of every customer: a live load stays narrowed to the period. They are
# read from one charge per listed customer only (the JSON of the others is never opened).
_SQL = f"""
WITH ranked AS (
  SELECT currency, customer,
    count(*) AS payments,
    sum(amount) AS gross,
    sum(amount_refunded) AS refunded,
    sum(amount) - sum(amount_refunded) AS net,
    arg_max(id, created) AS latest
  FROM charges
  WHERE {_SUCCEEDED} AND customer IS NOT NULL AND {period()}
  GROUP BY currency, customer
  QUALIFY row_number() OVER (PARTITION BY currency ORDER BY sum(amount) DESC, customer) <= {TOP_N}
)
SELECT r.currency, r.customer,
  COALESCE(c.raw->>'$.billing_details.email', c.raw->>'$.receipt_email') AS email,
  c.raw->>'$.billing_details.name' AS name,
  r.payments, r.gross, r.refunded, r.net
FROM ranked r LEFT JOIN charges c ON c.id = r.latest
ORDER BY r.currency, r.gross DESC, r.customer
"""  # noqa: S608


def _drill(row: Mapping[str, Any]) -> tuple[str, str]:
    cond = [_SUCCEEDED, period()]
    if row.get("customer"):
        cond.append(f"customer = {sql_text(str(row['customer']))}")
    if row.get("currency"):
        cond.append(f"currency = {sql_text(str(row['currency']))}")
    return "charges", " AND ".join(cond)


TOP_CUSTOMERS = Report(
    name="top_customers",
    label="Top customers",
    definition=(
        f"The {TOP_N} customers with the largest gross volume (successful charges created in "
        "the period), per currency, with their payments, refunds and what is left after "
        "refunds. Charges without a customer are left out."
    ),
    datasets=("charges",),
    sql=_SQL,
    columns=(
        Column("currency", "Currency"),
        Column("customer", "Customer"),
        Column("email", "Email"),
        Column("name", "Name"),
        Column("payments", "Payments", Unit.COUNT),
        Column("gross", "Gross", Unit.MONEY),
        Column("refunded", "Refunded", Unit.MONEY),
        Column("net", "After refunds", Unit.MONEY),
    ),
    drill=_drill,
)
