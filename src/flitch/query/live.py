"""Live reads: fetch datasets from Stripe at the moment they are asked for.

``LiveFetcher`` keeps one paced client per connection (so every live query of a connection shares
the key's rate budget) and makes identical reads that overlap in time share one fetch: several
charts of one dashboard, or several users loading it at once, cost one read of each list. A fetch
is forgotten as soon as it completes — live means live, and nothing is kept after the answer but
how many pages it took, which is what the next load of the same read is estimated from.

A fetch runs for as long as someone waits for it: when every load that asked for it is
cancelled (the page was left, the range changed, the terminal closed), its Stripe requests stop
at once rather than spend the key's budget on an answer nobody will see.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flitch import clock as clocks
from flitch.cache_location import CacheLocation
from flitch.config import Settings
from flitch.keys import RestrictedKey
from flitch.metadb import Database
from flitch.query.flight import Flight, Sink
from flitch.query.page_counts import PageCounts
from flitch.query.reads import DatasetRead
from flitch.query.shared_spools import FolderSpools
from flitch.query.spool import Lease, SharedReads, Spools, spool_key
from flitch.store import MemoryDatasets
from flitch.stripe_source.client import SourceClient, open_client
from flitch.stripe_source.pages import ListPage
from flitch.stripe_source.reader import PAGE_SIZE, read_object

DAY = 86_400
#: A live read is cut into parts read at once so that its requests stay within this share
#: above the fewest (each part ends on a short page); see ``read_object``.
SLICE_SHARE = 0.1
#: Times a read looks for another process's lease or takes its own before reading alone.
FOLLOW_TRIES = 20


@dataclass
class ReadState:
    """How far one read has come: what a chart waiting for it shows."""

    read: DatasetRead
    pages: int = 0
    records: int = 0
    done: bool = False
    #: pages the same read took last time (any process of the install), if it was made before
    last_pages: int | None = None
    #: the newest and oldest ``created`` seen so far (a ranged read's density)
    newest: int | None = None
    oldest: int | None = None
    #: the records the reader expects the whole read to hold, from what it has seen
    reader_expects: int | None = None

    def count(self, page: ListPage) -> None:
        self.pages += 1
        self.records += len(page)
        times = [t for t in page.created if t is not None]
        if times:
            self.newest = max(times) if self.newest is None else max(self.newest, *times)
            self.oldest = min(times) if self.oldest is None else min(self.oldest, *times)

    def expected_pages(self, now: float | None = None) -> int | None:
        """Pages the read should take in all: exact once done; else what it took last time;
        else what the reader expects from its slices' densities over the time they have not
        read; else, for a ranged read, the density of what was read so far over the whole
        range (``None``: not known yet)."""
        if self.done:
            return self.pages
        if self.last_pages is not None:
            return max(self.last_pages, self.pages)
        read = self.read
        variants = len(read.spec.list_variants)
        if self.reader_expects is not None:
            # what the reader's slices say of the time they have not read, each at its density
            return max(self.pages, math.ceil(self.reader_expects / PAGE_SIZE) + variants - 1)
        if read.created_gte is None or self.newest is None or self.oldest is None:
            return None
        top = read.created_lt if read.created_lt is not None else int(now or clocks.now())
        seen = max(self.newest - self.oldest, 1)
        if self.records < PAGE_SIZE:
            return max(self.pages, 1)
        density = self.records / seen
        total = density * max(top - read.created_gte, 0) / PAGE_SIZE + variants
        return max(self.pages, math.ceil(total))

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.read.dataset,
            "read": self.read.describe(),
            "pages": self.pages,
            "records": self.records,
            "done": self.done,
            "expected_pages": self.expected_pages(),
        }


def shape(read: DatasetRead) -> tuple[Any, ...]:
    """What makes two reads cost alike: the list, its filters and which bounds it has, and a
    range's length in days (a 30-day window read again tomorrow costs what it did today)."""
    span = None
    if read.created_gte is not None and read.created_lt is not None:
        span = (read.created_lt - read.created_gte) // DAY
    return (read.dataset, read.filters, read.created_gte is None, read.created_lt is None, span)


def ceiling_seconds(pages: Mapping[str, int], *, endpoint_rate: float, global_rate: float) -> float:
    """The shortest time Stripe's limits allow for these pages (by dataset, each its own
    endpoint): the larger of all of them at the key's rate and the longest list at its
    endpoint's rate."""
    if not pages:
        return 0.0
    total = sum(pages.values())
    return max(total / global_rate, max(pages.values()) / endpoint_rate)


@dataclass(frozen=True)
class LiveLoad:
    """Datasets fetched for one load, and the Stripe requests the connection made meanwhile."""

    datasets: MemoryDatasets
    #: requests this connection's client sent while the load ran (a concurrent load of the same
    #: connection is counted in both; a read that joined another's fetch costs nothing)
    requests: int


@dataclass
class LiveStream:
    """A live load whose datasets become queryable one by one (``arrivals``)."""

    datasets: MemoryDatasets
    states: list[ReadState]
    client: SourceClient
    requests_before: int

    @property
    def requests(self) -> int:
        return self.client.stats.requests - self.requests_before


def _sinks(datasets: MemoryDatasets, reads: Sequence[DatasetRead]) -> dict[str, Sink]:
    """A table for each dataset of ``reads``, told how many of them fill it."""
    counts = Counter(read.dataset for read in reads)
    first = {read.dataset: read.spec for read in reads}
    return {name: Sink(datasets, spec, counts[name]) for name, spec in first.items()}


@dataclass
class _Joined:
    """One read of a load: the fetch it joined and the table its pages go to."""

    flight: Flight
    sink: Sink
    entered: bool = False

    async def arrive(self) -> DatasetRead:
        self.entered = True
        await self.flight.pour(self.sink)
        await asyncio.to_thread(self.sink.read_done)
        return self.flight.state.read


class LiveFetcher:
    """Fetches datasets live; one client per connection; identical in-flight reads shared."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        #: the metadata database: page counts, and leases of reads shared across machines
        self.db = db
        self._clients: dict[str, tuple[str, SourceClient]] = {}
        self._inflight: dict[tuple[str, DatasetRead], Flight] = {}
        #: pages each shape of read took last time, by connection (``query.page_counts``)
        self._pages = PageCounts(db)
        self._spool_folder: SharedReads | None = None

    def _client(self, connection_id: str, key: RestrictedKey) -> SourceClient:
        held = self._clients.get(connection_id)
        # a new key (update-key) gets a new client; the fingerprint is the masked form
        if held is None or held[0] != key.masked:
            client = open_client(key, self.settings)
            self._clients[connection_id] = (key.masked, client)
            if held is not None:
                asyncio.get_running_loop().create_task(held[1].aclose())
            return client
        return held[1]

    def rates(self, connection_id: str) -> tuple[float, float] | None:
        """The (endpoint, key) rates a connection's client is paced to, once it has one."""
        held = self._clients.get(connection_id)
        if held is None:
            return None
        pacer = held[1].pacer
        return pacer.endpoint_rate, pacer.global_bucket.rate

    def state(self, connection_id: str, read: DatasetRead) -> ReadState:
        """How far the fetch of ``read`` has come (a fresh state if none is under way)."""
        flight = self._inflight.get((connection_id, read))
        if flight is not None:
            return flight.state
        return ReadState(read, last_pages=self._pages.get((connection_id, shape(read))))

    def _join(
        self, connection_id: str, key_of: Callable[[], RestrictedKey], read: DatasetRead
    ) -> Flight:
        """The fetch of ``read`` under way, or a new one, counting one more load waiting for
        it (``Flight.pour`` counts it out)."""
        key = (connection_id, read)
        flight = self._inflight.get(key)
        if flight is None:
            client = self._client(connection_id, key_of())
            flight = Flight(self.state(connection_id, read))
            task = asyncio.get_running_loop().create_task(self._read(client, flight, connection_id))
            flight.task = task
            self._inflight[key] = flight

            def finished(done: asyncio.Task[None], flight: Flight = flight) -> None:
                if self._inflight.get(key) is flight:
                    del self._inflight[key]
                if not done.cancelled() and done.exception() is None:
                    self._pages.record((connection_id, shape(read)), flight.state.pages)
                flight.wake()

            task.add_done_callback(finished)
        flight.waiters += 1
        return flight

    async def _read(self, client: SourceClient, flight: Flight, connection_id: str) -> None:
        """Read ``flight``'s list: from Stripe, or — in server mode, when another process of
        this install is reading it — from that process's spool (``query.spool``)."""
        spools = self._spools()
        if spools is None:
            await self._fetch(client, flight, None)
            return
        key = spool_key(connection_id, flight.state.read)
        for _ in range(FOLLOW_TRIES):
            lease = await spools.take(key)
            if lease is not None:
                complete = False
                try:
                    await self._fetch(client, flight, lease)
                    complete = True
                finally:
                    lease.end(complete=complete)
                return
            if await spools.follow(key, flight.count):
                flight.state.done = True
                return
            flight.resume()  # what was followed stays; reading again adds only the rest
            await asyncio.sleep(0.05)
        await self._fetch(client, flight, None)

    async def _fetch(self, client: SourceClient, flight: Flight, lease: Lease | None) -> None:
        state = flight.state
        read = state.read
        async for page in read_object(
            client,
            read.spec,
            params=read.params or None,
            created_gte=read.created_gte,
            created_lt=read.created_lt,
            slice_share=SLICE_SHARE,
            expected_pages=state.last_pages,
            progress=lambda p: setattr(state, "reader_expects", p.expected_records),
        ):
            flight.count(page)  # the store flattens the text: none decoded
            if lease is not None:
                lease.page(page)
        state.done = True

    def _spools(self) -> SharedReads | None:
        """Where reads are shared with other processes: server mode only; one process shares
        them in memory. Replicas of one ``FLITCH_HOME`` share them through its ``live`` folder
        (``flock``); with ``FLITCH_CACHE_URL`` (replicas on several machines), through leases
        in the metadata database and spools in that folder (``query.shared_spools``)."""
        if not self.settings.refresh_workers:
            return None
        if self._spool_folder is None:
            where = CacheLocation.of(Path(self.settings.home), self.settings.cache_url)
            if where.versioned and self.db is not None:
                self._spool_folder = FolderSpools(self.db, where.root / "live")
            else:
                self._spool_folder = Spools(Path(self.settings.home) / "live")
        return self._spool_folder

    async def load(
        self,
        connection_id: str,
        key_of: Callable[[], RestrictedKey],
        reads: Sequence[DatasetRead],
    ) -> LiveLoad:
        """Fetch ``reads`` concurrently into a fresh in-memory set of datasets."""
        stream = self.stream(connection_id, key_of, reads)
        try:
            async for _ in self.arrivals(connection_id, key_of, stream):
                pass
        except BaseException:
            await asyncio.to_thread(stream.datasets.close)
            raise
        return LiveLoad(stream.datasets, stream.requests)

    def stream(
        self,
        connection_id: str,
        key_of: Callable[[], RestrictedKey],
        reads: Sequence[DatasetRead],
    ) -> LiveStream:
        """An empty in-memory set of datasets for ``reads`` and how far each read has come;
        ``arrivals`` then fetches them, writing each page into its table as it comes."""
        client = self._client(connection_id, key_of())
        states = [self.state(connection_id, r) for r in reads]
        # every batch of pages is written at once: the writes overlap the reads
        return LiveStream(MemoryDatasets(batch_rows=1), states, client, client.stats.requests)

    async def arrivals(
        self, connection_id: str, key_of: Callable[[], RestrictedKey], stream: LiveStream
    ) -> AsyncGenerator[DatasetRead]:
        """Fetch the stream's reads at once, writing their pages into the tables as they come,
        and yield each read once it is complete and queryable (the quickest first; a dataset
        with several reads is queryable for each of them as it completes, and sealed with its
        last). Closing the iterator early cancels the reads still under way."""
        loop = asyncio.get_running_loop()
        reads = [state.read for state in stream.states]
        flights: list[Flight] = []
        joined: list[_Joined] = []
        tasks: list[asyncio.Task[DatasetRead]] = []
        try:
            # the reads start first; their tables are made while the first pages come
            for i, read in enumerate(reads):
                flights.append(self._join(connection_id, key_of, read))
                stream.states[i] = flights[-1].state  # a joined fetch: its progress is ours
            sinks = await asyncio.to_thread(_sinks, stream.datasets, reads)
            for flight, read in zip(flights, reads, strict=True):
                joined.append(_Joined(flight, sinks[read.dataset]))
                tasks.append(loop.create_task(joined[-1].arrive()))
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for k, flight in enumerate(flights):
                if k >= len(joined) or not joined[k].entered:  # never began: count it out
                    flight.leave()

    async def aclose(self) -> None:
        await self._pages.flush()
        clients = [c for _, c in self._clients.values()]
        self._clients.clear()
        for client in clients:
            await client.aclose()
