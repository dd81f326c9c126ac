"""A reporting currency end to end on the emulator's live-mode account (which settles GBP and
JPY charges into USD, and keeps EUR apart): live and cached give the same converted answer,
the rates come from the balance transactions read, and EUR, never settled into USD, stays
apart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import BUILTIN, Period, load_dashboard
from flitch.emulator.server import Emulator
from flitch.metrics.series import Grain
from flitch.query.engine import QueryEngine
from flitch.refresh.runner import refresh
from tests.conftest import LIVE_KEY
from tests.dashboards.test_live_cached import answer, first_difference
from tests.timeline import ACCOUNT_NOW

DAY = 86_400
PERIOD = Period(ACCOUNT_NOW - 365 * DAY, ACCOUNT_NOW)


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
        svc.create("shop", LIVE_KEY)
        yield svc


def load(service: ConnectionService, *, live: bool) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        engine = QueryEngine(service.settings, service)
        try:
            return await load_dashboard(
                engine,
                "shop",
                BUILTIN["payments"],
                PERIOD,
                grain=Grain.MONTH,
                reporting="usd",
                force_live=live,
            )
        finally:
            await engine.aclose()

    return asyncio.run(go())


def test_converted_live_equals_cached(service: ConnectionService) -> None:
    live = load(service, live=True)
    assert live["data"]["source"] == "live"
    assert any(r.startswith("balance_transactions") for r in live["data"]["reads"])
    reporting = live["reporting"]
    assert reporting["currency"] == "usd"
    assert {r["currency"] for r in reporting["rates"]} == {"gbp", "jpy"}
    assert reporting["apart"] == ["eur"]
    # yen into cents: Stripe's rate multiplies the integer amounts
    assert all(0.6 < r["rate"] < 0.72 for r in reporting["rates"] if r["currency"] == "jpy")
    assert set(live["metrics"]["gross_volume"]) == {"usd", "eur"}
    assert live["metrics"]["successful_payments"].keys() >= {"gbp", "jpy", "usd", "eur"}

    assert refresh(service, "shop", full=True).outcome.value == "ok"
    service.set_refresh("shop", "1h")
    cached = load(service, live=False)
    assert cached["data"]["source"] == "cache"
    assert answer(cached) == answer(live), first_difference(answer(cached), answer(live))


def test_cli_reporting_currency_from_the_accounts_own_settlements(
    tmp_path: Path, emulator: Emulator
) -> None:
    """``flitch dashboard … --reporting-currency usd``: the month's USD gross volume is the
    USD charges plus each GBP and JPY charge at the rate nearest the period's middle, worked
    out from the emulator's live objects; EUR stays apart, and the terminal names the rates."""
    from tests.dashboards.test_cli_dashboard import END, PERIOD, START, Flitch

    run = Flitch(tmp_path / "home", emulator)
    assert run("connect", "shop", key=LIVE_KEY).exit_code == 0
    code, data = run.json("dashboard", "shop", "payments", *PERIOD, "--reporting-currency", "usd")
    assert code == 0
    store = emulator.account.live
    rates: dict[str, list[tuple[int, float]]] = {}
    for t in store.ordered("balance_transaction").objects:
        if t["exchange_rate"] is not None and t["type"] == "charge":
            ch = store.get(t["source"])
            assert ch is not None
            rates.setdefault(ch["currency"], []).append((t["created"], t["exchange_rate"]))
    middle = (START + END) / 2

    def nearest(currency: str) -> float:
        return min(rates[currency], key=lambda r: (abs(r[0] - middle), r[0]))[1]

    total, eur = 0.0, 0
    for ch in store.ordered("charge").objects:
        if START <= ch["created"] < END and ch["status"] == "succeeded" and ch["paid"]:
            if ch["currency"] == "eur":
                eur += ch["amount"]
            else:
                rate = 1.0 if ch["currency"] == "usd" else nearest(ch["currency"])
                total += ch["amount"] * rate
    assert data["metrics"]["gross_volume"] == {"usd": round(total), "eur": eur}
    assert data["reporting"]["apart"] == ["eur"]

    shown = run("dashboard", "shop", "payments", *PERIOD, "--reporting-currency", "usd")
    assert shown.exit_code == 0, shown.output
    assert "converted at Stripe's settlement rates" in shown.output
    assert data["reporting"]["rates"][0]["transaction"] in shown.output
