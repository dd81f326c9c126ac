"""One query model, two ways of reading: every built-in dashboard gives the same JSON live from
the emulator as from the cache a refresh left, number for number, row for row."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import BUILTIN, Period, load_dashboard
from flitch.dashboards.model import Chart, ChartType, Dashboard, Grouping
from flitch.emulator.server import Emulator
from flitch.metrics.derived import DERIVED
from flitch.metrics.series import Grain
from flitch.query.engine import QueryEngine
from flitch.refresh.runner import refresh, store_for
from tests.conftest import TEST_KEY
from tests.timeline import ACCOUNT_NOW

DAY = 86_400
PERIODS = [
    (Period(ACCOUNT_NOW - 30 * DAY, ACCOUNT_NOW + DAY), None),
    (Period(ACCOUNT_NOW - 365 * DAY, ACCOUNT_NOW), Grain.MONTH),
]


@pytest.fixture
def service(tmp_path: Path, emulator: Emulator) -> Iterator[ConnectionService]:
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


#: MRR movements alone: a live load reads only the invoices of the 400 days before the period
#: (the built-in Billing reads them all, for the outstanding ones), and the spans it rebuilds
#: from them must give what the cache's, rebuilt from every invoice, give.
MOVEMENTS_ONLY = Dashboard(
    name="movements",
    title="Movements",
    charts=(Chart(title="MRR movements", type=ChartType.WATERFALL, metric="mrr_movements"),),
).check()


#: The MRR family split by every kind of segment (issue 14): each reads its own derived table
#: (items, customers' countries) or the customers' metadata, inline when live.
SEGMENTS = Dashboard(
    name="segments",
    title="Segments",
    charts=tuple(
        Chart(title=f"{metric} by {segment}", type=kind, metric=metric, group=Grouping(segment=seg))
        for metric, segment, seg, kind in (
            ("mrr", "product", "product", ChartType.PIE),
            ("arr", "price", "price", ChartType.TABLE),
            ("active_subscribers", "interval", "interval", ChartType.BAR),
            ("mrr", "country", "country", ChartType.TABLE),
            ("churned_subscribers", "country", "country", ChartType.TABLE),
            ("subscriber_churn_rate", "signup", "metadata.signup", ChartType.TABLE),
        )
    ),
).check()


def load_all(service: ConnectionService, *, live: bool) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        engine = QueryEngine(service.settings, service)
        try:
            out = []
            for board in (*BUILTIN.values(), MOVEMENTS_ONLY, SEGMENTS):
                for period, grain in PERIODS:
                    out.append(
                        await load_dashboard(
                            engine, "shop", board, period, grain=grain, force_live=live
                        )
                    )
            return out
        finally:
            await engine.aclose()

    return asyncio.run(go())


def answer(board: dict[str, Any]) -> dict[str, Any]:
    """The dashboard without what says how it was read."""
    return {k: v for k, v in board.items() if k not in ("data", "elapsed_ms", "connection")}


def first_difference(got: Any, expected: Any, where: str = "") -> str:
    """Where two JSON values first differ, and both values there."""
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in sorted(set(got) | set(expected), key=str):
            if got.get(key) != expected.get(key):
                return first_difference(got.get(key), expected.get(key), f"{where}.{key}")
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            if a != b:
                return first_difference(a, b, f"{where}[{i}]")
    return f"{where}: cached {got!r} != live {expected!r}"


def test_live_and_cached_dashboards_are_identical(service: ConnectionService) -> None:
    live = load_all(service, live=True)
    assert {b["data"]["source"] for b in live} == {"live"}

    result = refresh(service, "shop", full=True)
    assert result.outcome.value == "ok", result
    # the cache answers from the derived tables the refresh built; the live load computed
    # them inline: the numbers must not tell the two apart
    with store_for(service, service.get("shop").id).reader() as reader:
        assert all(reader.has_table(d.table) for d in DERIVED)
    service.set_refresh("shop", "1h")
    cached = load_all(service, live=False)
    assert {b["data"]["source"] for b in cached} == {"cache"}
    assert all(b["data"]["requests"] == 0 for b in cached)

    for got, expected in zip(cached, live, strict=True):
        assert answer(got) == answer(expected), first_difference(answer(got), answer(expected))
    # and the comparison is not empty
    assert live[0]["metrics"]["gross_volume"]
    assert any(b["metrics"].get("mrr") for b in live)
    movements = [b for b in live if b["dashboard"]["name"] == "movements"]
    # the invoices read live for it were narrowed to the 400 days before the period
    assert all(
        any(r.startswith("invoices where created ≥") for r in b["data"]["reads"]) for b in movements
    )
    assert all(len(b["charts"][0]["rows"]) > 10 for b in movements)
    segments = [b for b in live if b["dashboard"]["name"] == "segments"]
    for board in segments:
        assert all(chart["rows"] for chart in board["charts"]), board["period"]
        countries = {r["group"] for r in board["charts"][3]["rows"]}
        # an address or a card says where nearly every subscriber is
        assert len(countries) > 1
        assert all(len(c) == 2 or c == "unknown" for c in countries)
