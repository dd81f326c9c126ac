"""The pages each live read took, kept in the metadata database on either engine: a restarted
process estimates the next load from them, and they go with their connection."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from flitch.query.live import LiveFetcher, shape
from flitch.query.page_counts import PageCounts, shape_hash
from flitch.query.reads import DatasetRead
from tests.conftest import TEST_KEY

READ = DatasetRead("charges")
WINDOW = DatasetRead("charges", created_gte=1_500_000_000, created_lt=1_500_000_000 + 30 * 86_400)


@pytest.fixture
def service(
    tmp_path: Path, emulator: Emulator, database_url: str | None
) -> Iterator[ConnectionService]:
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        database_url=database_url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


async def _pages_read(service: ConnectionService, read: DatasetRead) -> int:
    engine = QueryEngine(service.settings, service)
    try:
        streamed = await engine.stream("shop", [read])
        try:
            async for _ in streamed.arrivals():
                pass
            return streamed.states[0].pages
        finally:
            streamed.loaded.close()
    finally:
        await engine.aclose()


def _last_pages(service: ConnectionService, read: DatasetRead) -> int | None:
    fetcher = LiveFetcher(service.settings, service.db.db)  # a process that just started
    return fetcher.state(service.get("shop").id, read).last_pages


def test_a_restarted_process_estimates_from_the_pages_the_read_took(
    service: ConnectionService,
) -> None:
    assert _last_pages(service, READ) is None
    pages = asyncio.run(_pages_read(service, READ))
    assert pages > 1
    assert _last_pages(service, READ) == pages
    # another shape of read of the same list is another count
    assert _last_pages(service, WINDOW) is None
    window = asyncio.run(_pages_read(service, WINDOW))
    assert _last_pages(service, WINDOW) == window
    assert _last_pages(service, READ) == pages
    # a newer load of the same shape replaces the count
    conn = service.get("shop").id
    PageCounts(service.db.db).record((conn, shape(READ)), pages + 5)
    assert _last_pages(service, READ) == pages + 5


def test_the_counts_go_with_their_connection(service: ConnectionService) -> None:
    asyncio.run(_pages_read(service, READ))
    assert service.db.db.query("SELECT count(*) FROM live_read_pages")[0][0] == 1
    service.delete("shop")
    assert service.db.db.query("SELECT count(*) FROM live_read_pages")[0][0] == 0


def test_without_a_database_the_counts_stay_in_the_process() -> None:
    counts = PageCounts()
    assert counts.get(("conn_x", ("charges",))) is None
    counts.record(("conn_x", ("charges",)), 3)
    assert counts.get(("conn_x", ("charges",))) == 3
    assert PageCounts().get(("conn_x", ("charges",))) is None


def test_a_shape_is_named_the_same_in_every_process() -> None:
    code = (
        "from flitch.query.live import shape; from flitch.query.page_counts import shape_hash;"
        "from tests.query.test_page_counts import WINDOW; print(shape_hash(shape(WINDOW)))"
    )
    for seed in ("1", "2"):  # str hashing differs between these processes; the name does not
        other = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            check=True,
        )
        assert other.stdout.strip() == shape_hash(shape(WINDOW))
    assert shape_hash(shape(WINDOW)) != shape_hash(shape(READ))
    assert len(shape_hash(shape(READ))) == 32
