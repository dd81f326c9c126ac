"""Datasets through the JSON API, against the tiny emulator account over real HTTP.

Listing a connection's datasets, paging one (sorted, within a time range; live with refresh off,
narrowed to the range; from the cache with refresh on), exporting it, refreshing now with
progress, and who may do each. No answer ever carries a key.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import duckdb
import pytest

from flitch.emulator.server import Emulator
from tests.conftest import TEST_KEY, TINY_NOW
from tests.web.conftest import Web

#: What the tiny account's test mode lists (Stripe hides the deleted customer and the one on a
#: test clock; it lists canceled subscriptions only with status=all, which Flitch asks for).
CUSTOMERS = 10
CHARGES = 6


@pytest.fixture(autouse=True)
def _stop_background_work(request: pytest.FixtureRequest) -> Iterator[None]:
    """Stop the app's refresh threads and its query loop once the test is done."""
    if "admin_web" not in request.fixturenames:
        yield
        return
    ctx = request.getfixturevalue("admin_web").app.state.flitch
    yield
    ctx.refreshes.close()
    ctx.queries.close()


def connect(web: Web, name: str = "Main", key: str = TEST_KEY, **extra: Any) -> str:
    made = web.api("POST", "/api/v1/connections", {"name": name, "key": key, **extra})
    assert made.status_code == 201, made.text
    return str(made.json()["connection"]["id"])


def rows(web: Web, conn: str, dataset: str, **params: Any) -> Any:
    return web.api("GET", f"/api/v1/connections/{conn}/datasets/{dataset}/rows", params=params)


def wait_for(web: Web, job_id: str) -> dict[str, Any]:
    """Poll a refresh's progress until it ends (as the page does)."""
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = web.api("GET", f"/api/v1/refreshes/{job_id}").json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def refresh_now(web: Web, conn: str, **body: Any) -> dict[str, Any]:
    started = web.api("POST", f"/api/v1/connections/{conn}/refresh", body)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running"
    return wait_for(web, started.json()["id"])


def test_a_connections_datasets_are_listed_with_columns_and_status(
    admin_web: Web, viewer_web: Web
) -> None:
    conn = connect(admin_web, objects=["customers", "charges", "subscriptions"])
    listed = viewer_web.api("GET", f"/api/v1/connections/{conn}/datasets").json()
    assert listed["connection"] == {"id": conn, "name": "Main", "mode": "test", "refresh": "off"}
    assert [d["name"] for d in listed["datasets"]] == ["customers", "charges", "subscriptions"]
    assert listed["problems"] == []
    charges = listed["datasets"][1]
    assert charges["served"] == "live"
    assert charges["rows"] is None
    assert charges["status"] == "ok"
    types = {c["name"]: (c["type"], c["sortable"]) for c in charges["columns"]}
    assert types["amount"] == ("amount", True)
    assert types["created"] == ("timestamp", True)
    assert types["metadata"] == ("json", False)
    one = viewer_web.api("GET", f"/api/v1/connections/{conn}/datasets/charges").json()
    assert one == charges
    missing = viewer_web.api("GET", f"/api/v1/connections/{conn}/datasets/coupons")
    assert missing.status_code == 404
    assert "customers, charges, subscriptions" in missing.json()["fix"]


def test_live_rows_are_sorted_paged_and_narrowed_to_the_range(
    admin_web: Web, viewer_web: Web, tiny_emulator: Emulator
) -> None:
    conn = connect(admin_web)
    first = rows(viewer_web, conn, "customers", limit=4, sort="email", order="asc")
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["source"] == "live"
    assert page["total"] == CUSTOMERS
    assert page["requests"] >= 1
    names = [c["name"] for c in page["columns"]]
    assert "raw" not in names
    emails = [r[names.index("email")] for r in page["rows"]]
    assert emails == sorted(emails)
    assert len(emails) == 4
    rest = rows(viewer_web, conn, "customers", limit=4, offset=8, sort="email", order="asc").json()
    last = [r[names.index("email")] for r in rest["rows"]]
    assert len(last) == CUSTOMERS - 8
    assert max(emails) < min(last)

    tiny_emulator.log.clear()
    since = TINY_NOW - 9 * 86400
    ranged = rows(viewer_web, conn, "customers", created_from=f"{since}", limit=100).json()
    created = [r[names.index("created")] for r in ranged["rows"]]
    assert 0 < ranged["total"] < CUSTOMERS
    assert ranged["created_from"] is not None
    assert all(c >= ranged["created_from"] for c in created)
    # The live read asked Stripe for the range only.
    queries = [e.query for e in tiny_emulator.log.entries if e.path == "/v1/customers"]
    assert queries
    assert all(f"created[gte]={since}" in unquote(q) for q in queries), queries


def test_bad_page_requests_say_what_would_work(admin_web: Web) -> None:
    conn = connect(admin_web, objects=["charges"])
    by_json = rows(admin_web, conn, "charges", sort="metadata")
    assert by_json.status_code == 400
    assert "amount" in by_json.json()["fix"]
    unknown = rows(admin_web, conn, "charges", sort="nope; drop table")
    assert unknown.status_code == 400
    empty_range = rows(
        admin_web, conn, "charges", created_from="2026-05-02T00:00:00Z", created_to="2026-05-01"
    )
    assert empty_range.status_code == 400
    assert "before the end" in empty_range.json()["fix"]
    assert rows(admin_web, conn, "charges", limit=0).status_code == 422
    assert rows(admin_web, conn, "charges", created_from="yesterday").status_code == 422
    assert rows(admin_web, "conn_nothinghere00", "charges").status_code == 404


def test_refresh_now_reports_progress_then_pages_come_from_the_cache(
    admin_web: Web, viewer_web: Web
) -> None:
    conn = connect(admin_web, objects=["customers", "charges", "balance_transactions"])
    patched = admin_web.api("PATCH", f"/api/v1/connections/{conn}", {"refresh": "1h"})
    assert patched.status_code == 200
    refused = viewer_web.api("POST", f"/api/v1/connections/{conn}/refresh", {})
    assert refused.status_code == 403

    job = refresh_now(admin_web, conn)
    assert job["state"] == "ok", job
    assert job["error"] is None
    assert job["run_id"].startswith("run_")
    by_object = {d["object"]: d for d in job["datasets"]}
    assert set(by_object) == {"customers", "charges", "balance_transactions"}
    assert by_object["customers"]["records_read"] == CUSTOMERS
    assert by_object["charges"]["status"] == "done"
    assert all(d["pages"] >= 1 for d in by_object.values())
    assert job["records"] == sum(d["records_read"] for d in by_object.values())
    assert job["requests"] >= 3

    # Anyone signed in may follow it, and the connection's state shows it.
    assert viewer_web.api("GET", f"/api/v1/refreshes/{job['id']}").json()["state"] == "ok"
    state = viewer_web.api("GET", f"/api/v1/connections/{conn}/refresh").json()
    assert state["job"]["id"] == job["id"]
    assert state["last_run"]["outcome"] == "ok"

    listed = viewer_web.api("GET", f"/api/v1/connections/{conn}/datasets").json()
    counts = {d["name"]: (d["served"], d["rows"]) for d in listed["datasets"]}
    assert counts["customers"] == ("cache", CUSTOMERS)
    assert counts["charges"] == ("cache", CHARGES)
    assert all(d["last_refresh_at"] for d in listed["datasets"])
    cached = rows(viewer_web, conn, "charges", sort="amount", order="desc").json()
    assert cached["source"] == "cache"
    assert cached["requests"] == 0
    amounts = [r[[c["name"] for c in cached["columns"]].index("amount")] for r in cached["rows"]]
    assert amounts == sorted(amounts, reverse=True)
    assert len(amounts) == CHARGES


def test_a_second_refresh_now_waits_for_the_first(admin_web: Web) -> None:
    conn = connect(admin_web, objects=["customers"])
    first = admin_web.api("POST", f"/api/v1/connections/{conn}/refresh", {"full": True})
    second = admin_web.api("POST", f"/api/v1/connections/{conn}/refresh")
    # Either the first is still at work (409) or it already ended and a new one starts.
    assert second.status_code in (202, 409), second.text
    if second.status_code == 409:
        assert first.json()["id"] in second.json()["fix"]
    wait_for(admin_web, first.json()["id"])
    if second.status_code == 202:
        wait_for(admin_web, second.json()["id"])
    assert admin_web.api("GET", "/api/v1/refreshes/rj_unknown").status_code == 404


@pytest.mark.parametrize("refresh", ["off", "1h"])
def test_export_downloads_the_whole_dataset(admin_web: Web, viewer_web: Web, refresh: str) -> None:
    conn = connect(admin_web, objects=["charges"], refresh=refresh)
    if refresh != "off":
        assert refresh_now(admin_web, conn)["state"] == "ok"
    base = f"/api/v1/connections/{conn}/datasets/charges/export"
    as_csv = viewer_web.api("GET", base, params={"format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="Main-charges-' in as_csv.headers["content-disposition"]
    assert as_csv.headers["x-flitch-source"] == ("live" if refresh == "off" else "cache")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(table) == CHARGES
    assert {r["id"] for r in table} == {f"ch_tiny{i}" for i in range(CHARGES)}

    as_parquet = viewer_web.api("GET", base, params={"format": "parquet"})
    assert as_parquet.status_code == 200
    assert as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert as_parquet.content[:4] == b"PAR1"
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?)", [_write(as_parquet.content)])
    assert con.execute("SELECT count(*) FROM t").fetchone() == (CHARGES,)
    assert admin_web.api("GET", base, params={"format": "xlsx"}).status_code == 422


def _write(content: bytes) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".parquet", delete=False) as handle:
        handle.write(content)
        return handle.name


def test_deleting_a_refreshed_connection_clears_its_cache(admin_web: Web) -> None:
    conn = connect(admin_web, objects=["customers", "charges"], refresh="1h")
    assert refresh_now(admin_web, conn)["state"] == "ok"
    assert rows(admin_web, conn, "charges").json()["source"] == "cache"
    cache = admin_web.app.state.flitch.connections.cache_dir(conn)
    assert any(cache.iterdir())
    deleted = admin_web.api("DELETE", f"/api/v1/connections/{conn}")
    assert deleted.status_code == 200
    assert deleted.json()["cache_cleared"] is True
    assert not cache.exists()
    assert admin_web.api("GET", f"/api/v1/connections/{conn}/datasets").status_code == 404


def test_deleting_during_a_refresh_stops_it_first(admin_web: Web, tiny_emulator: Emulator) -> None:
    tiny_emulator.config.latency_ms = 200  # slow enough that the refresh is still reading
    conn = connect(admin_web, refresh="1h")
    started = admin_web.api("POST", f"/api/v1/connections/{conn}/refresh", {"full": True})
    assert started.status_code == 202
    deleted = admin_web.api("DELETE", f"/api/v1/connections/{conn}")
    assert deleted.status_code == 200, deleted.text
    job = admin_web.api("GET", f"/api/v1/refreshes/{started.json()['id']}").json()
    assert job["state"] in ("stopped", "ok"), job
    assert not admin_web.app.state.flitch.connections.cache_dir(conn).exists()
