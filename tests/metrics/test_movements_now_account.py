"""On the generated account, read live from the emulator at several instants of one day: MRR
movements over the last 30 days (ending at the next midnight) end at MRR now, per currency.

The day is the generated accounts' (``ACCOUNT_NOW``'s: ``REFERENCE_NOW``'s unless the suite runs
at another date). The account is made at each instant (``generate_account(now=…)``), and
Flitch's and the emulator's clocks read that instant, so its renewals fall at other times of the
day: some later that day, some just renewed with their
invoice a draft. A subscription whose plan changed since its latest invoice is left out of the
account: its movements show the change at its next invoice, while MRR now already has it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import Period, load_dashboard
from flitch.dashboards.model import Chart, ChartType, Dashboard
from flitch.emulator.generator import generate_account
from flitch.emulator.server import Emulator
from flitch.emulator.store import Account, ModeStore
from flitch.query.engine import QueryEngine
from tests.conftest import TEST_KEY
from tests.timeline import ACCOUNT_NOW

HOUR, DAY = 3600, 86_400
#: Enough customers for renewals to fall within a day of each instant.
CUSTOMERS = 300
MIDNIGHT = ACCOUNT_NOW - ACCOUNT_NOW % DAY
INSTANTS = {
    "00:00": MIDNIGHT,
    "03:00": MIDNIGHT + 3 * HOUR,
    "11:00": MIDNIGHT + 11 * HOUR,
    "23:59": MIDNIGHT + 23 * HOUR + 59 * 60,
}
BOARD = Dashboard(
    name="mrr_now",
    title="MRR now",
    charts=(
        Chart(title="MRR", type=ChartType.NUMBER, metric="mrr"),
        Chart(title="MRR movements", type=ChartType.WATERFALL, metric="mrr_movements"),
    ),
).check()


def _subscription_of(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    sub = details.get("subscription")
    return None if sub is None else str(sub)


def changed_plans(store: ModeStore) -> list[str]:
    """Subscriptions whose licensed items (price, quantity) are not all on the newest of their
    invoices (prorations aside): their plan changed since."""
    newest: dict[str, dict[str, Any]] = {}
    for invoice in store.ordered("invoice").objects:
        of = _subscription_of(invoice)
        if of is not None and (of not in newest or invoice["created"] > newest[of]["created"]):
            newest[of] = invoice
    changed = []
    for sub in store.ordered("subscription").objects:
        items = {
            (i["price"]["id"], i["quantity"])
            for i in sub["items"]["data"]
            if i["price"]["recurring"]["usage_type"] == "licensed"
        }
        last = newest.get(sub["id"])
        lines = {
            (ln["pricing"]["price_details"]["price"], ln["quantity"])
            for ln in (last["lines"]["data"] if last else [])
            if not ln["parent"]["subscription_item_details"]["proration"]
        }
        if not items <= lines:
            changed.append(sub["id"])
    return changed


def account_at(at: int) -> Account:
    account = generate_account(customers=CUSTOMERS, now=at)
    changed = changed_plans(account.test)
    assert changed, "the account should have plan changes to leave out"
    for sub in changed:
        account.test.delete(sub)
    return account


def load_live(tmp_path: Path, emulator: Emulator, period: Period) -> dict[str, Any]:
    settings = Settings(
        home=tmp_path,
        stripe_api_base=emulator.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    with ConnectionService(settings) as service:
        service.create("shop", TEST_KEY)

        async def go() -> dict[str, Any]:
            engine = QueryEngine(settings, service)
            try:
                return await load_dashboard(engine, "shop", BOARD, period, force_live=True)
            finally:
                await engine.aclose()

        return asyncio.run(go())


def test_the_waterfall_ends_at_mrr_now_at_several_instants_of_a_day(
    tmp_path: Path,
    make_emulator: Callable[..., Emulator],
    pin_clock: Callable[[float], clocks.Clock],
) -> None:
    for name, at in INSTANTS.items():
        pin_clock(at)
        emulator = make_emulator(account_at(at), now=at)
        end = MIDNIGHT + DAY
        board = load_live(tmp_path / name, emulator, Period(end - 30 * DAY, end))
        rows = board["charts"][1]["rows"]
        ends = {
            r["currency"]: r["amount"]
            for r in rows
            if r["bucket"] is None and r["movement"] == "mrr_end"
        }
        mrr = board["metrics"]["mrr"]
        assert len(mrr) >= 3, name
        assert ends == mrr, name
        emulator.stop()
