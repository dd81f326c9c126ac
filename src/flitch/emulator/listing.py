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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from flitch.emulator.auth import ApiError, invalid_parameter, no_such, unknown_parameter
from flitch.emulator.store import ModeStore, Obj

Param = str | list[str] | dict[str, str]
Predicate = Callable[[Obj], bool]
#: Turns one parameter's value into a predicate (``None``: accepts everything), or raises.
Compiler = Callable[[str, Param], Predicate | None]

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
MAX_EXPAND_DEPTH = 4
COMMON_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})
RANGE_KEYS = ("gt", "gte", "lt", "lte")

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


def _int(param: str, value: Param) -> int:
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
    raise invalid_parameter(param, f"Invalid integer: {value}", "parameter_invalid_integer")


def _str(param: str, value: Param) -> str:
    if not isinstance(value, str):
        raise invalid_parameter(param, f"Invalid string: {value}", "parameter_invalid_string")
    return value


def _bool(param: str, value: Param) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise invalid_parameter(param, f"Invalid boolean: {value}", "parameter_invalid_boolean")


def _list(param: str, value: Param) -> list[str]:
    if not isinstance(value, list):
        raise invalid_parameter(param, "Invalid array", "parameter_invalid_array")
    return value


def int_bounds(param: str, value: Param) -> tuple[int | None, int | None]:
    """``created=5`` or ``created[gt|gte|lt|lte]=…`` as a half-open range ``[gte, lt)``."""
    if not isinstance(value, dict):
        exact = _int(param, value)
        return exact, exact + 1
    gte: int | None = None
    lt: int | None = None
    for op, raw in value.items():
        if op not in RANGE_KEYS:
            raise unknown_parameter(f"{param}[{op}]")
        n = _int(f"{param}[{op}]", raw)
        low, high = {"gt": (n + 1, None), "gte": (n, None), "lt": (None, n), "lte": (None, n + 1)}[
            op
        ]
        if low is not None:
            gte = low if gte is None else max(gte, low)
        if high is not None:
            lt = high if lt is None else min(lt, high)
    return gte, lt


# -- field access ------------------------------------------------------------------------------
def ref(value: Any) -> Any:
    """An id whether the field holds the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def dig(obj: Obj, path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _items(obj: Obj) -> list[Obj]:
    items = obj.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    return data if isinstance(data, list) else []


# -- filter compilers --------------------------------------------------------------------------
def eq(*paths: str) -> Compiler:
    """Equal to the id or text at any of ``paths`` (the first that is present)."""

    def compile_(param: str, value: Param) -> Predicate:
        wanted = _str(param, value)

        def pred(obj: Obj) -> bool:
            for path in paths:
                found = ref(dig(obj, path))
                if found is not None:
                    return bool(found == wanted)
            return False

        return pred

    return compile_


def bool_eq(path: str) -> Compiler:
    def compile_(param: str, value: Param) -> Predicate:
        wanted = _bool(param, value)
        return lambda obj: bool(dig(obj, path)) is wanted

    return compile_


def int_range(*paths: str) -> Compiler:
    def compile_(param: str, value: Param) -> Predicate:
        gte, lt = int_bounds(param, value)

        def pred(obj: Obj) -> bool:
            for path in paths:
                found = dig(obj, path)
                if isinstance(found, int):
                    return (gte is None or found >= gte) and (lt is None or found < lt)
            return False

        return pred

    return compile_


def one_of(path: str, allowed: tuple[str, ...]) -> Compiler:
    def compile_(param: str, value: Param) -> Predicate:
        wanted = _str(param, value)
        if wanted not in allowed:
            raise invalid_parameter(
                param, f"Invalid {param}: must be one of {', '.join(allowed)}", "parameter_invalid"
            )
        return lambda obj: dig(obj, path) == wanted

    return compile_


SUBSCRIPTION_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
ENDED = frozenset({"canceled", "incomplete_expired"})


def subscription_status(param: str, value: Param) -> Predicate | None:
    wanted = _str(param, value)
    if wanted not in SUBSCRIPTION_STATUSES:
        raise invalid_parameter(
            param,
            f"Invalid status: must be one of {', '.join(SUBSCRIPTION_STATUSES)}",
            "parameter_invalid",
        )
    if wanted == "all":
        return None
    if wanted == "ended":
        return lambda obj: obj.get("status") in ENDED
    return lambda obj: obj.get("status") == wanted


def item_price(field_name: str) -> Compiler:
    """Subscriptions whose items bill this price (``price``) or plan (``plan``)."""

    def compile_(param: str, value: Param) -> Predicate:
        wanted = _str(param, value)

        def pred(obj: Obj) -> bool:
            for item in _items(obj):
                if ref(item.get(field_name)) == wanted or ref(item.get("price")) == wanted:
                    return True
            return False

        return pred

    return compile_


def nested(path: str, **subs: Compiler) -> Compiler:
    """A hash parameter (``recurring[interval]=month``) whose keys are filters under ``path``."""

    def compile_(param: str, value: Param) -> Predicate:
        if not isinstance(value, dict):
            raise invalid_parameter(param, f"Invalid hash: {param}", "parameter_invalid_hash")
        preds: list[Predicate] = []
        for key, sub in value.items():
            compiler = subs.get(key)
            if compiler is None:
                raise unknown_parameter(f"{param}[{key}]")
            pred = compiler(f"{param}[{key}]", sub)
            if pred is not None:
                preds.append(pred)

        def pred_all(obj: Obj) -> bool:
            inner = dig(obj, path)
            return isinstance(inner, dict) and all(p(inner) for p in preds)

        return pred_all

    return compile_


def in_list(path: str, limit: int = 100) -> Compiler:
    def compile_(param: str, value: Param) -> Predicate:
        wanted = set(_list(param, value))
        if len(wanted) > limit:
            raise invalid_parameter(param, f"You may pass at most {limit} values in {param}.")
        return lambda obj: ref(dig(obj, path)) in wanted

    return compile_


def event_type(param: str, value: Param) -> Predicate:
    pattern = _str(param, value)
    regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
    return lambda obj: bool(regex.match(str(obj.get("type", ""))))


def event_types(param: str, value: Param) -> Predicate:
    wanted = set(_list(param, value))
    if len(wanted) > 20:
        raise invalid_parameter(param, "You may pass at most 20 event types in types.")
    return lambda obj: obj.get("type") in wanted


def delivery_success(param: str, value: Param) -> Predicate:
    wanted = _bool(param, value)
    return lambda obj: (int(obj.get("pending_webhooks") or 0) == 0) is wanted


def balance_payout(param: str, value: Param) -> Predicate:
    """Transactions paid out by this payout (the generator records it as ``payout``)."""
    wanted = _str(param, value)
    return lambda obj: ref(obj.get("payout")) == wanted or ref(obj.get("source")) == wanted


def _no_test_clock(obj: Obj) -> bool:
    return not obj.get("test_clock")


def _active(obj: Obj) -> bool:
    return bool(obj.get("active"))


def _not_ended(obj: Obj) -> bool:
    return obj.get("status") not in ENDED


# -- the endpoints -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """One list endpoint: its object type, its own filters and the defaults that hide data."""

    name: str
    object_type: str
    filters: Mapping[str, Compiler] = field(default_factory=dict)
    #: (parameter, predicate): the predicate applies unless the parameter is given.
    hidden_by_default: tuple[tuple[str, Predicate], ...] = ()

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
            (("test_clock", _no_test_clock),),
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
                "collection_method": eq("collection_method"),
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
                "collection_method": eq("collection_method"),
                "test_clock": eq("test_clock"),
                "automatic_tax": nested("automatic_tax", enabled=bool_eq("enabled")),
                "current_period_start": int_range(
                    "items.data.0.current_period_start", "current_period_start"
                ),
                "current_period_end": int_range(
                    "items.data.0.current_period_end", "current_period_end"
                ),
            },
            (("status", _not_ended), ("test_clock", _no_test_clock)),
        ),
        Resource(
            "products",
            "product",
            {
                "active": bool_eq("active"),
                "ids": in_list("id"),
                "shippable": bool_eq("shippable"),
                "type": eq("type"),
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
                "type": eq("type"),
                "lookup_keys": in_list("lookup_key", limit=10),
                "recurring": nested(
                    "recurring",
                    interval=eq("interval"),
                    usage_type=eq("usage_type"),
                    meter=eq("meter"),
                ),
            },
            (("active", _active),),
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
    for text in _list("expand", raw):
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


def parse_list_query(resource: Resource, query: str) -> ListQuery:
    """Parse and check a list request's query string; raises ``ApiError`` as Stripe would."""
    params = parse_query(query)
    allowed = resource.allowed()
    for name in params:
        if name not in allowed:
            raise unknown_parameter(name)
    q = ListQuery()
    if "limit" in params:
        q.limit = _int("limit", params["limit"])
        if q.limit < 1:
            raise invalid_parameter("limit", "This value must be greater than or equal to 1.")
        if q.limit > MAX_LIMIT:
            raise invalid_parameter(
                "limit", f"This value must be less than or equal to {MAX_LIMIT}."
            )
    if "starting_after" in params and "ending_before" in params:
        raise invalid_parameter(
            "starting_after",
            "Received both starting_after and ending_before parameters. Please pass in only one.",
        )
    if "starting_after" in params:
        q.starting_after = _str("starting_after", params["starting_after"])
    if "ending_before" in params:
        q.ending_before = _str("ending_before", params["ending_before"])
    if "created" in params:
        q.gte, q.lt = int_bounds("created", params["created"])
    for name, compiler in resource.filters.items():
        if name in params:
            pred = compiler(name, params[name])
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
