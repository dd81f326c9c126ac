"""A customer's page through the API, on the small account of ``tests.metrics.customer_account``
served by the emulator: checked by hand, read live (only the customer's rows) and from the cache
with the same answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from flitch.emulator.server import Emulator
from flitch.emulator.store import Account
from flitch.refresh.runner import refresh
from tests.metrics.customer_account import objects
from tests.web.conftest import Web
from tests.web.dashboards_support import conn_id, dashboards_app, signed_in_admin


def small_account() -> Account:
    acct = Account("acct_1CustomerPage000")
    for rows in objects().values():
        for obj in rows:
            acct.test.put(dict(obj))
    return acct


@pytest.fixture
def admin(tmp_path: Path, make_emulator: Callable[..., Emulator]) -> Iterator[Web]:
    app: FastAPI
    with dashboards_app(tmp_path, make_emulator(small_account())) as app:
        yield signed_in_admin(app)


def page(web: Web, customer: str) -> Any:
    return web.api("GET", f"/api/v1/connections/{conn_id(web)}/customers/{customer}")


def test_a_customers_page_by_hand_live_then_cached(admin: Web) -> None:
    answer = page(admin, "cus_a")
    assert answer.status_code == 200, answer.text
    live = answer.json()
    assert (live["name"], live["email"]) == ("Ada", "cus_a@example.com")
    assert [(s["id"], s["mrr"]) for s in live["subscriptions"]] == [
        ("sub_usd", 3000),
        ("sub_eur", 0),
    ]
    assert [c["id"] for c in live["charges"]] == ["ch_a1", "ch_a2"]
    assert [d["id"] for d in live["disputes"]] == ["dp_a"]
    assert [(s["currency"], s["at"][:10], s["mrr"]) for s in live["mrr"]["steps"]] == [
        ("eur", "2026-02-01", 2000),
        ("eur", "2026-03-01", 0),
        ("usd", "2026-01-01", 1000),
        ("usd", "2026-03-01", 3000),
    ]
    kinds = {e["kind"] for e in live["timeline"]}
    assert kinds == {"subscription", "invoice", "charge", "refund", "dispute", "mrr"}
    assert live["missing"] == []
    # live, Stripe is asked for this customer's subscriptions, invoices and charges only
    reads = live["data"]["reads"]
    assert live["data"]["source"] == "live"
    for name in ("charges", "invoices", "subscriptions"):
        assert f"{name} where customer=cus_a" in reads

    service = admin.app.state.flitch.connections
    assert refresh(service, "shop", full=True).outcome.value == "ok"
    service.set_refresh("shop", "1h")
    cached = page(admin, "cus_a").json()
    assert cached["data"]["source"] == "cache"
    assert {k: v for k, v in cached.items() if k != "data"} == {
        k: v for k, v in live.items() if k != "data"
    }


def test_an_unknown_or_malformed_customer_is_refused(admin: Web) -> None:
    unknown = page(admin, "cus_nobody")
    assert unknown.status_code == 404
    assert "cus_nobody" in unknown.json()["message"]
    assert page(admin, "ch_a1").status_code == 422


def test_the_customer_page_names_the_customer_and_loads_from_the_api(admin: Web) -> None:
    html = admin.page(f"/data/{conn_id(admin)}/customers/cus_a")
    assert html.status_code == 200
    assert "cus_a" in html.text
    assert "customer.js" in html.text
