"""Small helpers for the stripe_source tests: hand-built accounts served by the real emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flitch.config import Settings
from flitch.emulator.server import Emulator, EmulatorConfig
from flitch.emulator.store import Account
from flitch.keys import parse_key
from flitch.stripe_source.client import SourceClient, open_client
from flitch.stripe_source.pacing import Backoff

T = TypeVar("T")

#: Retries in tests wait milliseconds, not seconds.
FAST_BACKOFF = Backoff(base=0.01, cap=0.05, floor=0.0)


@contextmanager
def serving(account: Account, **config: Any) -> Iterator[Emulator]:
    """The emulator serving ``account`` with ``config`` (no limits unless given)."""
    options: dict[str, Any] = {"live_rps": None, "test_rps": None, "endpoint_rps": None}
    options.update(config)
    with Emulator(account, EmulatorConfig(**options)) as emulator:
        yield emulator


def client_for(
    emulator: Emulator, key: str, *, backoff: Backoff | None = FAST_BACKOFF, **settings: Any
) -> SourceClient:
    return open_client(
        parse_key(key), Settings(stripe_api_base=emulator.url, **settings), backoff=backoff
    )


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro_fn()

    return asyncio.run(main())


async def collect(pages: AsyncIterator[list[dict[str, Any]]]) -> list[str]:
    ids: list[str] = []
    async for page in pages:
        ids.extend(obj["id"] for obj in page)
    return ids


def put_customers(account: Account, created: list[int], *, live: bool = False) -> list[str]:
    """Customers created at the given seconds; returns their ids."""
    store = account.mode(live)
    ids = []
    for i, when in enumerate(created):
        object_id = f"cus_{'L' if live else 'T'}{i:09d}"
        store.put({"id": object_id, "object": "customer", "created": when, "livemode": live})
        ids.append(object_id)
    return ids
