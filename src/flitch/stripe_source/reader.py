"""Reading whole lists: every record exactly once, as fast as the key's limits allow.

A Stripe list is newest first, 100 records a page, with a ``starting_after`` cursor. Paging one
cursor is one request at a time; to use an endpoint's whole budget (25/s) the reader reads
several parts of the list at once, cut by ``created`` (the slices of :mod:`.slices`):

- A *slice* is a half-open range ``[gte, lt)`` of ``created`` seconds (either end may be open),
  read page by page with its own cursor. Half-open ranges partition time exactly, so slices never
  share a record.
- A read open at either end (a refresh; a live read of a whole list) starts with one slice over
  all time. After each page that says ``has_more``, if the list could use more parallel reads
  (fewer slices than the endpoint's rate × the requests' latency), the slice gives away the
  older half of its *unread* time: with ``m`` the ``created`` of the page's oldest record and
  ``lo`` the slice's lower end, a new slice takes ``[lo, cut)`` and the current one continues
  with its cursor, restricted to ``[cut, lt)``, where ``cut = m - (m - lo) // 2``, so
  ``lo < cut <= m``. Records of second ``m`` not read yet sort after the cursor and stay in the
  current slice; the new slice starts strictly below ``cut``; nothing is lost or read twice,
  however many records share a second. An empty slice costs one request; a slice whose
  remaining time should hold less than a page (at the list's density so far) is not split.
- A live read of a window (both ends bounded, ``slice_share`` set), where every short page
  counts against the fewest requests, is cut once into a few parts read from both ends at once
  (each part but the oldest also from below, by ``ending_before``, once the part under it has
  its first page): as many reads at once for about half the short pages. The cut is made before
  the first request when the read's pages are known from the last time; otherwise the newest
  part is read at once and the rest is cut when its first page says how dense it is.
- A guard stops a slice whose pages do not advance (a record outside the slice's range, a record
  out of order or seen before in this slice, a page that is empty but says ``has_more``): it
  raises :class:`CursorLoop` instead of looping forever.

Every parameter set of ``spec.list_variants`` (e.g. prices ``active=true`` and ``active=false``)
is a list read this way; the variants' results are disjoint. Pages are yielded as they arrive
(in no particular order) through a bounded queue, so memory stays small whatever the list's size.
While reading, the reader estimates the records the whole read holds (``ReadProgress``).
:func:`read_objects` reads several objects at once, sharing the key's global budget.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from flitch import clock as clocks
from flitch.catalog import ObjectSpec
from flitch.errors import PermissionMissing, StripeRequestFailed
from flitch.stripe_source.client import SourceClient
from flitch.stripe_source.http import endpoint_of
from flitch.stripe_source.list_jobs import (
    RESERVED_PARAMS,
    ErrorCallback,
    ListJob,
    ProgressCallback,
    ReadProgress,
    list_params,
)
from flitch.stripe_source.pages import ListPage
from flitch.stripe_source.slices import PAGE_SIZE, STRIPE_EPOCH, CursorLoop, _Slice

#: Names kept importable from here since slices and jobs moved to their own modules.
__all__ = [
    "PAGE_SIZE",
    "RESERVED_PARAMS",
    "STRIPE_EPOCH",
    "CursorLoop",
    "ListJob",
    "ReadProgress",
    "list_params",
    "read_object",
    "read_objects",
]

#: Pages waiting for the consumer before the readers pause.
QUEUE_PAGES = 32
#: A live read of a window expected to take this many pages is cut before its first page.
CUT_AT_ONCE_PAGES = 4
#: A live read of a window whose size is not known yet starts as the newest of this many
#: parts (the others cut from the rest when its first page is in).
COLD_PARTS = 3


_PAGE = "page"
_FAILED = "failed"
_DONE = "done"


class _Reader:
    """Reads a set of lists concurrently and hands their pages to one consumer."""

    def __init__(
        self,
        client: SourceClient,
        specs: Iterable[ObjectSpec],
        *,
        params: Mapping[str, Any] | None,
        created_gte: int | None,
        created_lt: int | None,
        progress: ProgressCallback | None,
        per_object_errors: bool,
        slice_share: float | None = None,
        expected_pages: int | None = None,
    ) -> None:
        self.client = client
        self._slice_share = slice_share
        self._expected_pages = expected_pages
        self.specs = list(specs)
        self.jobs = [
            ListJob(spec, p, spec.list_path)
            for spec in self.specs
            for p in list_params(spec, params)
        ]
        self._first = (created_gte, created_lt)
        self._now = int(clocks.now()) + 1
        self._progress_cb = progress
        self._per_object_errors = per_object_errors
        self.progress = ReadProgress(objects_total=len(self.specs))
        self._stats_at_start = (
            client.stats.requests,
            client.stats.retries,
            client.stats.rate_limited,
        )
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._room = asyncio.Semaphore(QUEUE_PAGES)
        self._tasks: set[asyncio.Task[None]] = set()
        self._fatal: Exception | None = None
        self._failed: set[str] = set()
        self._jobs_left: dict[str, int] = {}
        for job in self.jobs:
            self._jobs_left[job.spec.name] = self._jobs_left.get(job.spec.name, 0) + 1

    # -- scheduling ----------------------------------------------------------------------------
    def _target(self, job: ListJob) -> int:
        """How many slices of one list are worth reading at once: Little's law (rate × time a
        request takes), doubled, plus two — a slice also spends time between its requests.
        With ``slice_share`` (fewer short pages wanted), Little's law plus two."""
        pacer = self.client.pacer
        latency = self.client.stats.latency or 0.25
        rate = min(pacer.endpoint_bucket(endpoint_of(job.path)).rate, pacer.global_bucket.rate)
        factor = 1 if self._slice_share is not None else 2
        return max(2, min(pacer.max_in_flight, math.ceil(rate * latency * factor) + 2))

    def _slices_left(self, job: ListJob) -> int:
        """How many more slices the list may be cut into. With ``slice_share``, a read of a
        ``created`` window is cut into at most one slice more than that share of the pages it
        is expected to take (at least three in all), as each slice ends on a short page;
        expected is the hint given, else the pages read plus the unread time at the density
        so far. Otherwise (and for a read open at either end, whose records are found by
        halving: a larger list, where a few short pages matter less) there is no limit."""
        gte, lt = self._first
        if self._slice_share is None or gte is None or lt is None:
            return 1 << 30
        expected = job.pages + job.remaining(self._now) / PAGE_SIZE
        if self._expected_pages is not None:
            expected = min(expected, self._expected_pages)
        return 1 + max(2, int(self._slice_share * expected)) - job.spawned

    def _split(self, job: ListJob, piece: _Slice, oldest: int) -> None:
        """Give parts of ``piece``'s unread time to new slices, if the list can use them."""
        if job.both_ways:
            # the oldest part is cut, once: the parts above it have their rise under way
            if not job.cut and piece.gte == self._first[0]:
                job.cut = True
                self._cut_both_ways(job, piece, oldest, job.seconds_per_record())
            return
        room = self._target(job) - job.active
        left = self._slices_left(job)
        if room <= 0 or left <= 0:
            return
        density = job.seconds_per_record()
        if left < 1 << 20 and piece.gte is not None:
            # few slices allowed: cut at once into even parts, not by halves (which would
            # leave the oldest half to be read alone at the end)
            for part in piece.split_evenly(oldest, density, min(room, left) + 1):
                self._spawn(job, part)
            return
        older = piece.split(oldest, density)
        if older is not None:
            self._spawn(job, older)

    def _cut_both_ways(self, job: ListJob, piece: _Slice, oldest: int, density: float) -> None:
        """Cut a window's read into parts read from both ends: as many as the list's worth of
        parallel reads (each part but the oldest has two readers, so there are some to spare
        as parts finish), within the slices allowed. A read started as two parts (its size
        unknown) gets COLD_PARTS in all: its newest part, two fifths of the time, is read by
        two readers whatever comes, and more parts below it would only finish first."""
        target = COLD_PARTS if job.spawned > 1 else self._target(job)
        parts = min(target, self._slices_left(job) + job.spawned)
        for part in piece.split_both_ways(oldest, density, parts - job.spawned + 1):
            self._spawn(job, part)

    def _spawn(self, job: ListJob, piece: _Slice, *, rise: bool = False) -> None:
        if not rise:
            job.spawned += 1
        job.active += 1
        job.reading[id(piece)] = piece
        task = asyncio.get_running_loop().create_task(self._run_slices(job, piece, rise))
        job.streams.setdefault(id(piece), set()).add(task)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _finish(self, job: ListJob, piece: _Slice) -> None:
        """Every record of ``piece`` is read: the other end's request in flight, if any, is
        for records already read (its answer is not waited for)."""
        piece.done = True
        current = asyncio.current_task()
        for task in job.streams.get(id(piece), ()):
            if task is not current:
                task.cancel()

    def _emit(self, job: ListJob, page: ListPage, start: int, stop: int) -> None:
        """Hand ``page[start:stop]`` (new records) to the consumer; the caller holds a place
        in the queue for it."""
        part = page if (start, stop) == (0, len(page)) else page.part(start, stop)
        job.records += len(part)
        oldest = min(part.created)
        job.lowest = oldest if job.lowest is None else min(job.lowest, oldest)
        self._count(job.spec, part)
        self._queue.put_nowait((_PAGE, (job.spec, part)))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._queue.put_nowait((_DONE, None))

    async def _run_slices(self, job: ListJob, piece: _Slice, rise: bool) -> None:
        try:
            if rise:
                await self._read_rise(job, piece)
            else:
                await self._read_slice(job, piece)
        except (PermissionMissing, StripeRequestFailed) as exc:
            if self._per_object_errors:
                self._fail_object(job.spec, exc)
            else:
                self._fatal_error(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the consumer, who raises it
            self._fatal_error(exc)
        finally:
            job.active -= 1
            streams = job.streams.get(id(piece), set())
            task = asyncio.current_task()
            if task is not None:
                streams.discard(task)
            if not streams:
                job.streams.pop(id(piece), None)
                job.reading.pop(id(piece), None)
            if job.active == 0:
                self._job_finished(job)

    def _job_finished(self, job: ListJob) -> None:
        name = job.spec.name
        self._jobs_left[name] -= 1
        if self._jobs_left[name] == 0 and name not in self._failed:
            self.progress.objects_done += 1

    def _fail_object(self, spec: ObjectSpec, exc: StripeRequestFailed | PermissionMissing) -> None:
        if spec.name in self._failed:
            return
        self._failed.add(spec.name)
        for job in self.jobs:
            if job.spec.name == spec.name:
                job.stopped = True
        self.progress.failed[spec.name] = exc.message
        self._queue.put_nowait((_FAILED, (spec, exc)))

    def _fatal_error(self, exc: Exception) -> None:
        if self._fatal is None:
            self._fatal = exc
        for job in self.jobs:
            job.stopped = True
        self._queue.put_nowait((_DONE, None))

    # -- one slice -----------------------------------------------------------------------------
    async def _read_slice(self, job: ListJob, piece: _Slice) -> None:
        """Read ``piece`` from its top down (its fall)."""
        spec = job.spec
        while not job.stopped and not piece.done:
            rise = piece.rise
            if rise is not None and piece.fall_waits(piece.seconds_per_record(job)):
                rise.landed.clear()
                await rise.landed.wait()
                continue
            # A place in the queue is held before asking, so that a page is handed on the
            # moment it is taken (the other end of the slice may finish it meanwhile).
            await self._room.acquire()
            handed = False
            try:
                # The lists with the most left go first when the key's budget is short, so
                # the longest is not left to finish alone at its endpoint's rate.
                page = await self.client.get_list(
                    job.path, {**job.params, **piece.query()}, priority=job.remaining(self._now)
                )
                if job.stopped or piece.done:
                    return
                first = piece.cursor is None
                before = piece.last_created
                piece.check(spec, page)
                new, met = piece.fall_new(page)
                # the time this page has read: from where the slice stood (its top at first)
                # to its last new record, or to the slice's bottom when it ends the slice, so
                # that a short or empty page counts the empty time it found
                top = before if before is not None else piece.lt
                if top is None and page:
                    top = page.created[0]
                bottom = page.created[new - 1] if new else top
                if not page.has_more and not met and piece.gte is not None:
                    bottom = piece.gte
                if top is not None and bottom is not None and top > bottom:
                    job.seconds += top - bottom
                    piece.seconds += top - bottom
                piece.records += new
                if page:
                    job.pages += 1
                    piece.cursor = page.ids[-1]
                    if first and piece.above is not None:
                        self._rise_from(job, piece, page)
                if new:
                    self._emit(job, page, 0, new)
                    handed = True
            finally:
                if not handed:
                    self._room.release()
            if met or not page.has_more:
                self._finish(job, piece)
                return
            self._split(job, piece, page.created[-1])

    def _rise_from(self, job: ListJob, piece: _Slice, page: ListPage) -> None:
        """``page`` is the first of ``piece``: its newest record is where the slice above
        starts being read from below too."""
        above = piece.above
        if above is None or above.done or above.rise is not None:
            return
        above.start_rise(page.ids[0], page.created[0], piece.gte)
        self._spawn(job, above, rise=True)

    async def _read_rise(self, job: ListJob, piece: _Slice) -> None:
        """Read ``piece`` from its bottom up (its rise) until it meets the fall."""
        spec = job.spec
        while not job.stopped and piece.rise_worth(piece.seconds_per_record(job)):
            await self._room.acquire()
            handed = False
            rise = piece.rise
            assert rise is not None
            try:
                rise.asking = True
                try:
                    page = await self.client.get_list(
                        job.path,
                        {**job.params, **piece.rise_query()},
                        priority=job.remaining(self._now),
                    )
                finally:
                    rise.asking = False
                    rise.landed.set()
                if job.stopped or piece.done:
                    return
                below = rise.top_created if rise.top_created is not None else rise.anchor_created
                start, met = piece.rise_take(spec, page)
                if page:
                    job.pages += 1
                if start < len(page):
                    covered = page.created[start] - below
                    job.seconds += covered
                    piece.seconds += covered
                    piece.records += len(page) - start
                    self._emit(job, page, start, len(page))
                    handed = True
            finally:
                if not handed:
                    self._room.release()
            if met or not page.has_more:
                self._finish(job, piece)
                return

    def _count(self, spec: ObjectSpec, records: ListPage) -> None:
        p = self.progress
        p.records += len(records)
        p.pages += 1
        p.records_by_object[spec.name] = p.records_by_object.get(spec.name, 0) + len(records)

    def _report(self) -> None:
        p = self.progress
        stats = self.client.stats
        requests, retries, limited = self._stats_at_start
        p.requests = stats.requests - requests
        p.retries = stats.retries - retries
        p.rate_limited = stats.rate_limited - limited
        p.elapsed = time.monotonic() - p.started
        p.slices_active = sum(j.active for j in self.jobs)
        p.expected_records = self.expected_records()
        if self._progress_cb is not None:
            self._progress_cb(p)

    def expected_records(self) -> int | None:
        """The records read plus those the unread time of each slice should hold at its
        density. Time older than the oldest record seen is not counted until a slice finds
        records there: a list open below is cut in halves, so where its records start is
        found in a few requests' time, and until then this is low rather than absurdly high
        (a guess down to 2010 at today's density)."""
        total = float(self.progress.records)
        seen = False
        for job in self.jobs:
            if job.lowest is None:
                continue
            seen = True
            # a window's lower end is known; a list open below starts where records were seen
            floor = job.lowest if self._first[0] is None else STRIPE_EPOCH
            for piece in job.reading.values():
                total += piece.unread(self._now, floor) / piece.seconds_per_record(job)
        return math.ceil(total) if seen else None

    # -- the consumer's side -------------------------------------------------------------------
    async def pages(
        self, on_error: ErrorCallback | None
    ) -> AsyncIterator[tuple[ObjectSpec, ListPage]]:
        gte, lt = self._first
        deferred: list[StripeRequestFailed | PermissionMissing] = []
        window = (gte, lt) if gte is not None and lt is not None else None
        for job in self.jobs:
            job.both_ways = self._slice_share is not None and window is not None
            piece = _Slice(gte=gte, lt=lt)
            self._spawn(job, piece)
            expected = self._expected_pages
            if not job.both_ways or window is None:
                continue
            if expected is not None and expected >= CUT_AT_ONCE_PAGES:
                # the pages are known from the last read: cut now, not after the first page
                job.cut = True
                density = (window[1] - window[0]) / (expected * PAGE_SIZE)
                self._cut_both_ways(job, piece, window[1], density)
            elif expected is None:
                # Nothing known: the newest part is read now, the rest is cut once its first
                # page says how dense it is (a window of under a page costs a request more).
                below = piece.cut_top(2 / (2 * COLD_PARTS - 1))
                if below is not None:
                    self._spawn(job, below)
        try:
            while True:
                kind, payload = await self._queue.get()
                if self._fatal is not None:
                    raise self._fatal
                if kind == _DONE:
                    if not self._tasks:
                        break
                elif kind == _FAILED:
                    spec, exc = payload
                    self._report()
                    if on_error is not None:
                        on_error(spec, exc)
                    else:
                        deferred.append(exc)
                else:
                    self._room.release()
                    spec, records = payload
                    if spec.name in self._failed:
                        continue
                    self._report()
                    yield spec, records
            self._report()
            if deferred:
                raise deferred[0]
        finally:
            await self._stop()

    async def _stop(self) -> None:
        for job in self.jobs:
            job.stopped = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def read_objects(
    client: SourceClient,
    specs: Iterable[ObjectSpec],
    *,
    params: Mapping[str, Any] | None = None,
    created_gte: int | None = None,
    created_lt: int | None = None,
    progress: ProgressCallback | None = None,
    on_error: ErrorCallback | None = None,
) -> AsyncIterator[tuple[ObjectSpec, ListPage]]:
    """Read several objects at once; yield ``(spec, page)`` as pages arrive.

    An object the key may not read (:class:`PermissionMissing`) or whose list fails
    (:class:`StripeRequestFailed`, :class:`CursorLoop`) stops alone: ``on_error(spec, error)``
    is called (pages of it already yielded are then incomplete: discard them) and the others
    continue. Without ``on_error`` the first such error is raised once the others are read.
    Errors of the key itself (authentication, rate limits, Stripe unavailable) stop everything.
    """
    reader = _Reader(
        client,
        specs,
        params=params,
        created_gte=created_gte,
        created_lt=created_lt,
        progress=progress,
        per_object_errors=True,
    )
    async for item in reader.pages(on_error):
        yield item


async def read_object(
    client: SourceClient,
    spec: ObjectSpec,
    *,
    params: Mapping[str, Any] | None = None,
    created_gte: int | None = None,
    created_lt: int | None = None,
    progress: ProgressCallback | None = None,
    slice_share: float | None = None,
    expected_pages: int | None = None,
) -> AsyncIterator[ListPage]:
    """Every record of one object (all its list variants) exactly once, page by page.

    ``params`` are extra list filters (e.g. ``{"customer": "cus_…"}``); ``created_gte`` and
    ``created_lt`` bound the read to ``[created_gte, created_lt)``. ``slice_share`` caps the
    parts read at once so the requests stay within that share above the fewest (a live
    load's reads; a refresh leaves it unset: speed first), ``expected_pages`` the pages the
    same read took before, if known. Any error is raised.
    """
    reader = _Reader(
        client,
        [spec],
        params=params,
        created_gte=created_gte,
        created_lt=created_lt,
        progress=progress,
        per_object_errors=False,
        slice_share=slice_share,
        expected_pages=expected_pages,
    )
    async for _, records in reader.pages(None):
        yield records
