"""A virtual clock for exact, instant tests of pacing: time moves only when every task waits."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import Any


class VirtualClock:
    """``now()`` and ``sleep()`` on virtual time; :meth:`run` drives tasks to completion."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + seconds, next(self._seq), future))
        await future

    async def _settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def run(self, *coros: Awaitable[Any]) -> list[Any]:
        """Run coroutines together, advancing time to the next wake-up whenever all wait."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            await self._settle()
            if all(t.done() for t in tasks):
                break
            while self._sleepers and self._sleepers[0][2].cancelled():
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                raise RuntimeError("deadlock: every task waits and nobody sleeps")
            wake, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, wake)
            future.set_result(None)
        return [t.result() for t in tasks]


def run_virtual(clock: VirtualClock, *coros: Awaitable[Any]) -> list[Any]:
    async def main() -> list[Any]:
        return await clock.run(*coros)

    return asyncio.run(main())
