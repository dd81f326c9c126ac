"""One live fetch under way, and the loads that write its pages into their tables as they come.

A :class:`Flight` is one Stripe list being read. It keeps the pages read so far (each object's
JSON text and id) and wakes whoever waits each time a page arrives, so every load sharing the
fetch — the charts of one dashboard, or two people opening it at once — gets every page, from
the first, without a second request.

A :class:`Sink` is one dataset of one load: its in-memory table, filled page batch by page batch
while the reads go on (the flattening overlaps the reading instead of starting after the last
page). When a dataset has several reads in one load (a small filtered read kept apart so its
chart is drawn early, and the whole list), an object the table already holds is not added
twice. The table is sealed when its last read is in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flitch.catalog import ObjectSpec
from flitch.store import MemoryDatasets
from flitch.store.loading import ArrowDatasetWriter
from flitch.store.schema import RawJSON

if TYPE_CHECKING:
    from flitch.query.live import ReadState
    from flitch.stripe_source.pages import ListPage


#: Objects written to a table at once while its read goes on (bench_live_dashboards at 3,000
#: customers: 18,112 invoices took 10.5 s in writes of 100, 3.4 s of 2,000, 2.6 s in one).
BATCH_OBJECTS = 2_000


@dataclass
class Flight:
    """One fetch under way: its progress, its pages so far, and how many loads wait for it."""

    state: ReadState
    task: asyncio.Task[None] | None = None
    waiters: int = 0
    #: each object's JSON text as Stripe sent it, and its id, in arrival order
    raw: list[bytes] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    _grew: asyncio.Event = field(default_factory=asyncio.Event)
    _seen: set[str] | None = None

    def add(self, raw: Sequence[bytes], ids: Sequence[str]) -> None:
        if self._seen is not None:  # read again after a shared read stopped: only what is new
            keep = [i for i, object_id in enumerate(ids) if object_id not in self._seen]
            raw = [raw[i] for i in keep]
            ids = [ids[i] for i in keep]
            self._seen.update(ids)
        self.raw.extend(raw)
        self.ids.extend(ids)
        self.wake()

    def count(self, page: ListPage) -> None:
        """One more page read: counted in the progress, its objects added."""
        self.state.count(page)
        self.add(page.raw_json(), page.ids)

    def resume(self) -> None:
        """The pages so far stay; from now on an object already here is not added again."""
        self._seen = set(self.ids)

    def wake(self) -> None:
        """Tell every waiting load that there is news (a page, or the end)."""
        grew, self._grew = self._grew, asyncio.Event()
        grew.set()

    def leave(self) -> None:
        """One load waits no more; the fetch is cancelled when it was the last."""
        self.waiters -= 1
        if self.waiters <= 0 and self.task is not None and not self.task.done():
            self.task.cancel()  # nobody waits: stop its requests now

    async def pour(self, sink: Sink) -> None:
        """Write every page of this fetch into ``sink`` as it arrives (those already read
        first); return once the fetch is complete, raise its error if it failed. The caller
        was counted in ``waiters`` when it joined; this counts it out (``leave``)."""
        task = self.task
        assert task is not None
        taken = 0
        try:
            while True:
                news = self._grew
                end = len(self.raw)
                # a write costs tens of milliseconds whatever its size: objects go in batches
                # of at least BATCH_OBJECTS (what came meanwhile, if more), the rest at the end
                if end - taken >= BATCH_OBJECTS or (end > taken and task.done()):
                    await asyncio.to_thread(sink.add, self.raw[taken:end], self.ids[taken:end])
                    taken = end
                    continue
                if task.done():
                    task.result()  # the read's error, if it failed
                    return
                await news.wait()
        finally:
            self.leave()


class Sink:
    """One dataset of a load, written as its pages come (see the module docstring)."""

    def __init__(self, datasets: MemoryDatasets, spec: ObjectSpec, reads: int) -> None:
        self._writer: ArrowDatasetWriter = datasets.replace_dataset(spec)
        self._left = reads
        #: ids already in the table, kept only when several reads fill it
        self._held: set[str] | None = set() if reads > 1 else None

    def add(self, raw: Sequence[bytes], ids: Sequence[str]) -> None:
        held = self._held
        if held is not None:
            keep = [i for i, object_id in enumerate(ids) if object_id not in held]
            if len(keep) < len(raw):
                raw = [raw[i] for i in keep]
                ids = [ids[i] for i in keep]
            held.update(ids)
        if raw:
            self._writer.add_page(RawJSON(raw))

    def read_done(self) -> bool:
        """One read of the dataset is in; True (and the table sealed) when it was the last."""
        self._left -= 1
        if self._left > 0:
            return False
        self._writer.finish()
        self._held = None
        return True
