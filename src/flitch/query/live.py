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
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flitch import clock as clocks
from flitch.config import Settings
from flitch.keys import RestrictedKey
from flitch.query.reads import DatasetRead
from flitch.store import MemoryDatasets
from flitch.store.schema import RawJSON
from flitch.stripe_source.client import SourceClient, open_client
from flitch.stripe_source.pages import ListPage
from flitch.stripe_source.reader import PAGE_SIZE, read_object

DAY = 86_400


@dataclass(frozen=True)
class Fetched:
    """The objects one read returned; ``shared`` when it joined a fetch already under way."""

    read: DatasetRead
    #: the objects as Stripe sent them (JSON text, one per object)
    objects: RawJSON
    shared: bool = False
    #: the pages it took (counted once, by the fetch that made them)
    pages: int = 0


@dataclass
class ReadState:
    """How far one read has come: what a chart waiting for it shows."""

    read: DatasetRead
    pages: int = 0
    records: int = 0
    done: bool = False
    #: pages the same read took last time (this process), if it was made before
    last_pages: int | None = None
    #: the newest and oldest ``created`` seen so far (a ranged read's density)
    newest: int | None = None
    oldest: int | None = None

    def count(self, page: ListPage) -> None:
        self.pages += 1
        self.records += len(page)
        times = [t for t in page.created if t is not None]
        if times:
            self.newest = max(times) if self.newest is None else max(self.newest, *times)
            self.oldest = min(times) if self.oldest is None else min(self.oldest, *times)

    def expected_pages(self, now: float | None = None) -> int | None:
        """Pages the read should take in all: exact once done; else what it took last time;
        else, for a ranged read, the density of what was read so far over the whole range
        (``None``: not known yet)."""
        if self.done:
            return self.pages
        if self.last_pages is not None:
            return max(self.last_pages, self.pages)
        read = self.read
        if read.created_gte is None or self.newest is None or self.oldest is None:
            return None
        top = read.created_lt if read.created_lt is not None else int(now or clocks.now())
        seen = max(self.newest - self.oldest, 1)
        if self.records < PAGE_SIZE:
            return max(self.pages, 1)
        density = self.records / seen
        variants = len(read.spec.list_variants)
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


@dataclass
class _Flight:
    """One fetch under way, and how many loads wait for it."""

    state: ReadState
    task: asyncio.Task[Fetched] | None = None
    waiters: int = 0


@dataclass(frozen=True)
class LiveLoad:
    """Datasets fetched for one load, and the Stripe requests the connection made meanwhile."""

    datasets: MemoryDatasets
    fetched: list[Fetched]
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
    fetched: list[Fetched] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.client.stats.requests - self.requests_before


class LiveFetcher:
    """Fetches datasets live; one client per connection; identical in-flight reads shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, tuple[str, SourceClient]] = {}
        self._inflight: dict[tuple[str, DatasetRead], _Flight] = {}
        #: pages each shape of read took last time, by connection
        self._pages: dict[tuple[str, tuple[Any, ...]], int] = {}

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

    async def fetch(
        self, connection_id: str, key_of: Callable[[], RestrictedKey], read: DatasetRead
    ) -> Fetched:
        """The objects of ``read``; joins an identical fetch already under way. The fetch is
        cancelled when the last caller waiting for it is."""
        return await self._wait(*self._join(connection_id, key_of, read))

    def _join(
        self, connection_id: str, key_of: Callable[[], RestrictedKey], read: DatasetRead
    ) -> tuple[_Flight, bool]:
        """The fetch of ``read`` under way (``True``: joined), or a new one, counting one more
        caller waiting for it (``_wait`` counts it out)."""
        key = (connection_id, read)
        flight = self._inflight.get(key)
        shared = flight is not None
        if flight is None:
            client = self._client(connection_id, key_of())
            flight = _Flight(self.state(connection_id, read))
            task = asyncio.get_running_loop().create_task(self._read(client, flight.state))
            flight.task = task
            self._inflight[key] = flight

            def finished(done: asyncio.Task[Fetched], flight: _Flight = flight) -> None:
                if self._inflight.get(key) is flight:
                    del self._inflight[key]
                if not done.cancelled() and done.exception() is None:
                    self._pages[(connection_id, shape(read))] = flight.state.pages

            task.add_done_callback(finished)
        flight.waiters += 1
        return flight, shared

    async def _wait(self, flight: _Flight, shared: bool) -> Fetched:
        assert flight.task is not None
        try:
            done = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()  # nobody else waits: stop its requests now
            raise
        finally:
            flight.waiters -= 1
        if shared:
            return Fetched(done.read, done.objects, shared=True)
        return done

    async def _read(self, client: SourceClient, state: ReadState) -> Fetched:
        read = state.read
        raw: list[bytes] = []
        async for page in read_object(
            client,
            read.spec,
            params=read.params or None,
            created_gte=read.created_gte,
            created_lt=read.created_lt,
        ):
            state.count(page)
            raw.extend(page.raw_json())  # the store flattens the text: no object decoded
        state.done = True
        return Fetched(read, RawJSON(raw), pages=state.pages)

    async def load(
        self,
        connection_id: str,
        key_of: Callable[[], RestrictedKey],
        reads: Sequence[DatasetRead],
    ) -> LiveLoad:
        """Fetch ``reads`` concurrently into a fresh in-memory set of datasets."""
        client = self._client(connection_id, key_of())
        before = client.stats.requests
        fetched = await asyncio.gather(*(self.fetch(connection_id, key_of, r) for r in reads))
        requests = client.stats.requests - before
        memory = MemoryDatasets()
        try:
            for item in fetched:
                memory.load(item.read.spec, item.objects)
        except BaseException:
            memory.close()
            raise
        return LiveLoad(memory, list(fetched), requests)

    def stream(
        self,
        connection_id: str,
        key_of: Callable[[], RestrictedKey],
        reads: Sequence[DatasetRead],
    ) -> LiveStream:
        """An empty in-memory set of datasets for ``reads`` and how far each read has come;
        ``arrivals`` then fetches them and loads each the moment it is read."""
        client = self._client(connection_id, key_of())
        states = [self.state(connection_id, r) for r in reads]
        return LiveStream(MemoryDatasets(), states, client, client.stats.requests)

    async def arrivals(
        self, connection_id: str, key_of: Callable[[], RestrictedKey], stream: LiveStream
    ) -> AsyncGenerator[DatasetRead]:
        """Fetch the stream's reads at once and yield each as soon as its dataset is loaded
        (the quickest first). Closing the iterator early cancels the reads still under way."""
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[Fetched]] = []
        for i, state in enumerate(stream.states):
            flight, shared = self._join(connection_id, key_of, state.read)
            stream.states[i] = flight.state  # a joined fetch: its progress is ours
            tasks.append(loop.create_task(self._wait(flight, shared)))
        try:
            for next_done in asyncio.as_completed(tasks):
                item = await next_done
                await asyncio.to_thread(stream.datasets.load, item.read.spec, item.objects)
                stream.fetched.append(item)
                yield item.read
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        clients = [c for _, c in self._clients.values()]
        self._clients.clear()
        for client in clients:
            await client.aclose()
