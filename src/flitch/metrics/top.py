"""Top customers: who paid the most in the period, per currency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flitch.metrics.model import Column, Report, Unit, period, sql_text

#: Customers listed per currency.
TOP_N = 10

_SUCCEEDED = "status = 'succeeded' AND paid"

# Names and emails come from the charges themselves (billing details, receipt email), so the
# report needs no read of every customer: a live load stays narrowed to the period.
#
# At 10 M charges the period holds ~600,000 successful charges of ~500,000 customers, so the
# work is kept to what the ranking needs: one sum per customer; then only the customers at or
# above the tenth biggest sum of their currency are sorted (a window over every customer sorts
# them all); their counts and latest charge are read from their own rows; that charge's JSON is
# fetched by its row number, not by a join on ``id`` (which reads the id of every charge, and
# the JSON of many). The latest charge is the newest, then the greatest id: the same one live
# and cached, whatever order the rows were written in.
_SQL = f"""
WITH totals AS (
  SELECT currency, customer, sum(amount) AS gross
  FROM charges
  WHERE {_SUCCEEDED} AND customer IS NOT NULL AND {period()}
  GROUP BY currency, customer
),
top AS (
  SELECT t.currency, t.customer FROM totals t
  JOIN (SELECT currency, list_min(max(gross, {TOP_N})) AS least FROM totals GROUP BY currency) b
    ON b.currency = t.currency AND (t.gross >= b.least OR t.gross IS NULL)
  QUALIFY row_number() OVER (PARTITION BY t.currency ORDER BY t.gross DESC, t.customer) <= {TOP_N}
),
ranked AS (
  SELECT c.currency, c.customer,
    count(*) AS payments,
    sum(c.amount) AS gross,
    sum(c.amount_refunded) AS refunded,
    sum(c.amount) - sum(c.amount_refunded) AS net,
    arg_max(c.rowid, {{'at': c.created, 'id': c.id}}) AS latest
  FROM charges c SEMI JOIN top t ON t.currency = c.currency AND t.customer = c.customer
  WHERE {_SUCCEEDED} AND {period()}
  GROUP BY c.currency, c.customer
)
SELECT r.currency, r.customer,
  COALESCE(c.raw->>'$.billing_details.email', c.raw->>'$.receipt_email') AS email,
  c.raw->>'$.billing_details.name' AS name,
  r.payments, r.gross, r.refunded, r.net
FROM ranked r LEFT JOIN charges c ON c.rowid = r.latest
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
