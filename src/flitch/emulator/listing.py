"""Listing like Stripe: the query syntax, filters, hidden defaults, cursors and expansion.

A list request is answered in three steps, each cheap on the store's ordered lists:

1. ``parse_list_query`` reads Stripe's form-encoded query (``expand[]=a``, ``expand[0]=a``,
   ``created[gte]=1``) into a ``ListQuery``, refusing what Stripe refuses (unknown parameters,
   ``limit`` outside 1–100, both cursors…) with Stripe's error bodies;
2. ``select_page`` bisects the ``created`` range, places the cursor with ``ModeStore.position``
   and walks the list newest first, keeping only the objects every filter accepts (including the
   defaults that hide data: canceled subscriptions, inactive prices, test-clock objects);
3. ``Renderer`` joins the objects' cached JSON bytes, re-serialising only objects that
   ``expand[]`` changes or that carry a field Stripe leaves out unless expanded (price ``tiers``).

Each endpoint's own filters are data in ``RESOURCES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from flitch.emulator.auth import ApiError, invalid_parameter, no_such, unknown_parameter
from flitch.emulator.filters import (
    Compiler,
    Param,
    Predicate,
    active,
    balance_payout,
    bool_eq,
    delivery_success,
    eq,
    event_type,
    event_types,
    in_list,
    int_bounds,
    int_range,
    item_price,
    nested,
    no_test_clock,
    not_ended,
    one_of,
    parse_int,
    parse_list,
    parse_str,
    subscription_status,
)
from flitch.emulator.store import ModeStore, Obj

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
MAX_EXPAND_DEPTH = 4
COMMON_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})
COLLECTION_METHODS = ("charge_automatically", "send_invoice")

#: Fields Stripe leaves out of an object unless asked for with ``expand[]``.
INCLUDABLE: Mapping[str, frozenset[str]] = {
    "price": frozenset({"tiers"}),
    "customer": frozenset({"sources", "subscriptions", "tax_ids", "cash_balance"}),
    "charge": frozenset({"refunds"}),
}
#: Fields that hold another object's id (or ids) and can be expanded into it.
EXPANDABLE = frozenset(
    {
        "balance_transaction",
        "charge",
        "coupon",
        "customer",
        "default_price",
        "destination",
        "discount",
        "discounts",
        "failure_balance_transaction",
        "invoice",
        "latest_charge",
        "latest_invoice",
        "payment_intent",
        "payout",
        "plan",
        "price",
        "product",
        "promotion_code",
        "refunds",
        "schedule",
        "source",
        "subscription",
        "test_clock",
    }
)


# -- the query syntax --------------------------------------------------------------------------
def parse_query(query: str) -> dict[str, Param]:
    """Stripe's form-encoded query: ``a=1``, ``a[]=x&a[]=y``, ``a[0]=x``, ``a[gte]=1``."""
    params: dict[str, Param] = {}
    if not query:
        return params
    for raw, value in parse_qsl(query, keep_blank_values=True):
        base, bracket, rest = raw.partition("[")
        if not bracket:
            if base in params and not isinstance(params[base], str):
                raise invalid_parameter(base, f"Invalid {base}: mixes a value and a list/hash.")
            params[base] = value
            continue
        sub = rest[:-1] if rest.endswith("]") else rest
        current = params.get(base)
        if sub == "" or sub.isdigit():
            if current is None:
                current = params[base] = []
            if not isinstance(current, list):
                raise invalid_parameter(base, f"Invalid {base}: mixes a list with another form.")
            current.append(value)
        else:
            if current is None:
                current = params[base] = {}
            if not isinstance(current, dict):
                raise invalid_parameter(base, f"Invalid {base}: mixes a hash with another form.")
            current[sub] = value
    return params


# -- the endpoints -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """One list endpoint: its object type, its own filters and the defaults that hide data."""

    name: str
    object_type: str
    filters: Mapping[str, Compiler] = field(default_factory=dict)
    #: (parameter, predicate): the predicate applies unless the parameter is given.
    hidden_by_default: tuple[tuple[str, Predicate], ...] = ()
    #: Pairs of parameters that may not be given together (events: ``type`` and ``types``).
    exclusive: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    def allowed(self) -> frozenset[str]:
        return COMMON_PARAMS | frozenset(self.filters)


RESOURCES: Mapping[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            "customers",
            "customer",
            {"email": eq("email"), "test_clock": eq("test_clock")},
            (("test_clock", no_test_clock),),
        ),
        Resource(
            "charges",
            "charge",
            {
                "customer": eq("customer"),
                "payment_intent": eq("payment_intent"),
                "transfer_group": eq("transfer_group"),
            },
        ),
        Resource(
            "payment_intents",
            "payment_intent",
            {"customer": eq("customer"), "customer_account": eq("customer_account")},
        ),
        Resource(
            "invoices",
            "invoice",
            {
                "status": one_of("status", ("draft", "open", "paid", "uncollectible", "void")),
                "subscription": eq("parent.subscription_details.subscription", "subscription"),
                "customer": eq("customer"),
                "customer_account": eq("customer_account"),
                "collection_method": one_of("collection_method", COLLECTION_METHODS),
                "due_date": int_range("due_date"),
            },
        ),
        Resource(
            "subscriptions",
            "subscription",
            {
                "status": subscription_status,
                "price": item_price("price"),
                "plan": item_price("plan"),
                "customer": eq("customer"),
                "customer_account": eq("customer_account"),
                "collection_method": one_of("collection_method", COLLECTION_METHODS),
                "test_clock": eq("test_clock"),
                "automatic_tax": nested("automatic_tax", enabled=bool_eq("enabled")),
                "current_period_start": int_range(
                    "items.data.0.current_period_start", "current_period_start"
                ),
                "current_period_end": int_range(
                    "items.data.0.current_period_end", "current_period_end"
                ),
            },
            (("status", not_ended), ("test_clock", no_test_clock)),
        ),
        Resource(
            "products",
            "product",
            {
                "active": bool_eq("active"),
                "ids": in_list("id"),
                "shippable": bool_eq("shippable"),
                "type": one_of("type", ("good", "service")),
                "url": eq("url"),
            },
        ),
        Resource(
            "prices",
            "price",
            {
                "active": bool_eq("active"),
                "product": eq("product"),
                "currency": eq("currency"),
                "type": one_of("type", ("one_time", "recurring")),
                "lookup_keys": in_list("lookup_key", limit=10),
                "recurring": nested(
                    "recurring",
                    interval=one_of("interval", ("day", "week", "month", "year")),
                    usage_type=one_of("usage_type", ("licensed", "metered")),
                    meter=eq("meter"),
                ),
            },
            (("active", active),),
        ),
        Resource(
            "payouts",
            "payout",
            {
                "status": eq("status"),
                "arrival_date": int_range("arrival_date"),
                "destination": eq("destination"),
            },
        ),
        Resource(
            "balance_transactions",
            "balance_transaction",
            {
                "type": eq("type"),
                "payout": balance_payout,
                "currency": eq("currency"),
                "source": eq("source"),
            },
        ),
        Resource(
            "disputes", "dispute", {"charge": eq("charge"), "payment_intent": eq("payment_intent")}
        ),
        Resource(
            "credit_notes",
            "credit_note",
            {
                "invoice": eq("invoice"),
                "customer": eq("customer"),
                "customer_account": eq("customer_account"),
            },
        ),
        Resource("coupons", "coupon"),
        Resource(
            "events",
            "event",
            {"type": event_type, "types": event_types, "delivery_success": delivery_success},
            exclusive=(("type", "types"),),
        ),
    )
}
BY_OBJECT_TYPE: Mapping[str, Resource] = {r.object_type: r for r in RESOURCES.values()}


# -- the parsed query --------------------------------------------------------------------------
@dataclass
class ListQuery:
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None
    #: ``created`` as a half-open range ``[gte, lt)``.
    gte: int | None = None
    lt: int | None = None
    predicates: list[Predicate] = field(default_factory=list)
    #: Each ``expand[]`` path split on dots, without the leading ``data``.
    expand: list[list[str]] = field(default_factory=list)

    def accepts(self, obj: Obj) -> bool:
        return all(p(obj) for p in self.predicates)


def parse_expand(params: Mapping[str, Param], prefix: str | None) -> list[list[str]]:
    """``expand[]`` paths, each split on dots; list paths must start with ``data.``."""
    raw = params.get("expand")
    if raw is None:
        return []
    paths: list[list[str]] = []
    for text in parse_list("expand", raw):
        parts = [p for p in text.split(".") if p]
        if prefix is not None:
            if len(parts) < 2 or parts[0] != prefix:
                raise cannot_expand(text)
            parts = parts[1:]
        if not parts:
            raise cannot_expand(text)
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid_parameter(
                "expand",
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property ({text}).",
            )
        paths.append(parts)
    return paths


def cannot_expand(path: str) -> ApiError:
    return invalid_parameter("expand", f"This property cannot be expanded ({path}).")


def parse_list_query(resource: Resource, query: str, store: ModeStore) -> ListQuery:
    """Parse and check a list request's query string; raises ``ApiError`` as Stripe would."""
    params = parse_query(query)
    allowed = resource.allowed()
    for name in params:
        if name not in allowed:
            raise unknown_parameter(name)
    q = ListQuery()
    if "limit" in params:
        q.limit = parse_int("limit", params["limit"])
        if q.limit < 1:
            raise invalid_parameter("limit", "This value must be greater than or equal to 1.")
        if q.limit > MAX_LIMIT:
            raise invalid_parameter(
                "limit", f"This value must be less than or equal to {MAX_LIMIT}."
            )
    for one, other in resource.exclusive:
        if one in params and other in params:
            raise invalid_parameter(
                other,
                f"You may pass either `{one}` or `{other}`, but not both.",
                "parameters_exclusive",
            )
    if "starting_after" in params and "ending_before" in params:
        raise invalid_parameter(
            "starting_after",
            "Received both starting_after and ending_before parameters. Please pass in only one.",
        )
    if "starting_after" in params:
        q.starting_after = parse_str("starting_after", params["starting_after"])
    if "ending_before" in params:
        q.ending_before = parse_str("ending_before", params["ending_before"])
    if "created" in params:
        q.gte, q.lt = int_bounds("created", params["created"])
    for name, compiler in resource.filters.items():
        if name in params:
            pred = compiler(name, params[name], store)
            if pred is not None:
                q.predicates.append(pred)
    for param, pred in resource.hidden_by_default:
        if param not in params:
            q.predicates.append(pred)
    q.expand = parse_expand(params, "data")
    return q


# -- paging ------------------------------------------------------------------------------------
def _cursor(store: ModeStore, resource: Resource, object_id: str, param: str) -> int:
    obj = store.get(object_id)
    pos = store.position(object_id) if obj is not None else None
    if obj is None or pos is None or obj.get("object") != resource.object_type:
        raise no_such(resource.object_type, object_id, param, status=400)
    return pos


def select_page(
    store: ModeStore, resource: Resource, q: ListQuery, *, min_created: int | None = None
) -> tuple[list[Obj], bool]:
    """The page ``q`` asks for, newest first, and whether more objects lie beyond it."""
    objects = store.ordered(resource.object_type).objects
    gte = q.gte if min_created is None else max(q.gte or min_created, min_created)
    lo, hi = store.created_range(resource.object_type, gte, q.lt)
    limit = q.limit
    if q.ending_before is not None:
        end = min(_cursor(store, resource, q.ending_before, "ending_before"), hi)
        found: list[Obj] = []
        i = end - 1
        while i >= lo and len(found) <= limit:
            obj = objects[i]
            if q.accepts(obj):
                found.append(obj)
            i -= 1
        has_more = len(found) > limit
        found = found[:limit]
        found.reverse()
        return found, has_more
    start = lo
    if q.starting_after is not None:
        start = max(lo, _cursor(store, resource, q.starting_after, "starting_after") + 1)
    if not q.predicates:
        stop = min(hi, start + limit)
        return objects[start:stop], stop < hi
    page: list[Obj] = []
    i = start
    while i < hi:
        obj = objects[i]
        if q.accepts(obj):
            if len(page) == limit:
                return page, True
            page.append(obj)
        i += 1
    return page, False
