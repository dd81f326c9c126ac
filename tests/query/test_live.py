"""Live queries over real HTTP against the emulator: what is read, what is answered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import duckdb
import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.errors import InputError, PermissionMissing
from flitch.query.engine import QueryEngine
from flitch.query.reads import DatasetRead
from flitch.refresh.runner import refresh
from flitch.store.base import QueryRefused
from tests.conftest import LIMITED_KEY, TEST_KEY


@pytest.fixture
def settings(tmp_path: Path, emulator: Emulator) -> Settings:
    return Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[ConnectionService]:
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        svc.create("limited", LIMITED_KEY)
        yield svc


def run(service: ConnectionService, coro_fn):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        engine = QueryEngine(service.settings, service)
        try:
            return await coro_fn(engine)
        finally:
            await engine.aclose()

    return asyncio.run(go())


def list_requests(emulator: Emulator, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(e.query) for e in emulator.log.entries if e.path == path]


def test_live_answer_matches_the_account(emulator: Emulator, service: ConnectionService) -> None:
    emulator.log.clear()
    answer = run(service, lambda e: e.sql("shop", "SELECT id FROM charges ORDER BY id"))
    expected = sorted(o["id"] for o in emulator.account.test.ordered("charge").objects)
    assert [r[0] for r in answer.result.rows] == expected
    assert answer.provenance.source == "live"
    assert answer.provenance.requests >= 1
    # only the dataset the query names was read, and nothing but GETs were sent
    assert {e.path for e in emulator.log.entries} == {"/v1/charges"}
    assert {e.method for e in emulator.log.entries} == {"GET"}


def test_created_range_is_pushed_down(emulator: Emulator, service: ConnectionService) -> None:
    charges = emulator.account.test.ordered("charge").objects
    cut = sorted(o["created"] for o in charges)[len(charges) // 2]
    sql = f"SELECT count(*) FROM charges WHERE created >= to_timestamp({cut})"
    emulator.log.clear()
    answer = run(service, lambda e: e.sql("shop", sql))
    narrowed = len(emulator.log.entries)
    assert answer.result.rows[0][0] == sum(1 for o in charges if o["created"] >= cut)
    assert all(q.get("created[gte]") == [str(cut)] for q in list_requests(emulator, "/v1/charges"))
    emulator.log.clear()
    run(service, lambda e: e.sql("shop", "SELECT count(*) FROM charges"))
    assert narrowed < len(emulator.log.entries)


def test_filters_are_pushed_down(emulator: Emulator, service: ConnectionService) -> None:
    subs = emulator.account.test.ordered("subscription").objects
    emulator.log.clear()
    answer = run(
        service,
        lambda e: e.sql("shop", "SELECT count(*) FROM subscriptions WHERE status = 'canceled'"),
    )
    assert answer.result.rows[0][0] == sum(1 for s in subs if s["status"] == "canceled")
    queries = list_requests(emulator, "/v1/subscriptions")
    assert queries
    assert all(q["status"] == ["canceled"] for q in queries)


def test_identical_concurrent_reads_share_one_fetch(
    emulator: Emulator, service: ConnectionService
) -> None:
    async def two_at_once(engine: QueryEngine) -> list[int]:
        answers = await asyncio.gather(
            engine.sql("shop", "SELECT count(*) FROM customers"),
            engine.sql("shop", "SELECT count(*) FROM customers WHERE email IS NOT NULL"),
        )
        return [a.provenance.requests for a in answers]

    emulator.config.latency_ms = 50  # keep the first fetch in flight while the second asks
    emulator.log.clear()
    requests = run(service, two_at_once)
    alone = len(emulator.log.entries)
    emulator.log.clear()
    run(service, lambda e: e.sql("shop", "SELECT count(*) FROM customers"))
    assert alone == len(emulator.log.entries)  # two queries at once cost what one costs
    assert requests == [alone, alone]


def test_a_load_reads_each_list_once(emulator: Emulator, service: ConnectionService) -> None:
    reads = [
        DatasetRead("charges", created_gte=1),
        DatasetRead("charges", created_gte=2),
        DatasetRead("customers"),
    ]

    async def load(engine: QueryEngine) -> tuple[int, int]:
        loaded = await engine.load("shop", reads)
        try:
            n = loaded.query("SELECT count(*) FROM charges").rows[0][0]
            return n, loaded.provenance.requests
        finally:
            loaded.close()

    emulator.log.clear()
    count, requests = run(service, load)
    assert count == emulator.account.test.count("charge")
    assert requests == len(emulator.log.entries)
    gtes = {q.get("created[gte]", ["-"])[0] for q in list_requests(emulator, "/v1/charges")}
    assert "2" not in gtes  # merged into one read from created ≥ 1


def test_datasets_outside_the_connection_are_named(service: ConnectionService) -> None:
    with pytest.raises(PermissionMissing, match="subscriptions") as info:
        run(service, lambda e: e.sql("limited", "SELECT * FROM subscriptions"))
    assert "Read Subscriptions" in info.value.fix
    service.set_objects("shop", "customers")
    with pytest.raises(InputError, match="does not include charges"):
        run(service, lambda e: e.sql("shop", "SELECT * FROM charges"))


def test_only_reads_are_answered(emulator: Emulator, service: ConnectionService) -> None:
    emulator.log.clear()
    for sql in ("DELETE FROM charges", "SELECT 1; DROP TABLE charges", "COPY charges TO 'x.csv'"):
        with pytest.raises(QueryRefused):
            run(service, lambda e, sql=sql: e.sql("shop", sql))
    assert emulator.log.entries == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_live_export(
    emulator: Emulator, service: ConnectionService, tmp_path: Path, fmt: str
) -> None:
    dest = tmp_path / f"customers.{fmt}"

    async def export(engine: QueryEngine) -> int:
        loaded = await engine.load("shop", [DatasetRead("customers")])
        try:
            return loaded.export(DatasetRead("customers").spec, fmt, dest).rows  # type: ignore[arg-type]
        finally:
            loaded.close()

    rows = run(service, export)
    assert rows == emulator.account.test.count("customer") - sum(
        1 for o in emulator.account.test.ordered("customer").objects if o.get("test_clock")
    )
    reader = "read_csv_auto" if fmt == "csv" else "read_parquet"
    back = duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{dest}')").fetchall()
    assert back == [(rows,)]


def test_derived_tables_answer_live_as_from_the_cache(
    emulator: Emulator, service: ConnectionService
) -> None:
    sql = (
        "SELECT s.subscription, s.span_from, s.span_to, round(s.mrr, 6) FROM derived_mrr_spans s "
        "JOIN invoices i ON i.subscription = s.subscription "
        "WHERE i.created >= now() - INTERVAL 30 DAY GROUP BY ALL ORDER BY ALL"
    )
    emulator.log.clear()
    live = run(service, lambda e: e.sql("shop", sql))
    assert live.provenance.source == "live"
    assert live.result.rows
    # what the spans are built from is read, and read whole, despite the filter on invoices
    paths = {e.path for e in emulator.log.entries}
    assert {"/v1/invoices", "/v1/subscriptions", "/v1/prices", "/v1/coupons"} <= paths
    (invoices,) = [r for r in live.provenance.reads if r.dataset == "invoices"]
    assert invoices == DatasetRead("invoices")

    assert refresh(service, "shop", full=True).outcome.value == "ok"
    service.set_refresh("shop", "1h")
    cached = run(service, lambda e: e.sql("shop", sql))
    assert cached.provenance.source == "cache"
    assert cached.result.rows == live.result.rows
