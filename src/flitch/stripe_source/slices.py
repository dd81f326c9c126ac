"""One slice of a list read: a half-open ``created`` range with its own cursor (see
:mod:`flitch.stripe_source.reader`), how it gives parts of its unread time to new slices, and the
guard that stops a slice whose pages do not advance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flitch.catalog import ObjectSpec
from flitch.errors import StripeRequestFailed
from flitch.stripe_source.pages import ListPage

#: 2010-01-01 UTC, before Stripe's launch: where time is split when a slice has no lower end
#: (the oldest slice keeps no lower bound in its requests, so nothing older is ever missed).
STRIPE_EPOCH = 1_262_304_000
#: Stripe's largest page.
PAGE_SIZE = 100


class CursorLoop(StripeRequestFailed):
    """A list's pages stopped advancing; reading that part was stopped rather than loop."""


@dataclass
class _Slice:
    gte: int | None
    lt: int | None
    cursor: str | None = None
    # guard state: the created second of the last record read and the ids read in that second
    last_created: int | None = None
    same_second: set[str] = field(default_factory=set)

    def query(self) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        created: dict[str, int] = {}
        if self.gte is not None:
            created["gte"] = self.gte
        if self.lt is not None:
            created["lt"] = self.lt
        if created:
            params["created"] = created
        if self.cursor is not None:
            params["starting_after"] = self.cursor
        return params

    def check(self, spec: ObjectSpec, page: ListPage) -> None:
        """Raise :class:`CursorLoop` unless this page follows the previous one."""
        for record_id, created in zip(page.ids, page.created, strict=True):
            if not isinstance(record_id, str) or not isinstance(created, int):
                raise _loop(spec, "returned a record without an id or a created time")
            if (self.gte is not None and created < self.gte) or (
                self.lt is not None and created >= self.lt
            ):
                raise _loop(spec, f"returned {record_id}, created outside the range asked for")
            if self.last_created is not None and created > self.last_created:
                raise _loop(spec, f"went back to newer records ({record_id}) after the cursor")
            if created != self.last_created:
                self.same_second.clear()
            if record_id in self.same_second:
                raise _loop(spec, f"returned {record_id} a second time")
            self.same_second.add(record_id)
            self.last_created = created
        if page.has_more and not page:
            raise _loop(spec, "returned an empty page that says more records follow")

    def split(self, oldest: int, seconds_per_record: float) -> _Slice | None:
        """Give away the older half of the unread time, or None when it is not worth it.

        ``oldest``: the created second of the last record read; ``seconds_per_record``: the
        list's density so far (from all its slices: one page's density is too noisy, as records
        come in bursts). The new slice may turn out empty (one request); halving finds where
        the records are in a few steps, and keeps the number of slices — each ending with a
        short page — low.
        """
        low = self.gte if self.gte is not None else STRIPE_EPOCH
        remaining = oldest - low
        # Less than a page expected below ``oldest``: not worth a request of its own.
        if remaining <= 0 or remaining < PAGE_SIZE * seconds_per_record:
            return None
        cut = oldest - remaining // 2  # low < cut <= oldest
        older = _Slice(gte=self.gte, lt=cut)
        self.gte = cut
        return older

    def split_evenly(self, oldest: int, seconds_per_record: float, parts: int) -> list[_Slice]:
        """Cut the unread time of a slice bounded below into ``parts`` even parts (fewer if
        a part would hold less than a page at the density given): this slice keeps the
        newest, the others are returned, oldest last. As with ``split``, records of second
        ``oldest`` not read yet stay in this slice."""
        assert self.gte is not None
        remaining = oldest - self.gte
        if remaining <= 0:
            return []
        parts = min(parts, int(remaining / (PAGE_SIZE * seconds_per_record)))
        if parts < 2:
            return []
        cuts = [oldest - remaining * i // parts for i in range(1, parts)]  # newest first
        cuts = [c for c in dict.fromkeys(cuts) if self.gte < c <= oldest]
        if not cuts:
            return []
        bounds = [*cuts, self.gte]
        older = [_Slice(gte=bounds[i + 1], lt=bounds[i]) for i in range(len(cuts))]
        self.gte = cuts[0]
        return older


def _loop(spec: ObjectSpec, what: str) -> CursorLoop:
    return CursorLoop(
        f"Reading {spec.label} stopped: Stripe's list {what}, so paging would not advance.",
        "Try the read again; if it happens again, report it (the object's list is not being "
        "paged the way Stripe documents).",
    )
