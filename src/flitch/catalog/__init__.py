"""The twelve Stripe objects Flitch reads, as data.

This package is the one place that knows what a Stripe object looks like to Flitch: its list
endpoint, the restricted-key permission that guards it (with the label Stripe's dashboard shows),
the list parameters needed to see *every* record (Stripe hides some by default), the filters a
live query can push down to Stripe, the events that announce its changes, and the dataset columns
with their types and where each value lives in the JSON of the pinned API version.

- :mod:`.model` — the types specs are written in (``ObjectSpec``, ``Column``, ``ChildSpec``, …);
- :mod:`.children` — the child tables: records nested in an object, kept as tables of their own;
- :mod:`.objects` — the twelve objects (``OBJECTS``) and the events endpoint;
- :mod:`.enums` — the values Stripe's enumerated list filters accept (all others stay in SQL);
- here — the lookups by name, object type and event type, and every name above.

Adding an object is one entry in ``OBJECTS``; tests and docs iterate over it.
"""

from __future__ import annotations

from collections.abc import Mapping

from flitch.catalog.children import (
    INVOICE_DISCOUNT_AMOUNTS,
    INVOICE_LINES,
    SUBSCRIPTION_DISCOUNTS,
    SUBSCRIPTION_ITEMS,
)
from flitch.catalog.model import ChildSpec, Column, ColumnType, Filter, ObjectSpec
from flitch.catalog.objects import (
    EVENTS_PATH,
    EVENTS_PERMISSION,
    EVENTS_PERMISSION_LABEL,
    EVENTS_RETENTION_DAYS,
    OBJECTS,
)

BY_NAME: Mapping[str, ObjectSpec] = {o.name: o for o in OBJECTS}
BY_OBJECT_TYPE: Mapping[str, ObjectSpec] = {o.object_type: o for o in OBJECTS}
BY_EVENT_TYPE: Mapping[str, ObjectSpec] = {e: o for o in OBJECTS for e in o.event_types}
NAMES: tuple[str, ...] = tuple(o.name for o in OBJECTS)
#: Every child table, and the dataset each belongs to.
CHILDREN: tuple[ChildSpec, ...] = tuple(c for o in OBJECTS for c in o.children)
PARENT_OF: Mapping[str, ObjectSpec] = {c.name: o for o in OBJECTS for c in o.children}


def get(name: str) -> ObjectSpec:
    """The object called ``name`` (e.g. ``"charges"``), or a ``KeyError`` listing valid names."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown object {name!r}; expected one of: {', '.join(NAMES)}") from None


def dataset_of(table: str) -> ObjectSpec | None:
    """The dataset a table belongs to: itself for a dataset, the parent for a child table."""
    return BY_NAME.get(table) or PARENT_OF.get(table)


__all__ = [
    "BY_EVENT_TYPE",
    "BY_NAME",
    "BY_OBJECT_TYPE",
    "CHILDREN",
    "EVENTS_PATH",
    "EVENTS_PERMISSION",
    "EVENTS_PERMISSION_LABEL",
    "EVENTS_RETENTION_DAYS",
    "INVOICE_DISCOUNT_AMOUNTS",
    "INVOICE_LINES",
    "NAMES",
    "OBJECTS",
    "PARENT_OF",
    "SUBSCRIPTION_DISCOUNTS",
    "SUBSCRIPTION_ITEMS",
    "ChildSpec",
    "Column",
    "ColumnType",
    "Filter",
    "ObjectSpec",
    "dataset_of",
    "get",
]
