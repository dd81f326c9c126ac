"""What a live query asks Stripe for: one ``DatasetRead`` per dataset it needs.

A read names a dataset and the filters Stripe can apply before sending anything: a ``created``
range (``created[gte]``/``created[lt]``) and equality filters from the catalog (a subscription's
``status``, a charge's ``customer``…). Filters only ever *narrow* what is fetched; the SQL that
runs afterwards still applies every condition itself, so a read that fetches more than needed
changes the cost, never the answer. That is also why a read drops a filter value Stripe would
refuse (``status=Active``; see ``catalog.enums``) rather than send it: the SQL finds no rows
for it, where Stripe would have failed the whole query with a 400.

Reads are values (frozen, hashable): identical reads share one fetch, and the reads of one
dashboard load are merged so that each Stripe list is read at most once per load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from flitch import catalog


@dataclass(frozen=True)
class DatasetRead:
    """Read one dataset live, narrowed by what Stripe can filter on."""

    dataset: str
    created_gte: int | None = None
    created_lt: int | None = None
    #: (list parameter, value) pairs, sorted; values as Stripe wants them (``"true"``, ids…)
    filters: tuple[tuple[str, str], ...] = field(default=())
    #: A small read kept apart from the load's other read of the same list, so the charts it
    #: answers are drawn before that one is complete (``merge`` never widens it into the other)
    early: bool = False

    def __post_init__(self) -> None:
        spec = catalog.get(self.dataset)  # raises a KeyError naming the valid datasets
        # every way of building a read (SQL pushdown, dashboard filters, merges) goes through
        # here, so none can send Stripe a value its list refuses
        accepted = {f.param: f for f in spec.filters}
        kept = {(p, v) for p, v in self.filters if p not in accepted or accepted[p].accepts(v)}
        object.__setattr__(self, "filters", tuple(sorted(kept)))

    @property
    def spec(self) -> catalog.ObjectSpec:
        return catalog.get(self.dataset)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.filters)

    @property
    def is_whole(self) -> bool:
        """True when the read fetches the whole list."""
        return self.created_gte is None and self.created_lt is None and not self.filters

    def describe(self) -> str:
        """A short human description: ``charges created ≥ 1700000000 and customer=cus_1``."""
        parts: list[str] = []
        if self.created_gte is not None:
            parts.append(f"created ≥ {self.created_gte}")
        if self.created_lt is not None:
            parts.append(f"created < {self.created_lt}")
        parts.extend(f"{k}={v}" for k, v in self.filters)
        text = self.dataset + (" where " + " and ".join(parts) if parts else " (all)")
        return text + (", read first" if self.early else "")

    @property
    def bounded(self) -> bool:
        """True when the read is narrowed below (a start, or a filter): its cost follows the
        period or the filter, not the list's whole history."""
        return self.created_gte is not None or bool(self.filters)

    def covers(self, other: DatasetRead) -> bool:
        """True when every object ``other`` fetches, this read fetches too."""
        if other.dataset != self.dataset or not set(self.filters) <= set(other.filters):
            return False
        if self.created_gte is not None and (
            other.created_gte is None or other.created_gte < self.created_gte
        ):
            return False
        return self.created_lt is None or (
            other.created_lt is not None and other.created_lt <= self.created_lt
        )


def whole(dataset: str) -> DatasetRead:
    return DatasetRead(dataset)


def merge(reads: Iterable[DatasetRead]) -> list[DatasetRead]:
    """One read per dataset that covers every read given for it (and one more for its reads
    marked ``early``, kept apart).

    The created range becomes the smallest range covering them all (open if any is open) and
    only the filters every read shares are kept: the merged read fetches a superset of each.
    """
    by_dataset: dict[tuple[str, bool], list[DatasetRead]] = {}
    for read in reads:
        by_dataset.setdefault((read.dataset, read.early), []).append(read)
    merged: list[DatasetRead] = []
    for (dataset, early), group in by_dataset.items():
        gtes = [r.created_gte for r in group]
        lts = [r.created_lt for r in group]
        shared = set(group[0].filters)
        for r in group[1:]:
            shared &= set(r.filters)
        merged.append(
            DatasetRead(
                dataset,
                created_gte=None if None in gtes else min(g for g in gtes if g is not None),
                created_lt=None if None in lts else max(lt for lt in lts if lt is not None),
                filters=tuple(shared),
                early=early,
            )
        )
    return merged


def filter_param(spec: catalog.ObjectSpec, column: str) -> str | None:
    """The list parameter that filters ``column`` of ``spec`` in Stripe, if there is one (a
    read keeps only the values it accepts)."""
    for f in spec.filters:
        if f.column == column:
            return f.param
    return None


def stripe_value(value: object) -> str:
    """A filter value as Stripe's query string wants it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def reads_for(datasets: Iterable[str], narrowed: Mapping[str, DatasetRead]) -> list[DatasetRead]:
    """A read for each dataset: the narrowed one where known, else the whole list."""
    return [narrowed.get(name, whole(name)) for name in sorted(set(datasets))]
