"""The types the catalog is written in, and the small helpers that build its specs.

A dataset column (:class:`Column`) has a type (:class:`ColumnType`) and a path into the JSON of the
pinned API version; an object Flitch reads (:class:`ObjectSpec`) has its list endpoint, the
restricted-key permission that guards it, the list parameters that show every record, the
filters a live query can push down (:class:`Filter`), its events, its columns, and the records
nested in it that are kept as child tables (:class:`ChildSpec`).

``_c``, ``T`` and ``_columns`` are shorthands for the spec modules of this package
(:mod:`.children`, :mod:`.objects`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """How a dataset column is typed at rest."""

    TEXT = "text"
    INTEGER = "integer"
    #: an integer in the currency's smallest unit (cents; whole yen for JPY)
    AMOUNT = "amount"
    FLOAT = "float"
    BOOLEAN = "boolean"
    #: Unix seconds in Stripe, a UTC timestamp at rest
    TIMESTAMP = "timestamp"
    JSON = "json"


@dataclass(frozen=True)
class Column:
    """One dataset column: its name, type and where it lives in the Stripe object.

    ``path`` is a dotted path into the object; a numeric part indexes a list
    (``items.data.0.price.id``); an empty path is the whole object. When a text column finds an
    expanded object, its ``id`` is used. ``flitch.store.flatten`` reads the values (in DuckDB,
    from each object's JSON) and says exactly how each type is read.
    """

    name: str
    type: ColumnType
    path: str
    description: str
    #: Paths tried in turn when ``path`` holds nothing: where older API versions kept the value.
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChildSpec:
    """Records nested in each object of a dataset, kept as a table of their own.

    The table has the column ``key`` (the parent object's id) first, then ``parent_fields``
    (read from the parent: e.g. when it was created, so its records can be narrowed by that
    date without a join), then ``fields`` read from each record (paths relative to the record),
    and, for a ``paged`` list, ``truncated``. A record that is a bare id (an expandable field
    left unexpanded) is read as ``{"id": …}``.

    ``path`` is where the list is in the parent. A ``paged`` list is Stripe's list envelope
    (``{"data": […], "has_more": …}``): when ``has_more`` is true Stripe embedded only the first
    records and the others are not in the table; ``truncated`` is true on the rows of such a
    parent. Otherwise ``path`` is a plain array.
    """

    name: str
    label: str
    description: str
    path: str
    key: str
    key_description: str
    fields: tuple[Column, ...]
    paged: bool = False
    parent_fields: tuple[Column, ...] = ()

    @property
    def columns(self) -> tuple[Column, ...]:
        key = Column(self.key, ColumnType.TEXT, "id", self.key_description)
        if not self.paged:
            return (key, *self.parent_fields, *self.fields)
        truncated = Column(
            "truncated",
            ColumnType.BOOLEAN,
            f"{self.path}.has_more",
            "True when Stripe embedded only part of the parent's list (has_more): the other "
            "records are not in this table.",
        )
        return (key, *self.parent_fields, *self.fields, truncated)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Filter:
    """A list parameter a live query can push down to Stripe: ``column = value``.

    ``values`` are the only values pushed down when Stripe's filter takes an enumeration (see
    :mod:`.enums`); ``None`` for a filter that takes any text (an id, an email).
    """

    column: str
    param: str
    values: frozenset[str] | None = None

    def accepts(self, value: str) -> bool:
        """Whether ``value`` (as Stripe's query string writes it) can be sent to Stripe."""
        return self.values is None or value in self.values


@dataclass(frozen=True)
class ObjectSpec:
    """One of the objects a connection can pick; each becomes a dataset."""

    name: str
    label: str
    object_type: str
    list_path: str
    permission: str
    permission_label: str
    columns: tuple[Column, ...]
    #: One parameter set per read needed to see every record; the reads' results are disjoint.
    #: Stripe hides canceled subscriptions without ``status=all`` and inactive prices without
    #: ``active``, so those objects need these to be complete.
    list_variants: tuple[Mapping[str, str], ...] = ({},)
    filters: tuple[Filter, ...] = ()
    #: ``expand[]`` values every read asks for, so dashboards have what they need in one list
    #: (subscription discounts as objects; the tiers of tiered prices).
    expand: tuple[str, ...] = ()
    #: Event types whose ``data.object`` is this object. Empty: no events (never changes).
    event_types: tuple[str, ...] = ()
    #: The event type that announces a deletion, if Stripe deletes this object.
    deleted_event: str | None = None
    #: Whether a record can change after it is created (balance transactions never do).
    mutable: bool = True
    #: Words the seed uses for this object's fields (Records, email, balance, …).
    seed_fields: tuple[str, ...] = field(default=())
    #: Records nested in the object kept as child tables, written with the dataset's rows.
    children: tuple[ChildSpec, ...] = ()
    #: The column holding the currency of the object's amounts (its ``AMOUNT`` columns count
    #: that currency's smallest unit), so they can be shown as money; ``None``: no currency.
    currency_column: str | None = "currency"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


T = ColumnType


def _c(
    name: str,
    type_: ColumnType,
    description: str,
    path: str | None = None,
    fallbacks: tuple[str, ...] = (),
) -> Column:
    return Column(
        name=name, type=type_, path=path or name, description=description, fallbacks=fallbacks
    )


def _common_head() -> tuple[Column, ...]:
    return (
        _c("id", T.TEXT, "Stripe's identifier; the dataset's primary key."),
        _c("created", T.TIMESTAMP, "When the object was created (UTC)."),
        _c("livemode", T.BOOLEAN, "True for live-mode data, false for test mode."),
    )


def _common_tail() -> tuple[Column, ...]:
    return (
        _c("metadata", T.JSON, "Your own key-value pairs set on the object."),
        Column("raw", T.JSON, "", "The whole object as Stripe returned it."),
    )


def _columns(*middle: Column, livemode_and_metadata: bool = True) -> tuple[Column, ...]:
    """The common columns around an object's own; ``livemode_and_metadata=False`` for an
    object that has neither field (balance transactions): columns Stripe never fills would
    only ever be NULL."""
    head, tail = _common_head(), _common_tail()
    if not livemode_and_metadata:
        head = tuple(c for c in head if c.name != "livemode")
        tail = tuple(c for c in tail if c.name != "metadata")
    return (*head, *middle, *tail)
