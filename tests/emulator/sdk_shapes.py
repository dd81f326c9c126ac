"""Checks a JSON object against the typed classes the stripe SDK ships for the pinned version.

The SDK (``stripe/_charge.py`` …) declares every field of every object it can receive, with its
type: ``Literal[...]`` for enumerations, nested ``StripeObject`` subclasses for hashes,
``ListObject[X]`` for embedded lists, ``Union[str, X]`` for expandable ids. ``check`` walks a
value and that declaration side by side and returns what does not fit, as readable paths.

The rules, and why:

- **Unknown fields fail.** A key the class does not declare is something Stripe does not send
  in this version (``total_count`` on an embedded list, a field of an older version).
- **A field not typed ``Optional`` is required**: present and not null, at any depth.
- **An ``Optional`` field of an object must be present (null is fine).** An object is a class
  with an ``OBJECT_NAME`` (a charge; also a plan or a payment method embedded in another).
  The SDK types ``Optional`` both a field that may be null and one Stripe may leave out, and
  cannot tell them apart; the fields of an object Stripe leaves out are few, and listed here:
  ``ABSENT_UNLESS_ASKED`` (sent only when ``expand[]`` names them) and ``SOMETIMES_ABSENT``
  (each says when). They are the fields Stripe's OpenAPI spec leaves out of a schema's
  ``required`` list (``stripe-node``, generated from the same spec, types them ``field?:``).
  One more rule covers objects chosen by a ``type`` (a payment method): the hashes of the
  other types are left out.
- **An ``Optional`` field of a nested hash may be absent.** Stripe leaves many out (the
  options of payment methods not in use, the sub-hashes of other ``type`` values…), too many
  to list, and the SDK does not say which. The few that Stripe always sends and the emulator
  once left out are held to it: ``NESTED_ALWAYS_SENT``.
- **Enumerations are closed.** A value outside the ``Literal`` fails, also where the SDK writes
  ``Union[Literal[...], str]`` to stay open to values Stripe adds later: the emulator models
  this version and has no reason to send anything the version does not list.
- **A deleted object** (``{"id", "object", "deleted": true}``) needs only those three fields.
- Types: ``int`` is not ``bool``; ``float`` accepts an ``int``; a ``Decimal`` is a string;
  ``UntypedStripeObject[X]`` is a hash of ``X`` (``metadata``); ``Any`` accepts anything.
"""

from __future__ import annotations

import ast
import decimal
import importlib
import inspect
import types
import typing
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, ForwardRef, Literal, Union

from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

#: Fields of an object Stripe includes only when ``expand[]`` names them.
ABSENT_UNLESS_ASKED: frozenset[tuple[str, str]] = frozenset(
    {
        ("customer", "cash_balance"),
        ("customer", "invoice_credit_balance"),
        ("customer", "sources"),
        ("customer", "subscriptions"),
        ("customer", "tax"),
        ("customer", "tax_ids"),
        ("charge", "refunds"),
        ("invoice", "payments"),
        ("price", "currency_options"),
        ("price", "tiers"),
        ("plan", "tiers"),
        ("coupon", "currency_options"),
    }
)
#: Fields of an object Stripe sends only in some states: ``(object, field)`` → when.
SOMETIMES_ABSENT: Mapping[tuple[str, str], str] = {
    **{
        (kind, "deleted"): "only once deleted"
        for kind in (
            "coupon",
            "customer",
            "discount",
            "invoice",
            "plan",
            "price",
            "product",
            "subscription_item",
        )
    },
    ("event", "account"): "only on a connected account's events",
    ("event", "context"): "only on events about another account",
    ("charge", "level3"): "only with Level 3 data",
    ("coupon", "applies_to"): "only on a coupon limited to some products",
    ("payment_method", "allow_redisplay"): "only when set",
    ("payment_method", "radar_options"): "only with a Radar session",
    ("refund", "failure_balance_transaction"): "only on a failed refund",
    ("refund", "failure_reason"): "only on a failed refund",
    ("refund", "instructions_email"): "only on a refund sent by email",
    ("refund", "next_action"): "only on a refund waiting for the customer",
}
#: Fields of nested hashes Stripe always sends (null or not), though the SDK types them
#: ``Optional``: those the emulator once left out (``stripe-node`` types them ``field:``).
NESTED_ALWAYS_SENT: Mapping[str, frozenset[str]] = {
    "Charge.PaymentMethodDetails.Card": frozenset(
        {
            "authorization_code",
            "installments",
            "mandate",
            "network_transaction_id",
            "regulated_status",
            "transaction_link_id",
        }
    ),
    "Invoice.AutomaticTax": frozenset({"status"}),
    "Subscription.InvoiceSettings": frozenset({"custom_fields", "description", "footer"}),
}

Problem = str  # "<path>: <what is wrong>"


@cache
def _names_in(module_name: str) -> dict[str, type[StripeObject]]:
    """The SDK classes a module refers to by name, to resolve its forward references.

    A module imports them under ``if TYPE_CHECKING:``, sometimes renamed (``Dispute as
    DisputeResource``; two modules may both say ``Plan`` for different classes), so the names
    are read from the module's own imports.
    """
    module = importlib.import_module(module_name)
    out: dict[str, type[StripeObject]] = {}
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found = getattr(importlib.import_module(node.module), alias.name, None)
                if isinstance(found, type) and issubclass(found, StripeObject):
                    out[alias.asname or alias.name] = found
    for name, found in vars(module).items():
        if isinstance(found, type) and issubclass(found, StripeObject):
            out[name] = found
    return out


def class_for(object_type: str) -> type[StripeObject]:
    """The SDK class of an ``object`` value (``"charge"`` → ``Charge``)."""
    module_name, class_name = OBJECT_CLASSES[object_type]
    cls: type[StripeObject] = getattr(importlib.import_module(module_name), class_name)
    return cls


def _resolve(hint: Any, names: Mapping[str, type[StripeObject]]) -> Any:
    """``hint`` with every forward reference in it replaced by the class it names."""
    if isinstance(hint, str):
        hint = ForwardRef(hint)
    if isinstance(hint, ForwardRef):
        found = names.get(hint.__forward_arg__)
        if found is None:
            raise LookupError(f"the SDK names a type this checker cannot find: {hint}")
        return found
    args = typing.get_args(hint)
    if not args or typing.get_origin(hint) is Literal:
        return hint
    resolved = tuple(_resolve(a, names) for a in args)
    if _is_union(hint):
        return Union[resolved]  # noqa: UP007
    return hint.copy_with(resolved)


@cache
def fields_of(cls: type[StripeObject]) -> dict[str, Any]:
    """The JSON fields ``cls`` declares, with their types (forward references resolved)."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is StripeObject or not (
            isinstance(klass, type) and issubclass(klass, StripeObject)
        ):
            continue
        names = _names_in(klass.__module__)
        for name, hint in vars(klass).get("__annotations__", {}).items():
            if name.startswith("_") or typing.get_origin(hint) is typing.ClassVar:
                continue
            out[cls._field_remappings.get(name, name)] = _resolve(hint, names)
    return out


def _split_optional(hint: Any) -> tuple[Any, bool]:
    """``Optional[X]`` → (X, True); anything else → (itself, False)."""
    if _is_union(hint):
        args = typing.get_args(hint)
        if type(None) in args:
            rest = tuple(a for a in args if a is not type(None))
            return (rest[0] if len(rest) == 1 else Union[rest]), True  # noqa: UP007
    return hint, False


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _literal_values(hint: Any) -> tuple[Any, ...] | None:
    """The values an enumeration allows, or ``None`` when ``hint`` is not one."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if _is_union(hint):
        args = typing.get_args(hint)
        literals = [a for a in args if typing.get_origin(a) is Literal]
        if literals and all(typing.get_origin(a) is Literal or a is str for a in args):
            return tuple(v for lit in literals for v in typing.get_args(lit))
    return None


def _object_name(cls: type[StripeObject]) -> str | None:
    name = getattr(cls, "OBJECT_NAME", None)
    return name if isinstance(name, str) else None


def check(value: Any, hint: Any, path: str = "$") -> list[Problem]:
    """What in ``value`` does not fit ``hint`` (an SDK class or annotation); ``[]`` if it fits."""
    return list(_check(value, hint, path))


def check_object(obj: Mapping[str, Any], path: str = "$") -> list[Problem]:
    """An object served by the API, checked against the class its ``object`` field names."""
    kind = obj.get("object")
    if not isinstance(kind, str) or kind not in OBJECT_CLASSES:
        return [f"{path}: no SDK class for object {kind!r}"]
    return check(obj, class_for(kind), path)


def _check(value: Any, hint: Any, path: str) -> Iterator[Problem]:
    if hint is Any:
        return
    inner, nullable = _split_optional(hint)
    if value is None:
        if not nullable:
            yield f"{path}: null, but the field is not nullable"
        return
    hint = inner
    enum = _literal_values(hint)
    if enum is not None:
        if value not in enum:
            allowed = sorted(map(str, enum))
            shown = ", ".join(allowed[:8]) + (f" … ({len(allowed)} values)" if allowed[8:] else "")
            yield f"{path}: {value!r} is not one of {shown}"
        return
    origin = typing.get_origin(hint)
    if _is_union(hint):
        yield from _check_union(value, typing.get_args(hint), path)
    elif origin is list or hint is list:
        if not isinstance(value, list):
            yield f"{path}: expected a list, got {type(value).__name__}"
            return
        (item,) = typing.get_args(hint) or (Any,)
        for i, element in enumerate(value):
            yield from _check(element, item, f"{path}[{i}]")
    elif origin is ListObject or hint is ListObject:
        yield from _check_list_object(value, (typing.get_args(hint) or (Any,))[0], path)
    elif origin is UntypedStripeObject or origin is dict or hint is UntypedStripeObject:
        if not isinstance(value, dict):
            yield f"{path}: expected a hash, got {type(value).__name__}"
            return
        args = typing.get_args(hint)
        item = args[-1] if args else Any
        for key, element in value.items():
            yield from _check(element, item, f"{path}.{key}")
    elif isinstance(hint, type) and issubclass(hint, StripeObject):
        yield from _check_class(value, hint, path)
    elif hint is bool:
        if not isinstance(value, bool):
            yield f"{path}: expected a boolean, got {value!r}"
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            yield f"{path}: expected an integer, got {value!r}"
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            yield f"{path}: expected a number, got {value!r}"
    elif hint is str:
        if not isinstance(value, str):
            yield f"{path}: expected a string, got {value!r}"
    elif hint is decimal.Decimal:
        if not isinstance(value, str) or not _is_decimal(value):
            yield f"{path}: expected a decimal string, got {value!r}"
    else:
        raise TypeError(f"{path}: the checker does not know the SDK type {hint!r}")


def _is_decimal(text: str) -> bool:
    try:
        return decimal.Decimal(text).is_finite()
    except decimal.InvalidOperation:
        return False


def _check_union(value: Any, options: tuple[Any, ...], path: str) -> Iterator[Problem]:
    """An expandable id (``Union[str, X]``) or one of several objects, told by ``object``."""
    resolved = list(options)
    if isinstance(value, str):
        if str not in resolved:
            yield f"{path}: a string where {options} was expected"
        return
    classes = [o for o in resolved if isinstance(o, type) and issubclass(o, StripeObject)]
    if isinstance(value, dict) and classes:
        kind = value.get("object")
        named = [c for c in classes if _object_name(c) == kind]
        if named:
            yield from _check_class(value, named[0], path)
            return
        attempts = [list(_check_class(value, c, path)) for c in classes]
        yield from min(attempts, key=len)
        return
    others = [o for o in resolved if o is not str and o not in classes]
    if not others:
        yield f"{path}: {type(value).__name__} where {options} was expected"
        return
    attempts = [list(_check(value, o, path)) for o in others]
    yield from min(attempts, key=len)


def _check_list_object(value: Any, item: Any, path: str) -> Iterator[Problem]:
    """Stripe's list envelope: ``object``, ``data``, ``has_more``, ``url`` and nothing else."""
    if not isinstance(value, dict):
        yield f"{path}: expected a list object, got {type(value).__name__}"
        return
    for key in value.keys() - {"object", "data", "has_more", "url"}:
        yield f"{path}.{key}: unknown field (a list carries object, data, has_more, url)"
    for key in ("object", "data", "has_more", "url"):
        if key not in value:
            yield f"{path}.{key}: missing"
    if value.get("object") != "list":
        yield f"{path}.object: {value.get('object')!r} is not 'list'"
    if not isinstance(value.get("has_more"), bool):
        yield f"{path}.has_more: expected a boolean"
    if not isinstance(value.get("url"), str):
        yield f"{path}.url: expected a string"
    data = value.get("data")
    if not isinstance(data, list):
        yield f"{path}.data: expected a list"
        return
    for i, element in enumerate(data):
        yield from _check(element, item, f"{path}.data[{i}]")


def _typed_alternatives(cls: type[StripeObject], value: Mapping[str, Any]) -> frozenset[str]:
    """In an object chosen by ``type``, the fields named after the other types."""
    fields = fields_of(cls)
    if "type" not in fields:
        return frozenset()
    kinds = _literal_values(_split_optional(fields["type"])[0]) or ()
    return frozenset(k for k in map(str, kinds) if k in fields and k != value.get("type"))


def _check_class(value: Any, cls: type[StripeObject], path: str) -> Iterator[Problem]:
    if not isinstance(value, dict):
        yield f"{path}: expected a {cls.__qualname__} hash, got {value!r}"
        return
    fields = fields_of(cls)
    for key in value.keys() - fields.keys():
        yield f"{path}.{key}: unknown field (not declared on {cls.__qualname__})"
    deleted = value.get("deleted") is True and "deleted" in fields
    may_skip = _typed_alternatives(cls, value)
    for name, hint in fields.items():
        if name in value:
            yield from _check(value[name], hint, f"{path}.{name}")
            continue
        if deleted and name not in ("id", "object"):
            continue
        _, nullable = _split_optional(hint)
        if not nullable:
            yield f"{path}.{name}: missing (required)"
        elif name not in may_skip and _always_sent(cls, name):
            yield f"{path}.{name}: missing (Stripe sends it, null or not)"


def _always_sent(cls: type[StripeObject], name: str) -> bool:
    """Whether Stripe sends an ``Optional`` field of ``cls`` even when it is null."""
    kind = _object_name(cls)
    if kind is None:
        return name in NESTED_ALWAYS_SENT.get(cls.__qualname__, ())
    return (kind, name) not in ABSENT_UNLESS_ASKED and (kind, name) not in SOMETIMES_ABSENT
