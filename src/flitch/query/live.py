"""Live reads: fetch datasets from Stripe at the moment they are asked for.

``LiveFetcher`` keeps one paced client per connection (so every live query of a connection shares
the key's rate budget) and makes identical reads that overlap in time share one fetch: several
charts of one dashboard, or several users loading it at once, cost one read of each list. A fetch
is forgotten as soon as it completes — live means live, and nothing is kept after the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flitch.config import Settings
from flitch.keys import RestrictedKey
from flitch.query.reads import DatasetRead
from flitch.store import MemoryDatasets
from flitch.store.schema import RawJSON
from flitch.stripe_source.client import SourceClient, open_client
from flitch.stripe_source.reader import read_object


@dataclass(frozen=True)
class Fetched:
    """The objects one read returned; ``shared`` when it joined a fetch already under way."""

    read: DatasetRead
    #: the objects as Stripe sent them (JSON text, one per object)
    objects: RawJSON
    shared: bool = False


@dataclass(frozen=True)
class LiveLoad:
    """Datasets fetched for one load, and the Stripe requests the connection made meanwhile."""

    datasets: MemoryDatasets
    fetched: list[Fetched]
    #: requests this connection's client sent while the load ran (a concurrent load of the same
    #: connection is counted in both; a read that joined another's fetch costs nothing)
    requests: int


class LiveFetcher:
    """Fetches datasets live; one client per connection; identical in-flight reads shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, tuple[str, SourceClient]] = {}
        self._inflight: dict[tuple[str, DatasetRead], asyncio.Task[Fetched]] = {}

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

    async def fetch(
        self, connection_id: str, key_of: Callable[[], RestrictedKey], read: DatasetRead
    ) -> Fetched:
        """The objects of ``read``; joins an identical fetch already under way."""
        flight = (connection_id, read)
        task = self._inflight.get(flight)
        if task is not None:
            done = await asyncio.shield(task)
            return Fetched(done.read, done.objects, shared=True)
        client = self._client(connection_id, key_of())
        task = asyncio.get_running_loop().create_task(self._read(client, read))
        self._inflight[flight] = task
        task.add_done_callback(lambda _t: self._inflight.pop(flight, None))
        return await asyncio.shield(task)

    async def _read(self, client: SourceClient, read: DatasetRead) -> Fetched:
        raw: list[bytes] = []
        async for page in read_object(
            client,
            read.spec,
            params=read.params or None,
            created_gte=read.created_gte,
            created_lt=read.created_lt,
        ):
            raw.extend(page.raw_json())  # the store flattens the text: no object decoded
        return Fetched(read, RawJSON(raw))

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

    async def aclose(self) -> None:
        clients = [c for _, c in self._clients.values()]
        self._clients.clear()
        for client in clients:
            await client.aclose()
