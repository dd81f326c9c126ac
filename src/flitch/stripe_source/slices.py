"""One slice of a list read: a half-open ``created`` range with its own cursor (see
:mod:`flitch.stripe_source.reader`), how it gives parts of its unread time to new slices, and the
guard that stops a slice whose pages do not advance.

A slice is read from its top, newest first (``starting_after``: the *fall*). A slice of a live
read may also be read from its bottom at the same time (the *rise*): Stripe's ``ending_before``
pages toward newer records from any record of the list, and the newest record of the slice
just below is such a record, known as soon as that slice's first page is in. The fall and the
rise then meet somewhere inside the slice, and the slice is done. Two cursors on one slice cost
one short page where they meet, as one cursor does at the slice's end: twice the parallel reads
for the same number of requests above the fewest (:meth:`_Slice.rise_worth` keeps the meeting
to one short page). Records are compared by ``created`` and, within one second, by the ids each
side read in it: each side's read is contiguous in the list's order, so a record of the other
side's last second that the other side did not read lies beyond it.
"""

from __future__ import annotations

import asyncio
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
#: A rise asks for another page only while the gap to the fall should hold this many pages:
#: below it, the fall's next page likely closes the gap alone.
RISE_GAP_PAGES = 1.5


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
    #: read from both ends: the slice above waits for this one's newest record (its anchor)
    above: _Slice | None = None
    rise: Rise | None = None
    #: every record of the slice has been read (by the fall, the rise, or both)
    done: bool = False
    #: records read in this slice and the created seconds they cover (its own density)
    records: int = 0
    seconds: int = 0

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

    def fall_new(self, page: ListPage) -> tuple[int, bool]:
        """How many records at the head of ``page`` (from the fall) the rise has not read, and
        whether the page reached the rise (the slice is then done)."""
        rise = self.rise
        if rise is None or rise.top_created is None:
            return len(page), False
        for i, (record_id, created) in enumerate(zip(page.ids, page.created, strict=True)):
            if created < rise.top_created or (
                created == rise.top_created and record_id in rise.top_ids
            ):
                return i, True
        return len(page), False

    def start_rise(self, anchor_id: str, anchor_created: int, anchor_gte: int | None) -> Rise:
        """Read this slice from below too, from ``anchor_id``: the newest record of the slice
        below, whose lower end ``anchor_gte`` bounds the rise's requests so that the anchor is
        in the list asked for."""
        self.rise = Rise(gte=anchor_gte, cursor=anchor_id, anchor_created=anchor_created)
        return self.rise

    def rise_query(self) -> dict[str, Any]:
        assert self.rise is not None
        created: dict[str, int] = {}
        if self.rise.gte is not None:
            created["gte"] = self.rise.gte
        if self.lt is not None:
            created["lt"] = self.lt
        params: dict[str, Any] = {"limit": PAGE_SIZE, "ending_before": self.rise.cursor}
        if created:
            params["created"] = created
        return params

    def rise_take(self, spec: ObjectSpec, page: ListPage) -> tuple[int, bool]:
        """Take a page of the rise (newest first, the records just newer than its cursor):
        the index from which its records are new (the fall has not read them), and whether
        it reached the fall. Raises :class:`CursorLoop` when the page does not follow."""
        rise = self.rise
        assert rise is not None
        start = len(page)
        met = False
        floor = rise.top_created if rise.top_created is not None else rise.anchor_created
        for i in range(len(page) - 1, -1, -1):  # oldest first
            record_id, created = page.ids[i], page.created[i]
            if not isinstance(record_id, str) or not isinstance(created, int):
                raise _loop(spec, "returned a record without an id or a created time")
            if created < floor or (self.lt is not None and created >= self.lt):
                raise _loop(spec, f"returned {record_id} below the cursor it was asked from")
            if created == rise.top_created and record_id in rise.top_ids:
                raise _loop(spec, f"returned {record_id} a second time")
            bottom = self.last_created
            if bottom is not None and (
                created > bottom or (created == bottom and record_id in self.same_second)
            ):
                met = True
                break
            if created != rise.top_created:
                rise.top_ids.clear()
                rise.top_created = created
            rise.top_ids.add(record_id)
            floor = created
            start = i
        if page.has_more and not page:
            raise _loop(spec, "returned an empty page that says more records follow")
        if page:
            rise.cursor = page.ids[0]
        return start, met

    def seconds_per_record(self, job: Any) -> float:
        """This slice's density once it has read a page's worth, else the list's
        (``job.seconds_per_record()``): records are denser in some parts than others."""
        if self.records >= PAGE_SIZE:
            return max(1, self.seconds) / self.records
        return float(job.seconds_per_record())

    def gap_pages(self, seconds_per_record: float) -> float | None:
        """The pages expected between the fall and the rise (None: no rise, or no end yet)."""
        rise = self.rise
        if rise is None:
            return None
        bottom = rise.top_created if rise.top_created is not None else rise.anchor_created
        top = self.last_created if self.last_created is not None else self.lt
        if top is None:
            return None
        return (top - bottom) / seconds_per_record / PAGE_SIZE

    def rise_worth(self, seconds_per_record: float) -> bool:
        """Whether the rise should ask for another page: not when the fall's next page is
        likely to close the gap between them alone (both asking would make one request for
        nothing)."""
        if self.rise is None or self.done:
            return False
        gap = self.gap_pages(seconds_per_record)
        return gap is None or gap >= RISE_GAP_PAGES

    def fall_waits(self, seconds_per_record: float) -> bool:
        """Whether the fall should wait for the rise's page in flight rather than ask: when
        that page likely closes the gap alone."""
        if self.rise is None or not self.rise.asking:
            return False
        gap = self.gap_pages(seconds_per_record)
        return gap is not None and gap < 1

    def unread(self, now: int, floor: int = STRIPE_EPOCH) -> int:
        """Seconds of ``created`` time not read yet (both ends' reads counted), above
        ``floor``."""
        if self.done:
            return 0
        top = self.last_created
        if top is None:
            top = self.lt if self.lt is not None else now
        low = max(floor, self.gte if self.gte is not None else STRIPE_EPOCH)
        if self.rise is not None:
            low = max(low, self.rise.top_created or self.rise.anchor_created)
        return max(0, top - low)

    def split_both_ways(self, oldest: int, seconds_per_record: float, parts: int) -> list[_Slice]:
        """Cut the unread time of a slice bounded below into ``parts`` parts to be read from
        both ends, this one the newest (fewer parts if one would hold less than a page): each
        part but the oldest gets a rise from the newest record of the part below, so it gets
        twice the oldest's share of the time. The new slices are returned newest first, each
        linked to the one above it."""
        older = self._cut(oldest, seconds_per_record, parts, both_ways=True)
        above = self
        for piece in older:
            piece.above = above
            above = piece
        return older

    def cut_top(self, share: float) -> _Slice | None:
        """Keep the newest ``share`` of this slice's time (nothing read yet) and give the
        rest to a new slice below it, linked to this one (None: no second to give)."""
        assert self.gte is not None
        assert self.lt is not None
        cut = self.lt - max(1, int((self.lt - self.gte) * share))
        if not self.gte < cut < self.lt:
            return None
        below = _Slice(gte=self.gte, lt=cut, above=self)
        self.gte = cut
        return below

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
        return self._cut(oldest, seconds_per_record, parts, both_ways=False)

    def _cut(
        self, oldest: int, seconds_per_record: float, parts: int, *, both_ways: bool
    ) -> list[_Slice]:
        """The cut both splits make of ``[gte, oldest]``: even parts, or (``both_ways``) each
        twice the oldest's share; this slice keeps the newest part, the others are returned
        newest first."""
        assert self.gte is not None
        remaining = oldest - self.gte
        if remaining <= 0:
            return []
        parts = min(parts, int(remaining / (PAGE_SIZE * seconds_per_record)))
        if parts < 2:
            return []
        step, weight = (2, 2 * parts - 1) if both_ways else (1, parts)
        cuts = [oldest - remaining * step * i // weight for i in range(1, parts)]  # newest first
        cuts = [c for c in dict.fromkeys(cuts) if self.gte < c <= oldest]
        if not cuts:
            return []
        bounds = [*cuts, self.gte]
        older = [_Slice(gte=bounds[i + 1], lt=bounds[i]) for i in range(len(cuts))]
        self.gte = cuts[0]
        return older


@dataclass
class Rise:
    """The read of a slice from its bottom up (``ending_before``)."""

    #: the lower end of the rise's requests (the anchor's slice's), so the anchor is in them
    gte: int | None
    #: the newest record read so far from below, first the anchor
    cursor: str
    anchor_created: int
    #: the created second of the newest record the rise read, and the ids it read in it
    top_created: int | None = None
    top_ids: set[str] = field(default_factory=set)
    #: a page of the rise is being asked for; ``landed`` is set when it is in
    asking: bool = False
    landed: asyncio.Event = field(default_factory=asyncio.Event)


def _loop(spec: ObjectSpec, what: str) -> CursorLoop:
    return CursorLoop(
        f"Reading {spec.label} stopped: Stripe's list {what}, so paging would not advance.",
        "Try the read again; if it happens again, report it (the object's list is not being "
        "paged the way Stripe documents).",
    )
