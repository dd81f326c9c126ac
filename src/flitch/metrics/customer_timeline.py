"""One customer's history on one timeline: subscriptions, invoices, charges, refunds, disputes,
and their MRR over time.

Every part is a statement on the datasets with the customer bound as ``$customer``, so it runs
the same on a live load and on the cache. A live load asks Stripe only for this customer's
subscriptions, invoices and charges (their lists filter by ``customer``); disputes do not, so
they are read whole and kept to the customer's charges here, as are the prices and coupons the
MRR needs.

- **MRR over time** comes from the spans of one amount rebuilt from the invoices that billed
  each subscription (``derived_mrr_spans``), the same ones the MRR movements and the Retention
  dashboard add up: a step at each span's start and end, per currency (never added across
  them). A subscription's MRR now is its span running on past today (none: 0).
- **Refunds**: Stripe's charge says how much of it was refunded but not when, and refunds are
  not one of the datasets, so a refund is shown on its charge's date and says so.
- Name and email come from the customer's newest invoice or charge that carries them, so the
  page needs no read of every customer (the customers list cannot be filtered by id).

A part whose datasets the connection does not include (or cannot read) is left out and named
in ``missing``: the rest of the page still shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flitch.metrics.compute import Queryable, run
from flitch.metrics.derived import MRR_SPANS
from flitch.query.reads import DatasetRead

#: What each part of the page reads.
PARTS: dict[str, tuple[str, ...]] = {
    "subscriptions": ("subscriptions",),
    "invoices": ("invoices",),
    "charges": ("charges",),
    "disputes": ("disputes", "charges"),
    "mrr": ("subscriptions", "invoices", "prices", "coupons"),
}
#: The datasets whose Stripe lists filter by customer (a live load reads only its rows).
BY_CUSTOMER = ("subscriptions", "invoices", "charges")

SUBSCRIPTIONS = """SELECT id, status, currency, product, price, quantity, created, start_date,
  trial_start, trial_end, cancel_at, canceled_at, ended_at
FROM subscriptions WHERE customer = $customer ORDER BY created, id"""

INVOICES = """SELECT id, number, status, currency, total, amount_paid, amount_remaining,
  subscription, billing_reason, created, paid_at, voided_at
FROM invoices WHERE customer = $customer ORDER BY created, id"""

CHARGES = """SELECT id, status, currency, amount, amount_refunded, refunded, disputed,
  failure_code, payment_intent, created
FROM charges WHERE customer = $customer ORDER BY created, id"""

DISPUTES = """SELECT d.id, d.status, d.reason, d.currency, d.amount, d.charge, d.created
FROM disputes d SEMI JOIN charges c ON c.id = d.charge AND c.customer = $customer
ORDER BY d.created, d.id"""

#: Each span of the customer's subscriptions; a span still running has no end.
SPANS = f"""SELECT subscription, currency, span_from,
  CASE WHEN span_to = 'infinity'::TIMESTAMPTZ THEN NULL ELSE span_to END AS span_to,
  CAST(round(mrr) AS BIGINT) AS mrr
FROM {MRR_SPANS.table} WHERE customer = $customer ORDER BY currency, span_from, subscription"""  # noqa: S608

#: The customer's MRR from each moment it changed, per currency (a span holds its amount at the
#: instants in ``(span_from, span_to]``: from each boundary on, the spans covering just after).
MRR_STEPS = f"""WITH s AS (
  SELECT currency, span_from, span_to, mrr FROM {MRR_SPANS.table} WHERE customer = $customer
),
b AS (
  SELECT currency, span_from AS at FROM s
  UNION
  SELECT currency, span_to FROM s WHERE span_to < 'infinity'::TIMESTAMPTZ
)
SELECT b.currency, b.at, CAST(round(COALESCE(sum(s.mrr), 0)) AS BIGINT) AS mrr
FROM b LEFT JOIN s ON s.currency = b.currency AND s.span_from <= b.at AND s.span_to > b.at
GROUP BY b.currency, b.at ORDER BY b.currency, b.at"""  # noqa: S608

_WHO_INVOICES = """SELECT created, raw->>'$.customer_email' AS email,
  raw->>'$.customer_name' AS name FROM invoices WHERE customer = $customer"""
_WHO_CHARGES = """SELECT created,
  COALESCE(raw->>'$.billing_details.email', raw->>'$.receipt_email') AS email,
  raw->>'$.billing_details.name' AS name FROM charges WHERE customer = $customer"""


def parts_of(available: Iterable[str]) -> tuple[list[str], list[str]]:
    """The parts the ``available`` datasets answer, and those they do not."""
    held = set(available)
    shown = [p for p, needs in PARTS.items() if held.issuperset(needs)]
    return shown, [p for p in PARTS if p not in shown]


def reads(customer: str, parts: Iterable[str]) -> list[DatasetRead]:
    """What a live load of ``parts`` fetches: this customer's rows where Stripe filters by
    customer, the rest whole."""
    names = sorted({d for p in parts for d in PARTS[p]})
    return [
        DatasetRead(n, filters=(("customer", customer),) if n in BY_CUSTOMER else ()) for n in names
    ]


def _who(source: Queryable, customer: str, parts: list[str]) -> dict[str, str | None]:
    pieces = [q for p, q in (("invoices", _WHO_INVOICES), ("charges", _WHO_CHARGES)) if p in parts]
    if not pieces:
        return {"email": None, "name": None}
    sql = (
        "SELECT arg_max(email, created) FILTER (WHERE email IS NOT NULL) AS email, "  # noqa: S608
        "arg_max(name, created) FILTER (WHERE name IS NOT NULL) AS name FROM ("
        + " UNION ALL ".join(pieces)
        + ")"
    )
    row = run(source, sql, {"customer": customer}).dicts()[0]
    return {"email": row["email"], "name": row["name"]}


def _rows(source: Queryable, sql: str, customer: str) -> list[dict[str, Any]]:
    return run(source, sql, {"customer": customer}).dicts()


def customer_timeline(source: Queryable, customer: str, parts: Iterable[str]) -> dict[str, Any]:
    """Everything the page shows of ``customer``, from the ``parts`` given (``parts_of``): each
    part's rows, and ``timeline``, every dated happening of them oldest first."""
    shown = [p for p in PARTS if p in set(parts)]
    out: dict[str, Any] = {"customer": customer, **_who(source, customer, shown)}
    statements = {
        "subscriptions": SUBSCRIPTIONS,
        "invoices": INVOICES,
        "charges": CHARGES,
        "disputes": DISPUTES,
    }
    for part, sql in statements.items():
        out[part] = _rows(source, sql, customer) if part in shown else None
    if "mrr" in shown:
        spans = _rows(source, SPANS, customer)
        out["mrr"] = {"spans": spans, "steps": _rows(source, MRR_STEPS, customer)}
        running = {s["subscription"]: s["mrr"] for s in spans if s["span_to"] is None}
        for sub in out["subscriptions"] or []:
            sub["mrr"] = running.get(sub["id"], 0)
    else:
        out["mrr"] = None
    out["timeline"] = timeline(out)
    return out


def _event(at: str | None, kind: str, obj: Mapping[str, Any], text: str, **more: Any) -> Any:
    return {
        "at": at,
        "kind": kind,
        "id": obj.get("id"),
        "currency": obj.get("currency"),
        "text": text,
        **more,
    }


def timeline(parts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dated happenings of a customer's parts, oldest first (ties in the order below)."""
    events: list[dict[str, Any]] = []
    for s in parts.get("subscriptions") or []:
        events.append(_event(s["start_date"] or s["created"], "subscription", s, "started"))
        if s["trial_end"]:
            events.append(_event(s["trial_end"], "subscription", s, "trial ends"))
        if s["canceled_at"]:
            events.append(_event(s["canceled_at"], "subscription", s, "canceled"))
        if s["ended_at"]:
            events.append(_event(s["ended_at"], "subscription", s, "ended"))
    for i in parts.get("invoices") or []:
        events.append(_event(i["created"], "invoice", i, i["status"], amount=i["total"]))
    for c in parts.get("charges") or []:
        events.append(_event(c["created"], "charge", c, c["status"], amount=c["amount"]))
        if c["amount_refunded"]:
            text = "refunded (Stripe's charge does not say when: shown on the charge's date)"
            events.append(_event(c["created"], "refund", c, text, amount=c["amount_refunded"]))
    for d in parts.get("disputes") or []:
        events.append(_event(d["created"], "dispute", d, d["status"], amount=d["amount"]))
    mrr = parts.get("mrr") or {}
    before: dict[str, float] = {}
    for step in mrr.get("steps") or []:
        currency = step["currency"]
        was = before.get(currency, 0)
        events.append(
            {
                "at": step["at"],
                "kind": "mrr",
                "id": None,
                "currency": currency,
                "text": "MRR changed",
                "amount": step["mrr"],
                "before": was,
            }
        )
        before[currency] = step["mrr"]
    order = {"subscription": 0, "invoice": 1, "charge": 2, "refund": 3, "dispute": 4, "mrr": 5}
    return sorted(events, key=lambda e: (e["at"] or "", order[e["kind"]]))
