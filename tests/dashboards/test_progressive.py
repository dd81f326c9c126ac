"""Progressive live loads: charts arrive one by one as their own reads complete, the complete
answer is the one the JSON API gives, and a load nobody waits for stops reading Stripe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import BUILTIN, Period, load_dashboard
from flitch.dashboards.plan import chart_datasets, plan_reads
from flitch.dashboards.progressive import estimate, stream_board
from flitch.dashboards.service import unreadable
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from flitch.query.live import ReadState
from flitch.query.reads import DatasetRead
from tests.conftest import TEST_KEY
from tests.timeline import ACCOUNT_NOW

DAY = 86_400
PERIOD = Period(ACCOUNT_NOW - 30 * DAY, ACCOUNT_NOW + DAY)


@pytest.fixture
def service(tmp_path: Path, emulator: Emulator) -> Iterator[ConnectionService]:
    # two requests a second per endpoint: a list of several pages takes seconds, one of a
    # page is in at once
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=2.0,
    )
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


async def events_of(engine: QueryEngine, name: str) -> list[tuple[float, dict[str, Any]]]:
    board = BUILTIN[name]
    conn = engine.connections.get("shop")
    skip = unreadable(conn)
    drawable = [c for c in board.charts if not any(d in skip for d in chart_datasets(c))]
    streamed = await engine.stream("shop", plan_reads(drawable, PERIOD))
    out = []
    started = time.perf_counter()
    async for event in stream_board(streamed, board, PERIOD, skip=skip, tick=0.05):
        out.append((time.perf_counter() - started, event))
    return out


def answer(board: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in board.items() if k not in ("data", "elapsed_ms", "connection", "event")
    }


def test_charts_arrive_as_their_reads_complete(
    emulator: Emulator, service: ConnectionService
) -> None:
    async def go() -> tuple[list[tuple[float, dict[str, Any]]], dict[str, Any], int]:
        engine = QueryEngine(service.settings, service)
        try:
            emulator.log.clear()
            events = await events_of(engine, "billing")
            streamed_requests = len(emulator.log.entries)
            whole = await load_dashboard(engine, "shop", BUILTIN["billing"], PERIOD)
            return events, whole, streamed_requests
        finally:
            await engine.aclose()

    events, whole, requests = asyncio.run(go())
    kinds = [e["event"] for _, e in events]
    assert kinds[0] == "plan"
    assert kinds[-1] == "done"
    plan = events[0][1]
    waiting = {c["id"]: set(c["waiting"]) for c in plan["charts"]}
    assert waiting["credit-notes"] == {"credit_notes"}
    assert {"subscriptions", "prices", "coupons"} <= waiting["mrr"]
    charts = [(t, e["chart"]) for t, e in events if e["event"] == "chart"]
    assert len(charts) == len(BUILTIN["billing"].charts)
    # the credit notes (a page) are drawn long before the invoices (many pages) are read
    at = {c["id"]: t for t, c in charts}
    assert at["credit-notes"] < at["invoices-paid"]
    later = [e for t, e in events if e["event"] == "progress" and t > at["credit-notes"]]
    invoices = [r for e in later for r in e["reads"] if r["dataset"] == "invoices"]
    assert invoices
    assert not invoices[0]["done"]
    # while the first chart is shown, the page still has reads to report on
    first = charts[0][0]
    progress = [e for t, e in events if e["event"] == "progress" and t > first]
    assert progress
    assert any(not r["done"] for r in progress[0]["reads"])
    assert any(r["pages"] > 0 for p in progress for r in p["reads"] if not r["done"])
    # the complete answer is the JSON API's, and every chart event is its chart
    done = events[-1][1]
    assert answer(done) == answer(whole)
    by_id = {c["id"]: c for c in done["charts"]}
    assert all(by_id[c["id"]] == c for _, c in charts)
    assert done["data"]["requests"] == requests
    # a window read for the first time starts as two parts at once (a request more when it
    # holds under a page); the second load knows its size and makes the fewest
    windows = sum(1 for read in done["data"]["reads"] if "created ≥" in read)
    assert windows
    assert whole["data"]["requests"] <= requests <= whole["data"]["requests"] + windows
    # each list was read once: a second load makes the same requests, path for path
    assert done["data"]["reads"] == whole["data"]["reads"]


def test_a_cancelled_load_stops_reading(emulator: Emulator, service: ConnectionService) -> None:
    emulator.config.latency_ms = 50

    async def go() -> tuple[int, int, int]:
        engine = QueryEngine(service.settings, service)
        try:
            emulator.log.clear()
            events = stream_board(
                await engine.stream("shop", plan_reads(BUILTIN["billing"].charts, PERIOD)),
                BUILTIN["billing"],
                PERIOD,
                tick=0.05,
            )
            async for event in events:  # the first chart is in; the invoices are not
                if event["event"] == "chart":
                    break
            await events.aclose()
            stopped = len(emulator.log.entries)
            await asyncio.sleep(1.0)
            after_a_second = len(emulator.log.entries)
            await asyncio.sleep(1.5)
            return stopped, after_a_second, len(emulator.log.entries)
        finally:
            await engine.aclose()

    stopped, after_a_second, later = asyncio.run(go())
    assert stopped > 0
    # a request already on the wire may land; nothing is sent after that
    assert after_a_second == later
    assert after_a_second - stopped <= 2


def test_retention_draws_what_subscriptions_answer_before_the_invoices(
    emulator: Emulator, service: ConnectionService
) -> None:
    """The trials in progress come first, from their own status=trialing read (a few pages,
    while the whole lists are read); ARPA and lifetime value need subscriptions, prices and
    coupons only: they are drawn while the invoices (every one ever, for the rebuilt MRR)
    are still being read."""

    async def go() -> list[tuple[float, dict[str, Any]]]:
        engine = QueryEngine(service.settings, service)
        try:
            return await events_of(engine, "retention")
        finally:
            await engine.aclose()

    events = asyncio.run(go())
    plan = events[0][1]
    waiting = {c["id"]: set(c["waiting"]) for c in plan["charts"]}
    for early in ("arpa", "subscriber-lifetime-value"):
        assert waiting[early] == {"subscriptions", "prices", "coupons"}
    reads = sorted(r["read"] for r in plan["reads"] if r["dataset"] == "subscriptions")
    assert reads == ["subscriptions (all)", "subscriptions where status=trialing, read first"]
    # each chart names the reads it waits for: the page shows their progress
    positions = {c["id"]: c["reads"] for c in plan["charts"]}
    waited = [plan["reads"][i]["read"] for i in positions["in-trial"]]
    assert waited == ["subscriptions where status=trialing, read first"]
    arpa = {plan["reads"][i]["read"] for i in positions["arpa"]}
    assert "subscriptions (all)" in arpa
    assert "subscriptions where status=trialing, read first" not in arpa
    charts = [e["chart"]["id"] for _, e in events if e["event"] == "chart"]
    assert charts[0] == "in-trial"
    assert set(charts[1:3]) == {"arpa", "subscriber-lifetime-value"}
    # what was still being read when ARPA or lifetime value arrived: the invoices
    first = next(
        i
        for i, (_, e) in enumerate(events)
        if e["event"] == "chart" and e["chart"]["id"] != "in-trial"
    )
    before = [e for _, e in events[:first] if e["event"] in ("plan", "progress")]
    invoices = [r for r in before[-1]["reads"] if r["dataset"] == "invoices"]
    assert invoices
    assert not invoices[0]["done"]


def test_the_estimate_adds_up_two_reads_of_one_list() -> None:
    """A read made first and the whole list are two reads on one endpoint: both count."""
    early = ReadState(DatasetRead("subscriptions", filters=(("status", "trialing"),), early=True))
    whole = ReadState(DatasetRead("subscriptions"))
    early.done, early.pages = True, 2
    whole.last_pages = 40
    seen: list[dict[str, int]] = []

    def ceiling(pages: dict[str, int]) -> float:
        seen.append(dict(pages))
        return sum(pages.values()) / 25

    streamed = SimpleNamespace(states=[early, whole], ceiling=ceiling)
    out = estimate(streamed)  # type: ignore[arg-type]
    assert out["pages"] == 42
    assert seen == [{"subscriptions": 42}]


def test_a_load_is_called_long_once_its_estimate_holds() -> None:
    from flitch.dashboards.progressive import LONG_CONFIRM_SECONDS, LongLoad

    now = [0.0]
    fresh = SimpleNamespace(states=[SimpleNamespace(last_pages=None, done=False)])
    known = SimpleNamespace(states=[SimpleNamespace(last_pages=40, done=False)])
    long_ = {"pages": 30_000, "seconds": 1_200.0, "long": True}
    short = {"pages": 30, "seconds": 1.2, "long": False}
    judge = LongLoad(clock=lambda: now[0])
    # a burst read while reading says long for a moment, then the next pages say otherwise
    assert not judge.judge(fresh, long_)["long"]  # type: ignore[arg-type]
    now[0] += LONG_CONFIRM_SECONDS / 2
    assert not judge.judge(fresh, short)["long"]  # type: ignore[arg-type]
    now[0] += LONG_CONFIRM_SECONDS
    assert not judge.judge(fresh, long_)["long"]  # type: ignore[arg-type]
    # said for long enough, it is told
    now[0] += LONG_CONFIRM_SECONDS
    assert judge.judge(fresh, long_)["long"]  # type: ignore[arg-type]
    # pages known from before: told at once
    assert LongLoad(clock=lambda: now[0]).judge(known, long_)["long"]  # type: ignore[arg-type]
