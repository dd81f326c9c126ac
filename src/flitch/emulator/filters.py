"""List filters: each endpoint parameter as a predicate over stored objects.

A ``Compiler`` reads one parameter's value (a string, a list from ``a[]=…``, or a hash from
``a[key]=…``), refuses a malformed one with Stripe's 400, and returns the predicate an object must
pass (or ``None`` when the value filters nothing, like ``status=all``). ``listing.RESOURCES``
says which compiler serves which parameter of which endpoint.

A refusal carries an error ``code`` only where Stripe has one (``parameter_invalid_integer``);
a value of the wrong kind or outside an enumeration gets none, as from Stripe.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flitch.emulator.auth import invalid_parameter, unknown_parameter
from flitch.emulator.store import ModeStore, Obj

Param = str | list[str] | dict[str, str]
Predicate = Callable[[Obj], bool]
#: Turns one parameter's value into a predicate (``None``: accepts everything), or raises.
Compiler = Callable[[str, Param, ModeStore], Predicate | None]

RANGE_KEYS = ("gt", "gte", "lt", "lte")


def parse_int(param: str, value: Param) -> int:
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
    raise invalid_parameter(param, f"Invalid integer: {value}", "parameter_invalid_integer")


def parse_str(param: str, value: Param) -> str:
    if not isinstance(value, str):
        raise invalid_parameter(param, f"Invalid string: {value}")
    return value


def parse_bool(param: str, value: Param) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise invalid_parameter(param, f"Invalid boolean: {value}")


def parse_list(param: str, value: Param) -> list[str]:
    if not isinstance(value, list):
        raise invalid_parameter(param, "Invalid array")
    return value


def int_bounds(param: str, value: Param) -> tuple[int | None, int | None]:
    """``created=5`` or ``created[gt|gte|lt|lte]=…`` as a half-open range ``[gte, lt)``."""
    if not isinstance(value, dict):
        exact = parse_int(param, value)
        return exact, exact + 1
    gte: int | None = None
    lt: int | None = None
    for op, raw in value.items():
        if op not in RANGE_KEYS:
            raise unknown_parameter(f"{param}[{op}]")
        n = parse_int(f"{param}[{op}]", raw)
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

    def compile_(param: str, value: Param, store: ModeStore) -> Predicate:
        wanted = parse_str(param, value)

        def pred(obj: Obj) -> bool:
            for path in paths:
                found = ref(dig(obj, path))
                if found is not None:
                    return bool(found == wanted)
            return False

        return pred

    return compile_


def bool_eq(path: str) -> Compiler:
    def compile_(param: str, value: Param, store: ModeStore) -> Predicate:
        wanted = parse_bool(param, value)
        return lambda obj: bool(dig(obj, path)) is wanted

    return compile_


def int_range(*paths: str) -> Compiler:
    def compile_(param: str, value: Param, store: ModeStore) -> Predicate:
        gte, lt = int_bounds(param, value)

        def pred(obj: Obj) -> bool:
            for path in paths:
                found = dig(obj, path)
                if isinstance(found, int):
                    return (gte is None or found >= gte) and (lt is None or found < lt)
            return False

        return pred

    return compile_


def parse_enum(param: str, value: Param, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``, or Stripe's 400: ``Invalid status: must be one of a, b, or c``."""
    wanted = parse_str(param, value)
    if wanted not in allowed:
        listed = ", ".join(allowed[:-1]) + f", or {allowed[-1]}" if allowed[1:] else allowed[0]
        raise invalid_parameter(param, f"Invalid {param}: must be one of {listed}")
    return wanted


def one_of(path: str, allowed: tuple[str, ...]) -> Compiler:
    """Equal to the value at ``path``, which must be one of ``allowed`` (an enumeration)."""

    def compile_(param: str, value: Param, store: ModeStore) -> Predicate:
        wanted = parse_enum(param, value, allowed)
        return lambda obj: dig(obj, path) == wanted

    return compile_


#: In the order Stripe's refusal lists them.
SUBSCRIPTION_STATUSES = (
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "trialing",
    "all",
    "ended",
    "paused",
)
ENDED = frozenset({"canceled", "incomplete_expired"})


def subscription_status(param: str, value: Param, store: ModeStore) -> Predicate | None:
    wanted = parse_enum(param, value, SUBSCRIPTION_STATUSES)
    if wanted == "all":
        return None
    if wanted == "ended":
        return lambda obj: obj.get("status") in ENDED
    return lambda obj: obj.get("status") == wanted


def item_price(field_name: str) -> Compiler:
    """Subscriptions whose items bill this price (``price``) or plan (``plan``)."""

    def compile_(param: str, value: Param, store: ModeStore) -> Predicate:
        wanted = parse_str(param, value)

        def pred(obj: Obj) -> bool:
            for item in _items(obj):
                if ref(item.get(field_name)) == wanted or ref(item.get("price")) == wanted:
                    return True
            return False

        return pred

    return compile_


def nested(path: str, **subs: Compiler) -> Compiler:
    """A hash parameter (``recurring[interval]=month``) whose keys are filters under ``path``."""

    def compile_(param: str, value: Param, store: ModeStore) -> Predicate:
        if not isinstance(value, dict):
            raise invalid_parameter(param, f"Invalid hash: {param}")
        preds: list[Predicate] = []
        for key, sub in value.items():
            compiler = subs.get(key)
            if compiler is None:
                raise unknown_parameter(f"{param}[{key}]")
            pred = compiler(f"{param}[{key}]", sub, store)
            if pred is not None:
                preds.append(pred)

        def pred_all(obj: Obj) -> bool:
            inner = dig(obj, path)
            return isinstance(inner, dict) and all(p(inner) for p in preds)

        return pred_all

    return compile_


def in_list(path: str, limit: int = 100) -> Compiler:
    def compile_(param: str, value: Param, store: ModeStore) -> Predicate:
        wanted = set(parse_list(param, value))
        if len(wanted) > limit:
            raise invalid_parameter(param, f"You may pass at most {limit} values in {param}.")
        return lambda obj: ref(dig(obj, path)) in wanted

    return compile_


def event_type(param: str, value: Param, store: ModeStore) -> Predicate:
    pattern = parse_str(param, value)
    regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
    return lambda obj: bool(regex.match(str(obj.get("type", ""))))


def event_types(param: str, value: Param, store: ModeStore) -> Predicate:
    wanted = set(parse_list(param, value))
    if len(wanted) > 20:
        raise invalid_parameter(param, "You may pass at most 20 event types in types.")
    return lambda obj: obj.get("type") in wanted


def delivery_success(param: str, value: Param, store: ModeStore) -> Predicate:
    wanted = parse_bool(param, value)
    return lambda obj: (int(obj.get("pending_webhooks") or 0) == 0) is wanted


def balance_payout(param: str, value: Param, store: ModeStore) -> Predicate:
    """Transactions paid out by this payout (the store knows which; Stripe's object does not),
    and the payout's own transaction."""
    wanted = parse_str(param, value)
    paid_out_by: dict[str, str] = getattr(store, "paid_out_by", {})
    return lambda obj: paid_out_by.get(obj["id"]) == wanted or ref(obj.get("source")) == wanted


def no_test_clock(obj: Obj) -> bool:
    return not obj.get("test_clock")


def active(obj: Obj) -> bool:
    return bool(obj.get("active"))


def not_ended(obj: Obj) -> bool:
    return obj.get("status") not in ENDED
