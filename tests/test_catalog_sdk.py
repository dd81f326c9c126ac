"""The catalog checked against the ``stripe`` SDK's typed definitions of the pinned API version.

The SDK is generated from Stripe's OpenAPI spec for the version it pins: its object classes
(``stripe/_invoice.py`` and their nested classes) say which fields an object has and of what
type, and its list parameters (``stripe/params/_invoice_list_params.py``) say what each list
endpoint accepts. Every column path, every parameter Flitch sends (pushed-down filters, the
variants that show hidden records, ``expand[]``) and every value it may push down is checked
here, so a field Stripe does not have, a filter it does not take or a value it refuses fails CI
instead of reaching a user as NULL columns or 400s.

Column paths are checked, not their ``fallbacks``: those are where *older* API versions kept a
value, and the SDK only describes the pinned one.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import types
import typing
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
import stripe
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES

from flitch import catalog
from flitch.catalog import Column, ColumnType, ObjectSpec
from flitch.stripe_source.client import API_VERSION


def test_the_sdk_is_the_version_flitch_pins() -> None:
    """Checks against another SDK's definitions would prove nothing about the pinned version."""
    assert stripe.api_version == API_VERSION


# -- the SDK's object classes, walked along a dotted path -----------------------------------------
def sdk_class(object_type: str) -> type[stripe.StripeObject]:
    module, name = OBJECT_CLASSES[object_type]
    cls: type[stripe.StripeObject] = getattr(importlib.import_module(module), name)
    return cls


#: An annotation and the module it is written in (where its forward references resolve).
Typed = tuple[Any, str]


def fields_of(cls: type) -> dict[str, Typed]:
    """A typed class's fields and their annotations (the SDK's own bookkeeping left out)."""
    found: dict[str, Typed] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in getattr(klass, "__annotations__", {}).items():
            found[name] = (annotation, klass.__module__)
    return {k: v for k, v in found.items() if not k.startswith("_") and k != "OBJECT_NAME"}


@cache
def _imports(module: str) -> dict[str, tuple[str, str]]:
    """The names a module imports (``TYPE_CHECKING`` ones too): name -> (module, attribute)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    assert spec.origin, module
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    return {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def _resolve(name: str, module: str) -> Any:
    """A forward reference (``"Customer"``, ``"DisputeResource"``) as the module means it."""
    source, attribute = _imports(module).get(name, (module, name))
    return getattr(importlib.import_module(source), attribute)


def options(typed: Typed) -> list[Typed]:
    """What a value annotated so can be: unions unwrapped, forward references resolved."""
    tp, module = typed
    if isinstance(tp, typing.ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        return [(_resolve(tp, module), module)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [o for arg in typing.get_args(tp) for o in options((arg, module))]
    return [(tp, module)]


def step(typed: Typed, part: str) -> list[Typed]:
    """The annotations ``part`` leads to from a value annotated so (none: no such field)."""
    found: list[Typed] = []
    for option, module in options(typed):
        origin = typing.get_origin(option)
        if part.isdigit():
            if origin in (list, typing.List):  # noqa: UP006 - the SDK's own spelling
                found.append((typing.get_args(option)[0], module))
            continue
        if origin is ListObject:  # Stripe's list envelope
            record = typing.get_args(option)[0]
            envelope = {"data": list[record], "has_more": bool, "url": str, "object": str}  # type: ignore[valid-type]
            if part in envelope:
                found.append((envelope[part], module))
            continue
        if isinstance(option, type) and issubclass(option, stripe.StripeObject):
            field = fields_of(option).get(part)
            if field is not None:
                found.append(field)
    return found


def walk(start: type | Typed, path: str) -> list[Typed]:
    """The annotations at the end of a dotted path (``items.data.0.price``) from a class or an
    annotation; empty if the SDK has no such path."""
    current = [start if isinstance(start, tuple) else (start, start.__module__)]
    for part in path.split("."):
        current = [nxt for t in current for nxt in step(t, part)]
    return current


def leaf_types(annotations: list[Typed]) -> set[Any]:
    """The plain types a leaf can hold: ``Literal`` as the type of its values, ``None`` left
    out, an expandable field as ``str`` (its id) and the object."""
    out: set[Any] = set()
    for typed in annotations:
        for option, _ in options(typed):
            if option is type(None):
                continue
            if typing.get_origin(option) is typing.Literal:
                out |= {type(v) for v in typing.get_args(option)}
            else:
                out.add(typing.get_origin(option) or option)
    return out


def enum_values(annotations: list[Typed]) -> frozenset[str] | None:
    """The values a field holds, when the SDK enumerates them (``Literal``, or a boolean as
    Stripe's query string writes it); ``None`` when any text may come."""
    values: set[str] = set()
    for typed in annotations:
        for option, _ in options(typed):
            if option is bool:
                values |= {"true", "false"}
            elif typing.get_origin(option) is typing.Literal:
                values |= {str(v) for v in typing.get_args(option)}
    return frozenset(values) or None


#: What a stored column accepts from the SDK's leaf types (``str`` besides a number: a value
#: Stripe documents as a decimal string).
ACCEPTED: dict[ColumnType, set[Any]] = {
    ColumnType.TEXT: {str},
    ColumnType.INTEGER: {int},
    ColumnType.AMOUNT: {int},
    ColumnType.TIMESTAMP: {int},
    ColumnType.BOOLEAN: {bool},
    ColumnType.FLOAT: {float, int, Decimal},
}


def _has_id(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, stripe.StripeObject) and "id" in fields_of(tp)


def check_column(owner: type | Typed, column: Column, where: str) -> None:
    if not column.path:  # raw: the whole object
        return
    found = walk(owner, column.path)
    assert found, f"{where}.{column.name}: the SDK has no {column.path!r} for API {API_VERSION}"
    if column.type is ColumnType.JSON:
        return
    leaves = leaf_types(found)
    if column.type is ColumnType.TEXT:
        # a text column that finds an object takes its id (``flitch.store.flatten``)
        leaves = {str if _has_id(leaf) else leaf for leaf in leaves}
    wanted = ACCEPTED[column.type]
    assert leaves & wanted, f"{where}.{column.name} is {column.type} but the SDK says {leaves}"
    if column.type is ColumnType.TEXT:
        # a number or a flag read as text would compare as text: 10 < 9
        assert not leaves & {int, float, bool}, f"{where}.{column.name}: {leaves}"


# -- the SDK's list parameters, read from their source --------------------------------------------
@cache
def list_params(object_type: str) -> dict[str, tuple[ast.expr, str]]:
    """Each parameter of an object's list endpoint: its annotation and its docstring.

    Read with ``ast`` because the SDK writes these annotations as strings
    (``NotRequired["Literal['draft', 'open']|str"]``) and keeps the allowed values of a few
    parameters only in the docstring that follows them (payouts' ``status``).
    """
    module = f"stripe.params._{object_type}_list_params"
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    assert spec.origin, module
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    name = "".join(part.title() for part in object_type.split("_")) + "ListParams"
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    found: dict[str, tuple[ast.expr, str]] = {}
    for i, node in enumerate(cls.body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            nxt = cls.body[i + 1] if i + 1 < len(cls.body) else None
            doc = ""
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
                doc = str(nxt.value.value)
            found[node.target.id] = (node.annotation, doc)
    return found


def _inner(annotation: ast.expr) -> ast.expr:
    """``NotRequired[X]`` → ``X``, a string annotation parsed."""
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.slice
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    return annotation


def param_values(object_type: str, param: str) -> frozenset[str] | None:
    """The values Stripe's list accepts for ``param``: a ``Literal``, a boolean, or the values a
    plain ``str`` parameter's docstring enumerates. ``None``: any text (an id, an email)."""
    annotation, doc = list_params(object_type)[param]
    inner = _inner(annotation)
    literals = [
        n
        for n in ast.walk(inner)
        if isinstance(n, ast.Subscript)
        and isinstance(n.value, ast.Name)
        and n.value.id == "Literal"
    ]
    if literals:
        return frozenset(
            str(c.value)
            for lit in literals
            for c in ast.walk(lit.slice)
            if isinstance(c, ast.Constant)
        )
    if isinstance(inner, ast.Name) and inner.id == "bool":
        return frozenset({"true", "false"})
    if (
        isinstance(inner, ast.Name)
        and inner.id == "str"
        and re.search(r"(?i)one of|given \w+:", doc)
    ):
        return frozenset(re.findall(r"`([a-z_]+)`", doc))
    return None


# -- the checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", catalog.OBJECTS, ids=lambda o: o.name)
def test_every_column_path_exists_in_the_sdk(spec: ObjectSpec) -> None:
    cls = sdk_class(spec.object_type)
    assert spec.object_type == cls.OBJECT_NAME
    for column in spec.columns:
        check_column(cls, column, spec.name)
    # the fields most objects share are columns exactly where the object has them
    for common in ("livemode", "metadata"):
        assert (common in spec.column_names) is (common in fields_of(cls)), (spec.name, common)


@pytest.mark.parametrize("child", catalog.CHILDREN, ids=lambda c: c.name)
def test_every_child_table_path_exists_in_the_sdk(child: catalog.ChildSpec) -> None:
    parent = sdk_class(catalog.PARENT_OF[child.name].object_type)
    listed = walk(parent, child.path)
    assert listed, f"{child.name}: the SDK has no {child.path!r}"
    records = [r for t in listed for r in step(t, "data" if child.paged else "0")]
    if child.paged:
        records = [r for t in records for r in step(t, "0")]
    assert records, f"{child.name}: {child.path!r} is not a {'list' if child.paged else 'array'}"
    key, *rest = child.columns
    check_column(parent, key, child.name)
    for column in rest:
        if column in child.parent_fields or column.name == "truncated":
            check_column(parent, column, child.name)
        else:
            assert any(walk(r, column.path) for r in records), (
                f"{child.name}.{column.name}: the SDK has no {column.path!r} on its records"
            )
            for record in records:
                if walk(record, column.path):
                    check_column(record, column, child.name)


@pytest.mark.parametrize("spec", catalog.OBJECTS, ids=lambda o: o.name)
def test_every_parameter_sent_is_one_stripe_accepts(spec: ObjectSpec) -> None:
    accepted = list_params(spec.object_type)
    for variant in spec.list_variants:
        for param, value in variant.items():
            assert param in accepted, f"{spec.name}: no list parameter {param!r}"
            allowed = param_values(spec.object_type, param)
            assert allowed is None or value in allowed, (spec.name, param, value)
    for expand in spec.expand:
        field = expand.removeprefix("data.")
        assert walk(sdk_class(spec.object_type), field), f"{spec.name}: expand {expand!r}"


@pytest.mark.parametrize("spec", catalog.OBJECTS, ids=lambda o: o.name)
def test_pushed_down_values_are_those_stripe_accepts_and_the_column_holds(
    spec: ObjectSpec,
) -> None:
    """A filter pushes down ``column = value`` only for a value Stripe's list takes (others are
    a 400) and that the column can hold: subscriptions' ``status=all`` and ``ended`` are not
    statuses a subscription has, so ``WHERE status = 'all'`` must not read every subscription."""
    cls = sdk_class(spec.object_type)
    for f in spec.filters:
        assert f.param in list_params(spec.object_type), f"{spec.name}: no filter {f.param!r}"
        accepted = param_values(spec.object_type, f.param)
        if accepted is None:
            assert f.values is None, f"{spec.name}.{f.column}: Stripe takes any value"
            continue
        held = enum_values(walk(cls, spec.column(f.column).path))
        expected = accepted if held is None else accepted & held
        assert f.values == expected, f"{spec.name}.{f.column}"


def test_what_the_checks_catch() -> None:
    """The walker is strict enough to fail on the mistakes this file exists for."""
    assert not walk(sdk_class("balance_transaction"), "livemode")
    assert not walk(sdk_class("invoice"), "subscription")  # moved under parent in 2025-03-31
    assert walk(sdk_class("invoice"), "parent.subscription_details.subscription")
    assert not walk(sdk_class("invoice"), "parent.subscription_details.nope")
    assert walk(sdk_class("subscription"), "items.data.0.price.product")
    assert param_values("payout", "status") == {"pending", "paid", "failed", "canceled"}
    assert "all" in (param_values("subscription", "status") or ())
    assert param_values("charge", "customer") is None
    with pytest.raises(AssertionError, match="integer"):
        check_column(
            sdk_class("invoice"), Column("status", ColumnType.INTEGER, "status", ""), "invoices"
        )


def test_the_country_columns_are_read_where_the_sdk_keeps_them() -> None:
    """Segments by country read a customer's address and a charge's card: typed text, from the
    paths the pinned version has (the card's country sits under the payment method's details)."""
    found = {
        (spec.name, c.name): c
        for spec in catalog.OBJECTS
        for c in spec.columns
        if c.name in ("address_country", "card_country")
    }
    address = found[("customers", "address_country")]
    card = found[("charges", "card_country")]
    assert (address.path, address.type) == ("address.country", ColumnType.TEXT)
    assert (card.path, card.type) == ("payment_method_details.card.country", ColumnType.TEXT)
    check_column(sdk_class("customer"), address, "customers")
    check_column(sdk_class("charge"), card, "charges")
    assert not walk(sdk_class("charge"), "card.country")


def test_the_settlement_rate_is_a_float_where_the_sdk_keeps_it() -> None:
    """Converting to a reporting currency reads Stripe's own settlement rate: a balance
    transaction's ``exchange_rate``, a float (null when no conversion happened)."""
    spec = catalog.get("balance_transactions")
    rate = next(c for c in spec.columns if c.name == "exchange_rate")
    assert rate.type is ColumnType.FLOAT
    check_column(sdk_class("balance_transaction"), rate, "balance_transactions")
