"""The dashboards JSON API on the emulator's 60-customer account: what a dashboard shows for a
connection and a period (the same JSON ``flitch dashboard --json`` prints), the pickers, charts a
key cannot read, live and cached answers, and building dashboards of your own (admins only)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from flitch.dashboards import BUILTIN, load_dashboard, resolve
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from flitch.refresh.runner import refresh
from tests.conftest import LIMITED_KEY, TEST_KEY
from tests.timeline import ACCOUNT_NOW
from tests.web.conftest import Web
from tests.web.dashboards_support import (
    board,
    chart,
    conn_id,
    dashboards_app,
    on_own_thread,
    signed_in_admin,
    signed_in_viewer,
    without_provenance,
)


@pytest.fixture
def board_app(tmp_path: Path, emulator: Emulator) -> Iterator[FastAPI]:
    with dashboards_app(tmp_path, emulator) as app:
        yield app


@pytest.fixture
def admin(board_app: FastAPI) -> Web:
    return signed_in_admin(board_app)


@pytest.fixture
def viewer(admin: Web) -> Web:
    return signed_in_viewer(admin)


# -- what a dashboard shows ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BUILTIN))
def test_a_builtin_dashboard_is_the_json_the_cli_prints(admin: Web, name: str) -> None:
    got = board(admin, name, last="30d")
    assert got["connection"] == {
        "id": conn_id(admin),
        "name": "shop",
        "mode": "test",
        "refresh": "off",
    }
    assert got["data"]["source"] == "live"
    assert got["data"]["requests"] > 0
    assert got["period"]["label"] == "30d"
    assert got["period"]["days"] == 30.0
    for c in got["charts"]:
        assert c.get("definition"), f"{c['title']} has no definition"
        if c["type"] == "number" and "metric" in c:
            assert {"values", "previous", "change", "drill"} <= c.keys()

    ctx = admin.app.state.flitch

    async def expected() -> dict[str, Any]:
        engine = QueryEngine(ctx.settings, ctx.connections)
        try:
            period = resolve("30d", now=ACCOUNT_NOW)
            return await load_dashboard(engine, "shop", BUILTIN[name], period)
        finally:
            await engine.aclose()

    cli = on_own_thread(lambda: asyncio.run(expected()))
    assert without_provenance(got) == without_provenance(cli)


def test_the_pickers_range_grain_and_currency(admin: Web) -> None:
    week = board(admin, "payments", last="7d")
    assert week["period"]["days"] == 7.0
    assert week["period"]["grain"] == "day"
    quarter = board(admin, "payments", last="90d")
    assert quarter["period"]["grain"] == "week"
    assert chart(quarter, "gross-volume-2")["grain"] == "week"
    monthly = board(admin, "payments", last="90d", grain="month")
    assert chart(monthly, "gross-volume-2")["grain"] == "month"
    custom = board(admin, "payments", **{"from": "2026-09-01", "to": "2026-09-30"})
    assert (custom["period"]["start"], custom["period"]["end"]) == (
        "2026-09-01T00:00:00Z",
        "2026-10-01T00:00:00Z",
    )

    assert len(quarter["currencies"]) > 1
    usd = board(admin, "payments", last="90d", currency="USD")
    assert usd["currency"] == "usd"
    for c in usd["charts"]:
        assert set(c.get("values", {})) <= {"usd", "all"}
        assert {s["currency"] for s in c.get("series", [])} <= {"usd", "all"}
    assert usd["metrics"]["gross_volume"] == {"usd": quarter["metrics"]["gross_volume"]["usd"]}

    path = f"/api/v1/connections/{conn_id(admin)}/dashboards/payments"
    backwards = admin.api("GET", path, params={"from": "2026-10-01", "to": "2026-09-01"})
    assert backwards.status_code == 400
    assert backwards.json()["fix"]
    too_fine = admin.api(
        "GET", path, params={"from": "2010-01-01", "to": "2026-01-01", "grain": "day"}
    )
    assert too_fine.status_code == 400
    assert "coarser grain" in too_fine.json()["fix"]
    assert admin.api("GET", path, params={"currency": "dollars"}).status_code == 422
    missing = admin.api("GET", f"/api/v1/connections/{conn_id(admin)}/dashboards/nope")
    assert missing.status_code == 404
    assert "payments" in missing.json()["fix"]


def test_charts_the_key_cannot_read_say_what_to_grant(admin: Web) -> None:
    admin.app.state.flitch.connections.create("limited", LIMITED_KEY)
    path = f"/api/v1/connections/{conn_id(admin, 'limited')}/dashboards/billing"
    data = admin.api("GET", path).json()
    mrr = chart(data, "mrr")
    assert mrr["unavailable"]["dataset"] == "subscriptions"
    assert "Read Subscriptions" in mrr["unavailable"]["fix"]
    assert "values" not in mrr
    paid = chart(data, "invoices-paid")  # invoices are readable: drawn
    assert "unavailable" not in paid
    assert "values" in paid


def test_a_key_deleted_in_stripe_is_an_error_that_says_what_to_do(
    admin: Web, emulator: Emulator
) -> None:
    emulator.config.revoked_keys.add(TEST_KEY)
    path = f"/api/v1/connections/{conn_id(admin)}/dashboards/payments"
    refused = admin.api("GET", path)
    assert refused.status_code == 422
    assert refused.json()["error"] == "AuthenticationFailed"
    assert "restricted key" in refused.json()["fix"]
    assert admin.app.state.flitch.connections.get("shop").status == "auth_failed"


def test_a_cached_connection_answers_the_same_from_its_last_refresh(admin: Web) -> None:
    live = board(admin, "revenue", last="90d")
    service = admin.app.state.flitch.connections
    result = refresh(service, "shop", full=True)
    assert result.outcome.value == "ok", result
    service.set_refresh("shop", "1h")
    cached = board(admin, "revenue", last="90d")
    assert cached["data"]["source"] == "cache"
    assert cached["data"]["requests"] == 0
    assert cached["data"]["as_of"] is not None
    assert without_provenance(cached) == without_provenance(live)


# -- who may do what -----------------------------------------------------------------------------
def test_viewers_see_dashboards_and_only_admins_change_them(admin: Web, viewer: Web) -> None:
    listed = viewer.api("GET", "/api/v1/dashboards").json()
    assert [d["name"] for d in listed] == list(BUILTIN)
    assert viewer.api("GET", "/api/v1/dashboard-options").status_code == 200
    assert viewer.api("GET", "/api/v1/dashboards/billing").json()["builtin"] is True
    assert board(viewer, "payments")["metrics"]["gross_volume"]
    assert viewer.page("/dashboards/payments").status_code == 200

    chart_body = {"title": "Charges", "type": "number", "dataset": "charges", "measures": [{}]}
    refused = [
        viewer.api("POST", "/api/v1/dashboards", {"name": "mine"}),
        viewer.api("POST", "/api/v1/dashboards/payments/copy", {"name": "mine"}),
        viewer.api("POST", "/api/v1/dashboards/import", {"dashboard": {"name": "x", "charts": []}}),
    ]
    assert admin.api("POST", "/api/v1/dashboards", {"name": "theirs"}).status_code == 201
    refused += [
        viewer.api("PUT", "/api/v1/dashboards/theirs", {"name": "theirs", "charts": []}),
        viewer.api("DELETE", "/api/v1/dashboards/theirs"),
        viewer.api("POST", "/api/v1/dashboards/theirs/move", {"position": 0}),
        viewer.api("POST", "/api/v1/dashboards/theirs/charts", {"chart": chart_body}),
        viewer.api("PUT", "/api/v1/dashboards/theirs/chart-order", {"order": []}),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "Forbidden"
    assert viewer.api("GET", "/api/v1/dashboards/theirs/export").status_code == 200
    assert admin.api("GET", "/api/v1/dashboards/theirs").json()["charts"] == []


# -- building your own ---------------------------------------------------------------------------
def test_build_a_dashboard_chart_by_chart(admin: Web) -> None:
    made = admin.api("POST", "/api/v1/dashboards", {"name": "ops", "title": "Operations"})
    assert made.status_code == 201
    assert made.json()["charts"] == []
    succeeded = {
        "title": "Succeeded charges",
        "type": "number",
        "dataset": "charges",
        "measures": [{"agg": "count"}],
        "filters": [
            {"column": "status", "op": "eq", "value": "succeeded"},
            {"column": "paid", "op": "eq", "value": True},
        ],
    }
    by_status = {
        "title": "Amount by status",
        "type": "table",
        "dataset": "charges",
        "measures": [{"agg": "count"}, {"agg": "sum", "column": "amount"}],
        "group": {"column": "status"},
    }
    fees = {"title": "Fees", "type": "line", "metric": "fees", "group": {"grain": "week"}}
    for body in (succeeded, by_status, fees):
        added = admin.api("POST", "/api/v1/dashboards/ops/charts", {"chart": body})
        assert added.status_code == 201, added.text
    ids = [c["id"] for c in added.json()["charts"]]
    assert ids == ["succeeded-charges", "amount-by-status", "fees"]

    data = board(admin, "ops", last="90d")
    builtin = board(admin, "payments", last="90d")
    # a count is per currency, as the built-in's
    succeeded = chart(data, "succeeded-charges")["values"]
    assert succeeded == builtin["metrics"]["successful_payments"]
    usd = board(admin, "ops", last="90d", currency="usd")
    assert chart(usd, "succeeded-charges")["values"] == {"usd": succeeded["usd"]}
    rows = chart(data, "amount-by-status")["rows"]
    succeeded_usd = next(r for r in rows if (r["group"], r["currency"]) == ("succeeded", "usd"))
    assert succeeded_usd["sum(amount)"] == builtin["metrics"]["gross_volume"]["usd"]
    assert chart(data, "fees")["grain"] == "week"

    fees_bar = {**fees, "type": "bar"}
    changed = admin.api("PUT", "/api/v1/dashboards/ops/charts/fees", fees_bar)
    assert changed.status_code == 200
    assert changed.json()["charts"][2]["type"] == "bar"
    order = ["fees", "succeeded-charges", "amount-by-status"]
    moved = admin.api("PUT", "/api/v1/dashboards/ops/chart-order", {"order": order})
    assert [c["id"] for c in moved.json()["charts"]] == order
    bad_order = admin.api("PUT", "/api/v1/dashboards/ops/chart-order", {"order": ["fees"]})
    assert bad_order.status_code == 400
    assert "succeeded-charges" in bad_order.json()["fix"]
    gone = admin.api("DELETE", "/api/v1/dashboards/ops/charts/amount-by-status")
    assert [c["id"] for c in gone.json()["charts"]] == ["fees", "succeeded-charges"]
    assert admin.api("DELETE", "/api/v1/dashboards/ops/charts/nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"title": "Pie", "type": "pie", "dataset": "charges", "measures": [{}]}, "column"),
        ({"title": "MRR pie", "type": "pie", "metric": "mrr"}, "number"),
        ({"title": "Nope", "type": "number", "metric": "happiness"}, "gross_volume"),
        (
            {
                "title": "Big ones",
                "type": "number",
                "dataset": "charges",
                "measures": [{}],
                "filters": [{"column": "amount", "op": "gt", "value": "lots"}],
            },
            "smallest currency unit",
        ),
        (
            {
                "title": "Sum of status",
                "type": "number",
                "dataset": "charges",
                "measures": [{"agg": "sum", "column": "status"}],
            },
            "amount column",
        ),
    ],
)
def test_a_chart_that_cannot_be_drawn_is_refused_with_the_fix(
    admin: Web, body: dict[str, Any], says: str
) -> None:
    admin.api("POST", "/api/v1/dashboards", {"name": "ops"})
    refused = admin.api("POST", "/api/v1/dashboards/ops/charts", {"chart": body})
    assert refused.status_code == 400, refused.text
    assert says in refused.json()["fix"]


def test_copy_export_import_rename_move_delete(admin: Web) -> None:
    copied = admin.api("POST", "/api/v1/dashboards/billing/copy", {"name": "my-billing"})
    assert copied.status_code == 201
    assert copied.json()["title"] == "Billing (copy)"
    assert copied.json()["builtin"] is False
    assert len(copied.json()["charts"]) == len(BUILTIN["billing"].charts)
    refused = admin.api("DELETE", "/api/v1/dashboards/billing")
    assert refused.status_code == 409
    assert "Copy it" in refused.json()["fix"]
    fees = {"title": "Fees", "type": "number", "metric": "fees"}
    changing = admin.api("POST", "/api/v1/dashboards/billing/charts", {"chart": fees})
    assert changing.status_code == 409

    exported = admin.api("GET", "/api/v1/dashboards/my-billing/export")
    assert "attachment" in exported.headers["content-disposition"]
    imported = admin.api(
        "POST", "/api/v1/dashboards/import", {"dashboard": exported.json(), "name": "elsewhere"}
    )
    assert imported.status_code == 201
    assert imported.json()["name"] == "elsewhere"
    again = admin.api("POST", "/api/v1/dashboards/import", {"dashboard": exported.json()})
    assert again.status_code == 400
    assert "already exists" in again.json()["message"]
    replaced = admin.api(
        "POST", "/api/v1/dashboards/import", {"dashboard": exported.json(), "replace": True}
    )
    assert replaced.status_code == 201
    newer = {**exported.json(), "format": 2}
    assert admin.api("POST", "/api/v1/dashboards/import", {"dashboard": newer}).status_code == 400

    renamed = admin.api(
        "PUT", "/api/v1/dashboards/elsewhere", {**exported.json(), "name": "renamed"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "renamed"
    order = admin.api("POST", "/api/v1/dashboards/renamed/move", {"position": 0}).json()["order"]
    assert order == ["renamed", "my-billing"]
    listed = [d["name"] for d in admin.api("GET", "/api/v1/dashboards").json()]
    assert listed[len(BUILTIN) :] == order
    assert admin.api("DELETE", "/api/v1/dashboards/renamed").json() == {"deleted": "renamed"}
    assert admin.api("GET", "/api/v1/dashboards/renamed").status_code == 404

    page = admin.page("/dashboards")
    assert "my-billing" in page.text
    assert "Billing (copy)" in page.text
