"""The customers behind a cohort cell, through the API: they add up to the cell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from flitch.emulator.server import Emulator
from tests.web.conftest import Web
from tests.web.dashboards_support import board, chart, conn_id, dashboards_app, signed_in_admin


@pytest.fixture
def admin(tmp_path: Path, emulator: Emulator) -> Iterator[Web]:
    app: FastAPI
    with dashboards_app(tmp_path, emulator) as app:
        yield signed_in_admin(app)


def test_a_cohort_cell_lists_the_customers_it_adds_up(admin: Web) -> None:
    data = board(admin, "retention", last="12m")
    rows = chart(data, "cohorts")["rows"]
    assert rows
    period = {"from": data["period"]["start"][:10], "to": data["period"]["last_day"]}
    # the fullest cell past month 0
    cell = max((r for r in rows if r["months_since"] > 0), key=lambda r: r["customers"])
    cohort = str(cell["cohort"])[:10]
    path = (
        f"/api/v1/connections/{conn_id(admin)}/cohorts/{cell['currency']}/{cohort}/"
        f"{cell['months_since']}"
    )
    answer = admin.api("GET", path, params=period)
    assert answer.status_code == 200, answer.text
    customers = answer.json()["customers"]
    assert len(customers) == cell["customers"]
    assert sum(1 for c in customers if c["mrr"] > 0) == cell["retained"]
    # each customer rounded on their own: half a unit each at most
    assert abs(sum(c["mrr"] for c in customers) - cell["mrr"]) <= len(customers) / 2
    assert abs(sum(c["mrr_start"] for c in customers) - cell["mrr_start"]) <= len(customers) / 2

    wrong = admin.api("GET", path.replace(cohort, cohort[:8] + "15"), params=period)
    assert wrong.status_code == 400
    assert "does not start a month" in wrong.json()["message"]


def test_a_movements_bar_lists_the_customers_it_adds_up(admin: Web) -> None:
    data = board(admin, "billing", last="90d")
    waterfall = chart(data, "mrr-movements")
    bars = [
        r for r in waterfall["rows"] if r["bucket"] is None and r["movement"] in ("new", "churned")
    ]
    assert bars
    period = {
        "from": data["period"]["start"][:10],
        "to": data["period"]["last_day"],
        "grain": waterfall["grain"],
    }
    for bar in bars:
        path = f"/api/v1/connections/{conn_id(admin)}/movements/{bar['currency']}/{bar['movement']}"
        answer = admin.api("GET", path, params=period)
        assert answer.status_code == 200, answer.text
        customers = answer.json()["customers"]
        # rounded one by one: half a unit each at most
        assert abs(sum(c["change"] for c in customers) - bar["amount"]) <= len(customers) / 2 + 1
        for c in customers:
            assert (c["mrr_before"] == 0) == (bar["movement"] == "new")
            assert (c["mrr_after"] == 0) == (bar["movement"] == "churned")
    refused = admin.api("GET", f"/api/v1/connections/{conn_id(admin)}/movements/usd/growth")
    assert refused.status_code in (400, 422)
