"""Every number drills down to the rows behind it: the browser names the dashboard, the chart,
the period and what was clicked, the server looks the condition up — the same one the dashboard's
JSON carries — and pages the rows. The rows counted are the number shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flitch.dashboards import BUILTIN
from flitch.dashboards.storage import DashboardStore
from flitch.emulator.server import Emulator
from flitch.web.drilldown import DrillRef, resolve
from tests.web.conftest import Web
from tests.web.dashboards_support import (
    board,
    chart,
    conn_id,
    dashboards_app,
    signed_in_admin,
    signed_in_viewer,
)


@pytest.fixture
def admin(tmp_path: Path, emulator: Emulator) -> Iterator[Web]:
    with dashboards_app(tmp_path, emulator) as app:
        yield signed_in_admin(app)


def seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def drill(web: Web, dataset: str, params: dict[str, Any]) -> Any:
    query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return web.api(
        "GET", f"/api/v1/connections/{conn_id(web)}/datasets/{dataset}/drill", params=query
    )


def rows_behind(web: Web, data: dict[str, Any], chart_id: str, **what: Any) -> dict[str, Any]:
    """The drill-down's first page for what was clicked on ``chart_id``; checks the condition
    the server used is the one the dashboard's JSON carries."""
    c = chart(data, chart_id)
    dashboard = data["dashboard"]["name"]
    params = {
        "dashboard": dashboard,
        "chart": chart_id,
        "start": data["period"]["start"],
        "end": data["period"]["end"],
        **what,
    }
    if "row" in what:
        expected = next(
            r["drill"] for r in c["rows"] if all(r.get(k) == v for k, v in what["row"].items())
        )
    elif "bucket" in what:
        expected = next(
            s["drill"] for s in c["series"] if s["currency"] == what.get("currency", "all")
        )
    else:
        expected = c["drill"][what.get("currency", "all")]
    answer = drill(web, expected["dataset"], params)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    if "bucket" in what:
        assert page["drill"]["where"].startswith(expected["where"] + " AND ")
    else:
        assert page["drill"]["where"] == expected["where"]
    assert page["drill"]["definition"] == c["definition"]
    return page


def test_a_number_drills_down_to_exactly_its_rows(admin: Web) -> None:
    data = board(admin, "payments", last="90d")
    successful = chart(data, "successful-payments")["values"]
    for currency, count in successful.items():
        page = rows_behind(admin, data, "successful-payments", currency=currency)
        assert page["total"] == count
        assert page["drill"]["currency"] == currency
        status = [c["name"] for c in page["columns"]].index("status")
        assert {r[status] for r in page["rows"]} == {"succeeded"}
    # new customers per currency; those not billed yet have none
    new = chart(data, "new-customers")["values"]
    assert "none" in new
    for currency, count in new.items():
        assert rows_behind(admin, data, "new-customers", currency=currency)["total"] == count
    assert rows_behind(admin, data, "gross-volume", currency="usd")["total"] == successful["usd"]


def test_a_point_of_a_series_drills_down_to_its_bucket(admin: Web) -> None:
    data = board(admin, "payments", last="90d")
    series = next(
        s for s in chart(data, "successful-payments-2")["series"] if s["currency"] == "usd"
    )
    bucket, count = next((b, v) for b, v in series["points"] if v)
    page = rows_behind(
        admin,
        data,
        "successful-payments-2",
        currency="usd",
        bucket=bucket,
        grain=data["period"]["grain"],
    )
    assert page["total"] == count
    assert page["drill"]["bucket_start"] == bucket
    created = [c["name"] for c in page["columns"]].index("created")
    assert all(
        seconds(bucket) <= seconds(r[created]) < seconds(bucket) + 7 * 86_400 for r in page["rows"]
    )


def test_a_row_of_a_table_pie_or_report_drills_down_to_its_rows(admin: Web) -> None:
    data = board(admin, "payments", last="90d")
    for row in chart(data, "why-payments-failed")["rows"]:
        key = {"group": row["group"], "currency": row["currency"]}
        assert rows_behind(admin, data, "why-payments-failed", row=key)["total"] == row["count"]
    for row in chart(data, "charges-by-status")["rows"]:
        key = {"group": row["group"], "currency": row["currency"]}
        assert rows_behind(admin, data, "charges-by-status", row=key)["total"] == row["count"]
    top = chart(data, "top-customers")["rows"][0]
    key = {"currency": top["currency"], "customer": top["customer"]}
    page = rows_behind(admin, data, "top-customers", row=key)
    assert page["total"] == top["payments"]

    revenue = board(admin, "revenue", last="90d")
    fees = next(r for r in chart(revenue, "balance-bridge")["rows"] if r["step"] == "fees")
    page = rows_behind(
        admin, revenue, "balance-bridge", row={"currency": fees["currency"], "step": "fees"}
    )
    assert page["dataset"] == "balance_transactions"
    assert page["total"] > 0


def test_drill_downs_on_your_own_dashboard_and_as_a_viewer(admin: Web) -> None:
    admin.api("POST", "/api/v1/dashboards/payments/copy", {"name": "mine"})
    data = board(admin, "mine", last="90d")
    count = chart(data, "new-customers")["values"]["usd"]
    assert rows_behind(admin, data, "new-customers", currency="usd")["total"] == count
    viewer = signed_in_viewer(admin)
    assert rows_behind(viewer, data, "new-customers", currency="usd")["total"] == count


def test_the_browser_never_sends_a_condition(admin: Web) -> None:
    data = board(admin, "payments", last="90d")
    base = {"dashboard": "payments", "start": data["period"]["start"], "end": data["period"]["end"]}
    # values named by the browser only ever become quoted literals
    sneaky = {"group": "failed' OR 1=1 --"}
    answer = drill(admin, "charges", {**base, "chart": "charges-by-status", "row": sneaky})
    assert answer.status_code == 200
    assert answer.json()["total"] == 0
    assert "'failed'' OR 1=1 --'" in answer.json()["drill"]["where"]
    # a condition passed along is no parameter of the API: ignored
    failed = next(r for r in chart(data, "charges-by-status")["rows"] if r["group"] == "failed")
    clicked = {"group": "failed", "currency": failed["currency"]}
    only = {**base, "chart": "charges-by-status", "row": clicked, "where": "true"}
    assert drill(admin, "charges", only).json()["total"] == failed["count"]
    elsewhere = drill(admin, "charges", {**base, "chart": "new-customers"})
    assert elsewhere.status_code == 400  # new customers are customers, not charges
    assert "datasets/customers" in elsewhere.json()["fix"]

    unknown = drill(admin, "charges", {**base, "chart": "no-such-chart"})
    assert unknown.status_code == 404
    not_json = drill(admin, "charges", {**base, "chart": "charges-by-status", "row": "[1, 2]"})
    assert not_json.status_code == 400
    nested = drill(
        admin, "charges", {**base, "chart": "charges-by-status", "row": {"group": {"a": 1}}}
    )
    assert nested.status_code == 400
    far = drill(
        admin, "charges", {**base, "chart": "gross-volume", "start": "1900-01-01T00:00:00Z"}
    )
    assert far.status_code == 400


def test_resolve_writes_the_condition_the_evaluation_wrote(admin: Web) -> None:
    """Without HTTP: every drill-down of every built-in dashboard, resolved from what a click
    names, is the condition the dashboard's JSON carries."""
    store: DashboardStore = admin.app.state.dashboards
    for name in BUILTIN:
        data = board(admin, name, last="30d")
        start, end = seconds(data["period"]["start"]), seconds(data["period"]["end"])
        for c in data["charts"]:
            board_ = store.find(name)
            ref = {"dashboard": name, "chart": c["id"], "start": start, "end": end}
            for currency, expected in (c.get("drill") or {}).items():
                got = resolve(board_, DrillRef(**ref, currency=currency))
                assert (got.dataset, got.where) == (expected["dataset"], expected["where"]), c["id"]
            for row in c.get("rows", []):
                cells = {k: v for k, v in row.items() if k != "drill"}
                got = resolve(board_, DrillRef(**ref, row=cells))
                assert (got.dataset, got.where) == (
                    row["drill"]["dataset"],
                    row["drill"]["where"],
                ), c["id"]


def test_a_point_of_a_rolling_rate_drills_down_to_the_30_days_ending_with_it(admin: Web) -> None:
    data = board(admin, "billing", last="90d")
    rolling = next(
        c
        for c in data["charts"]
        if c.get("metric") == "subscriber_churn_rate_30d" and c["type"] == "line"
    )
    series = next(s for s in rolling["series"] if s["currency"] == "usd")
    assert series["drill"]["window_days"] == 30
    bucket = series["points"][1][0]  # a whole week: it ends 7 days after it starts
    week_end = seconds(bucket) + 7 * 86_400
    page = drill(
        admin,
        series["drill"]["dataset"],
        {
            "dashboard": "billing",
            "chart": rolling["id"],
            "start": data["period"]["start"],
            "end": data["period"]["end"],
            "bucket": bucket,
            "grain": rolling["grain"],
            "currency": "usd",
        },
    )
    assert page.status_code == 200, page.text
    got = page.json()["drill"]
    # the metric's own condition over the 30 days ending with the week, not the week itself
    assert seconds(got["bucket_end"]) == week_end
    assert seconds(got["bucket_start"]) == week_end - 30 * 86_400
    end = datetime.fromtimestamp(week_end, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f"TIMESTAMPTZ '{end}+00'" in got["where"]
    assert got["where"].count(" AND ") == series["drill"]["where"].count(" AND ")
