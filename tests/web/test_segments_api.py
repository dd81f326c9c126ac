"""Segments through the API: the chart builder splits a metric of the MRR family by product,
price, interval, country or a customer metadata key; each row drills down to its subscriptions,
and the rows of a split that puts every customer in one segment add up to the whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flitch.emulator.server import Emulator
from tests.web.conftest import Web
from tests.web.dashboards_support import board, chart, conn_id, dashboards_app, signed_in_admin


@pytest.fixture
def admin(tmp_path: Path, emulator: Emulator) -> Iterator[Web]:
    with dashboards_app(tmp_path, emulator) as app:
        yield signed_in_admin(app)


def split(title: str, metric: str, segment: str, kind: str = "table") -> dict[str, Any]:
    return {"title": title, "type": kind, "metric": metric, "group": {"segment": segment}}


def rows_total(web: Web, data: dict[str, Any], chart_id: str, row: dict[str, Any]) -> int:
    params = {
        "dashboard": data["dashboard"]["name"],
        "chart": chart_id,
        "start": data["period"]["start"],
        "end": data["period"]["end"],
        "row": json.dumps(row),
        "limit": 1,
    }
    path = f"/api/v1/connections/{conn_id(web)}/datasets/subscriptions/drill"
    answer = web.api("GET", path, params=params)
    assert answer.status_code == 200, answer.text
    expected = next(
        r["drill"]
        for r in chart(data, chart_id)["rows"]
        if (r["group"], r["currency"]) == (row["group"], row["currency"])
    )
    assert answer.json()["drill"]["where"] == expected["where"]
    assert answer.json()["drill"]["definition"] == chart(data, chart_id)["definition"]
    return int(answer.json()["total"])


def test_a_metric_split_by_segment_drills_to_its_subscriptions(admin: Web) -> None:
    options = admin.api("GET", "/api/v1/dashboard-options").json()
    assert [s["name"] for s in options["segments"]] == [
        "product",
        "price",
        "interval",
        "country",
        "metadata",
    ]
    assert "mrr" in options["segment_metrics"]
    charts = [
        {"title": "MRR", "type": "number", "metric": "mrr"},
        split("MRR by country", "mrr", "country"),
        split("MRR by product", "mrr", "product", "pie"),
        split("Subscribers by signup", "active_subscribers", "metadata.signup", "bar"),
    ]
    made = admin.api("POST", "/api/v1/dashboards", {"name": "mine", "charts": charts})
    assert made.status_code == 201, made.text
    data = board(admin, "mine", last="30d")

    mrr = chart(data, "mrr")["values"]
    by_country = chart(data, "mrr-by-country")
    assert by_country["segment"] == {"name": "country", "label": "Customer country"}
    for currency, total in mrr.items():
        mine = [r for r in by_country["rows"] if r["currency"] == currency]
        assert abs(sum(r["mrr"] for r in mine) - total) <= len(mine)  # rounded per row
    # every subscription in MRR is in one country: the rows' subscriptions are MRR's
    usd = [r for r in by_country["rows"] if r["currency"] == "usd"]
    in_mrr = admin.api(
        "GET",
        f"/api/v1/connections/{conn_id(admin)}/datasets/subscriptions/drill",
        params={
            "dashboard": "mine",
            "chart": "mrr",
            "start": data["period"]["start"],
            "end": data["period"]["end"],
            "currency": "usd",
            "limit": 1,
        },
    ).json()["total"]
    behind = [
        rows_total(admin, data, "mrr-by-country", {"group": r["group"], "currency": "usd"})
        for r in usd
    ]
    assert all(n > 0 for n in behind)
    assert sum(behind) == in_mrr

    products = chart(data, "mrr-by-product")
    assert products["measures"][0]["key"] == "mrr"
    assert all(r["name"] for r in products["rows"])  # the product's name beside its id
    first = products["rows"][0]
    row = {"group": first["group"], "currency": first["currency"]}
    assert rows_total(admin, data, "mrr-by-product", row) > 0
    assert chart(data, "subscribers-by-signup")["rows"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (split("Volume", "gross_volume", "country"), "Split one of"),
        (split("MRR", "mrr", "planet"), "segment"),
        (split("MRR", "mrr", "metadata.a[0]"), "segment"),
        (split("MRR", "mrr", "country", "line"), "table"),
    ],
)
def test_what_cannot_be_split(admin: Web, body: dict[str, Any], says: str) -> None:
    admin.api("POST", "/api/v1/dashboards", {"name": "ops"})
    refused = admin.api("POST", "/api/v1/dashboards/ops/charts", {"chart": body})
    assert refused.status_code == 400, refused.text
    assert says in refused.json()["fix"] + refused.json()["error"]
