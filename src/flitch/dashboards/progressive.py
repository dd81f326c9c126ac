"""A live dashboard drawn as its reads arrive: each chart the moment its own data is in.

``stream_board`` turns a :class:`~flitch.query.engine.Streamed` load into events a page or a
terminal can draw as they come (each a JSON-ready dict with an ``event``):

- ``plan``: every chart with the datasets it waits for, every read with its pages so far and
  the pages expected (the last load of the same read, or the density of what was read so far),
  and the estimate of the whole load (pages, and seconds at the key's limits);
- ``progress``: the reads again, every ``tick`` seconds until the dashboard is complete (the
  page's live progress; also what lets a server notice a reader that left);
- ``chart``: one chart's JSON, exactly as the complete answer holds it;
- ``done``: the complete answer, the same JSON ``GET …/dashboards/{name}`` answers.

Charts are drawn ``WORKERS`` at a time as their datasets arrive, numbers first. Leaving the
iteration early (a closed page, a new range, Ctrl-C) cancels the reads still under way.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

from flitch.dashboards import reporting as reporting_currency
from flitch.dashboards.evaluate import WORKERS, BoardEvaluation
from flitch.dashboards.model import Chart, Dashboard
from flitch.dashboards.period import Period
from flitch.dashboards.plan import chart_needs, chart_waits, first_order, ready
from flitch.metrics.series import Grain
from flitch.query.engine import Streamed
from flitch.query.reads import DatasetRead

#: Seconds between two progress events.
TICK = 0.25
#: A live load expected to take longer than this is announced as long (the page offers
#: turning refresh on).
LONG_SECONDS = 20.0


#: An estimate made while reading (no read's pages known from before) is called long only
#: once it has said so for this long: a page of records created in a burst (month-start
#: invoicing, an import) looks, for a moment, like a dense list, until the next pages show
#: the gaps around it.
LONG_CONFIRM_SECONDS = 1.0


class LongLoad:
    """Whether to call a load long, tick after tick: at once when its estimate comes from the
    pages its reads took before, after LONG_CONFIRM_SECONDS of saying so when it is made
    while reading."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._since: float | None = None

    def judge(self, streamed: Streamed, said: dict[str, Any]) -> dict[str, Any]:
        if not said["long"]:
            self._since = None
            return said
        if all(s.last_pages is not None or s.done for s in streamed.states):
            return said
        now = self._clock()
        if self._since is None:
            self._since = now
        return {**said, "long": now - self._since >= LONG_CONFIRM_SECONDS}


def estimate(streamed: Streamed) -> dict[str, Any]:
    """The whole load's expected pages and seconds at the key's limits (``None``: unknown,
    some read has never been made and has no range to guess it from)."""
    pages: dict[str, int] = {}
    known = True
    for state in streamed.states:
        expected = state.expected_pages()
        if expected is None:
            known = False
            continue
        # two reads of one list (one read first) add up on its endpoint
        pages[state.read.dataset] = pages.get(state.read.dataset, 0) + expected
    seconds = streamed.ceiling(pages) if known else None
    return {
        "pages": sum(pages.values()) if known else None,
        "seconds": None if seconds is None else math.ceil(seconds * 10) / 10,
        "long": seconds is not None and seconds > LONG_SECONDS,
    }


def _waited_reads(needs: Sequence[DatasetRead], streamed: Streamed) -> list[int]:
    """The positions in the load's reads of those a chart waits for: for each read it needs,
    one that covers it, one made first if there is one (the chart is drawn when it is in)."""
    reads = [state.read for state in streamed.states]
    picked: list[int] = []
    for need in needs:
        covering = [i for i, read in enumerate(reads) if read.covers(need)]
        covering.sort(key=lambda i: not reads[i].early)
        if covering and covering[0] not in picked:
            picked.append(covering[0])
    return sorted(picked)


def _reads(streamed: Streamed) -> list[dict[str, Any]]:
    return [state.to_dict() for state in streamed.states]


async def stream_board(
    streamed: Streamed,
    dashboard: Dashboard,
    period: Period,
    *,
    grain: Grain | None = None,
    currency: str | None = None,
    skip: Mapping[str, Mapping[str, str]] | None = None,
    header: Mapping[str, Any] | None = None,
    tick: float = TICK,
    reporting: str | None = None,
) -> AsyncGenerator[dict[str, Any]]:
    """The events of one dashboard load (see the module docstring); ``header`` goes at the
    top of ``plan`` and ``done`` (the connection, say). Closes ``streamed.loaded`` when done.
    ``reporting``: ``done`` has its money in that currency (its ``chart`` events do not: the
    rates are known once every read is in)."""
    loaded = streamed.loaded
    board = BoardEvaluation(loaded, dashboard, period, grain=grain, currency=currency, skip=skip)
    needs: dict[str, frozenset[str]] = {c.id: chart_needs(c, board.drawn) for c in board.drawn}
    waits = {c.id: chart_waits(c, board.drawn, period) for c in board.drawn}
    shown = {c.id: _waited_reads(waits[c.id], streamed) for c in board.drawn}
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="dashboard")
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    arrived: list[DatasetRead] = []
    begun: set[str] = set()
    done: dict[str, dict[str, Any]] = {}

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    def finished(chart: Chart, job: Future[dict[str, Any]]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ("chart", (chart, job)))

    def begin_ready() -> None:
        for chart in first_order([c for c in board.drawn if c.id not in begun]):
            if ready(waits[chart.id], arrived):
                begun.add(chart.id)
                job = pool.submit(board.chart, chart)
                job.add_done_callback(partial(finished, chart))

    async def feed() -> None:
        try:
            async for read in streamed.arrivals():
                queue.put_nowait(("ready", read))
        except Exception as exc:  # handed to the consumer, who raises it
            queue.put_nowait(("failed", exc))
        else:
            queue.put_nowait(("arrived", None))

    feeder = loop.create_task(feed())
    try:
        yield {
            "event": "plan",
            **(header or {}),
            "source": loaded.provenance.source,
            "period": {**period.to_dict(), "grain": board.ev.grain.value},
            "currency": board.ev.currency,
            "reads": _reads(streamed),
            "estimate": estimate(streamed),
            "charts": [
                {
                    "id": c.id,
                    "title": c.title,
                    "type": c.type.value,
                    "waiting": sorted(needs.get(c.id, ())),
                    # which of ``reads`` it waits for (a narrow read made first, if one will do)
                    "reads": shown.get(c.id, []),
                }
                for c in dashboard.charts
            ],
        }
        begin_ready()
        complete = False
        long_load = LongLoad()
        last_tick = time.perf_counter()
        while not complete or len(done) < len(board.drawn):
            wait = max(0.0, last_tick + tick - time.perf_counter())
            try:
                kind, payload = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                last_tick = time.perf_counter()
                yield {
                    "event": "progress",
                    "reads": _reads(streamed),
                    "estimate": long_load.judge(streamed, estimate(streamed)),
                    "elapsed_ms": elapsed(),
                }
                continue
            if kind == "failed":
                raise payload
            if kind == "arrived":
                complete = True
            elif kind == "ready":
                arrived.append(payload)
                begin_ready()
            else:
                chart, job = payload
                done[chart.id] = job.result()
                yield {"event": "chart", "chart": done[chart.id], "elapsed_ms": elapsed()}
        out = board.assemble(done)
        if reporting is not None:
            out = await loop.run_in_executor(
                pool, reporting_currency.apply, out, loaded, reporting, period, skip or {}
            )
        yield {
            "event": "done",
            **(header or {}),
            "data": loaded.provenance.to_dict(),
            **out,
            "elapsed_ms": elapsed(),
        }
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        _close_after(pool, loaded.close)


def _close_after(pool: ThreadPoolExecutor, close: Callable[[], None]) -> None:
    """Close the load once the charts still being drawn on ``pool`` are, off the loop (a
    cancelled load is let go at once; DuckDB is not closed under a running statement)."""

    def wait_then_close() -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        close()

    threading.Thread(target=wait_then_close, name="dashboard-close", daemon=True).start()
