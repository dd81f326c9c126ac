"""Changes Stripe makes with no event of the changed object's own, and how a refresh catches each.

An incremental refresh trusts ``/v1/events``: an object with no event since the cursor is taken
as unchanged. That holds for most fields of the twelve objects, not all. Stripe has no
``payment_intent.updated`` at all; a sub-resource's event (``customer.discount.created``) does
not trigger its parent's (``customer.updated``, by Stripe's event docs); a balance transaction
has no events and still moves from ``pending`` to ``available``; a coupon's ``times_redeemed``
grows with every redemption and its ``valid`` ends at ``redeem_by`` with no ``coupon.updated``.

:data:`FACTS` lists those fields, per object, and how each is caught (the README's table is
checked against it):

- a **follow-up re-read**: an event about another object says which objects it may have changed
  — :data:`REFERENCED` (its payload names them), :data:`DEPENDENTS` (rows that embed it),
  :data:`SHARING` (open rows of the same customer) — and those are re-read by id;
- a **bounded re-read** of objects that are not final yet: :data:`STILL_OPEN` (payment intents
  still being paid, in the day before the cursor), and, in ``work``, pending balance
  transactions once due and valid coupons past ``redeem_by``;
- a **limit**, said in the README: the daily ``--verify`` repairs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flitch import catalog

DAY = 86400


class Caught(StrEnum):
    """How a refresh catches a change that has no event of its own."""

    FOLLOW_UP = "follow-up re-read"
    BOUNDED = "bounded re-read"
    LIMIT = "limit"


@dataclass(frozen=True)
class Fact:
    """Fields of ``dataset`` that ``when`` changes with no event of the object's own."""

    dataset: str
    fields: tuple[str, ...]
    when: str
    caught: Caught


FACTS: tuple[Fact, ...] = (
    Fact("customers", ("balance", "next_invoice_sequence"), "invoice finalized", Caught.FOLLOW_UP),
    Fact("customers", ("balance",), "credit note to the balance", Caught.FOLLOW_UP),
    Fact("customers", ("currency",), "first subscription", Caught.FOLLOW_UP),
    Fact("customers", ("discount",), "coupon applied to the customer", Caught.FOLLOW_UP),
    Fact("charges", ("disputed",), "dispute opened", Caught.FOLLOW_UP),
    Fact("charges", ("amount_refunded", "refunded"), "refund failed", Caught.LIMIT),
    Fact("payment_intents", ("amount",), "credit note on an open invoice", Caught.FOLLOW_UP),
    Fact(
        "payment_intents",
        ("amount", "description", "metadata", "customer"),
        "edited while open",
        Caught.BOUNDED,
    ),
    Fact("payment_intents", ("description", "metadata"), "edited once final", Caught.LIMIT),
    Fact("subscriptions", ("items",), "price updated", Caught.FOLLOW_UP),
    Fact("balance_transactions", ("status",), "available_on reached", Caught.BOUNDED),
    Fact("coupons", ("times_redeemed", "valid"), "redeemed", Caught.FOLLOW_UP),
    Fact("coupons", ("valid",), "redeem_by reached", Caught.BOUNDED),
)


# -- follow-up re-reads ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Referenced:
    """An event of ``source`` (of one of ``types``, or any of its own) changes the ``target``
    object its payload names in ``field`` (a dotted path), without an event of the target's.

    ``source`` is a dataset, or the object type of something Flitch keeps no dataset of
    (``discount``): then ``types`` says which events carry it."""

    source: str
    field: str
    target: str
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dependent:
    """Rows of ``target`` embed objects of ``source`` in ``column``: when one of those changes,
    the rows that mention it are re-read."""

    source: str
    target: str
    column: str


@dataclass(frozen=True)
class Sharing:
    """An event of ``source`` may change the ``target`` rows whose ``column`` holds what its
    payload has in ``field``, among those still open (``where``): they are re-read."""

    source: str
    field: str
    target: str
    column: str
    where: str
    types: tuple[str, ...] = ()


#: A payment intent not yet succeeded or canceled can still change.
OPEN_PAYMENT = "status NOT IN ('succeeded', 'canceled')"
#: What Stripe sends about a discount (a sub-resource: its customer gets no event).
DISCOUNT_EVENTS = (
    "customer.discount.created",
    "customer.discount.updated",
    "customer.discount.deleted",
)

REFERENCED: tuple[Referenced, ...] = (
    # finalizing an invoice numbers it from the customer's next_invoice_sequence and applies
    # the customer's balance; paying or voiding it can change both again
    Referenced("invoices", "customer", "customers"),
    # a credit note can credit the customer's balance
    Referenced("credit_notes", "customer", "customers"),
    # the first subscription sets the customer's currency
    Referenced("subscriptions", "customer", "customers", ("customer.subscription.created",)),
    # a coupon applied to a customer: the customer's discount, the coupon's times_redeemed
    Referenced("discount", "customer", "customers", DISCOUNT_EVENTS),
    Referenced("discount", "source.coupon", "coupons", DISCOUNT_EVENTS),
    # a dispute makes its charge ``disputed``; charge.updated is only for a new description
    # or metadata and an asynchronous capture
    Referenced("disputes", "charge", "charges"),
)

DEPENDENTS: tuple[Dependent, ...] = (
    # items.data[].price (and .plan) is the whole price object, rendered as it is now: a
    # price.updated changes the subscriptions that sell it, without an event of theirs.
    # (An expanded discount names its coupon by id, ``source.coupon``: nothing to follow.)
    Dependent("prices", "subscriptions", "items"),
)

SHARING: tuple[Sharing, ...] = (
    # A credit note on an open invoice lowers what its payment intent asks for (voiding it
    # raises it again): only credit_note.* and invoice.updated are sent. Since 2025-03-31 an
    # invoice does not name its payment intent, so the customer's open ones are re-read.
    Sharing("credit_notes", "customer", "payment_intents", "customer", OPEN_PAYMENT),
    Sharing(
        "invoices", "customer", "payment_intents", "customer", OPEN_PAYMENT, ("invoice.updated",)
    ),
)


def source_object_type(source: str) -> str:
    """The ``object`` of a rule's source: a dataset's object type, or the source itself."""
    spec = catalog.BY_NAME.get(source)
    return spec.object_type if spec is not None else source


def source_types(rule: Referenced | Sharing) -> tuple[str, ...]:
    """The event types whose payload a rule reads."""
    return rule.types or catalog.get(rule.source).event_types


#: Event types about objects Flitch keeps no dataset of, kept for :data:`REFERENCED`: their
#: type -> the object type their payload has.
FOLLOWED: Mapping[str, str] = {
    t: r.source for r in REFERENCED if r.source not in catalog.BY_NAME for t in r.types
}


def event_types(names: Iterable[str]) -> list[tuple[str, ...]]:
    """The event types to read when ``names`` are refreshed from events: theirs, and those of
    the objects that change them without an event of theirs."""
    picked = set(names)
    types = [catalog.get(n).event_types for n in sorted(picked)]
    types += [catalog.get(d.source).event_types for d in DEPENDENTS if d.target in picked]
    rules: list[Referenced | Sharing] = [*REFERENCED, *SHARING]
    types += [source_types(r) for r in rules if r.target in picked]
    return types


# -- bounded re-reads ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StillOpen:
    """Rows of ``target`` that can still change with no event (``where``), created in the
    ``window`` seconds before the cursor (newer ones are listed anyway): each refresh re-reads
    them. An older one's change is a limit, caught by ``--verify``."""

    target: str
    where: str
    window: int


STILL_OPEN: tuple[StillOpen, ...] = (
    # A shop edits a payment intent while its customer pays (amount, description, metadata,
    # customer): Stripe has no payment_intent.updated. Checkout sessions expire within a day.
    StillOpen("payment_intents", OPEN_PAYMENT, DAY),
)


def still_open_sql(rule: StillOpen) -> str:
    """The ids of ``rule``'s rows created in ``[?, ?)`` (Unix seconds)."""
    target = catalog.get(rule.target)
    return (
        f'SELECT id FROM "{target.name}" WHERE ({rule.where})'  # noqa: S608 - names from the catalog
        " AND created >= to_timestamp(?) AND created < to_timestamp(?)"
    )


def sharing_sql(rule: Sharing) -> str:
    """The ids of ``rule``'s open rows whose column is in the list given as the parameter."""
    target = catalog.get(rule.target)
    return (
        f'SELECT id FROM "{target.name}"'  # noqa: S608 - names from the catalog
        f' WHERE list_contains(?, "{rule.column}") AND ({rule.where})'
    )


# -- helpers of the rules --------------------------------------------------------------------------
def id_patterns(ids: Iterable[str], chunk: int = 100) -> Iterator[str]:
    """Regular expressions matching any of the ids as a quoted JSON string, ``chunk`` at a time."""
    items = sorted(set(ids))
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        yield '"(' + "|".join(re.escape(i) for i in part) + ')"'


def coupon_refs(obj: Mapping[str, Any]) -> set[str]:
    """Coupons named by an object's discounts (``discounts`` expanded, or ``discount``)."""
    found: set[str] = set()
    discounts: list[Any] = []
    if isinstance(obj.get("discounts"), list):
        discounts.extend(obj["discounts"])
    if isinstance(obj.get("discount"), Mapping):
        discounts.append(obj["discount"])
    for discount in discounts:
        if not isinstance(discount, Mapping):
            continue
        source = discount.get("source")
        coupon = source.get("coupon") if isinstance(source, Mapping) else None
        coupon = coupon or discount.get("coupon")
        if isinstance(coupon, Mapping):
            coupon = coupon.get("id")
        if isinstance(coupon, str):
            found.add(coupon)
    return found


def referencing(
    query: Callable[[str, list[Any]], list[str]], dep: Dependent, ids: Iterable[str]
) -> set[str]:
    """Ids of ``dep.target`` rows whose ``dep.column`` mentions one of ``ids`` (``query`` runs
    one read-only SELECT on the version being built and returns the first column)."""
    target = catalog.get(dep.target)
    found: set[str] = set()
    for pattern in id_patterns(ids):
        sql = (
            f'SELECT id FROM "{target.name}" '  # noqa: S608 - names from the catalog
            f'WHERE regexp_matches(CAST("{dep.column}" AS VARCHAR), ?)'
        )
        found.update(query(sql, [pattern]))
    return found
