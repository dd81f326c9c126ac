"""What the dashboards tests share: the app on the emulator's 60-customer account with its clock
at the account's last day (so "the last 30 days" has data), signed-in clients, and readers of a
dashboard's JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI

from flitch.config import Settings
from flitch.emulator.server import Emulator
from flitch.web import create_app
from tests.conftest import TEST_KEY
from tests.timeline import ACCOUNT_NOW
from tests.web.conftest import VIEWER, Web, cheap_hasher

T = TypeVar("T")


def on_own_thread(work: Callable[[], T]) -> T:
    """``work()`` on a thread of its own. Playwright's sync API leaves the main thread of a
    test process with a running event loop once a browser test has run there, and
    ``asyncio.run`` refuses to start inside one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def board_settings(home: Path, emulator: Emulator) -> Settings:
    return Settings(
        home=home,
        stripe_api_base=emulator.url,
        max_retries=0,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )


@contextmanager
def dashboards_app(tmp_path: Path, emulator: Emulator) -> Iterator[FastAPI]:
    """The app with the connection ``shop`` (Read on everything; refresh off: every load is
    live), its clock at the account's last day."""
    app = create_app(
        board_settings(tmp_path / "home", emulator),
        password_hasher=cheap_hasher(),
        clock=lambda: float(ACCOUNT_NOW),
    )
    app.state.flitch.connections.create("shop", TEST_KEY)
    try:
        yield app
    finally:
        app.state.flitch.queries.close()
        app.state.flitch.connections.close()


def signed_in_admin(app: FastAPI) -> Web:
    web = Web(app)
    assert web.setup().status_code == 303
    web.page("/data")
    return web


def signed_in_viewer(admin: Web) -> Web:
    made = admin.api("POST", "/api/v1/users", {"name": VIEWER[0], "password": VIEWER[1]})
    assert made.status_code == 201, made.text
    web = Web(admin.app)
    web.sign_in(*VIEWER)
    return web


def conn_id(web: Web, name: str = "shop") -> str:
    return str(web.app.state.flitch.connections.get(name).id)


def board(web: Web, name: str, **params: str) -> dict[str, Any]:
    """A dashboard's JSON for ``shop`` (the answer must be a 200)."""
    answer = web.api("GET", f"/api/v1/connections/{conn_id(web)}/dashboards/{name}", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def chart(data: dict[str, Any], chart_id: str) -> dict[str, Any]:
    return next(c for c in data["charts"] if c["id"] == chart_id)


def without_provenance(data: dict[str, Any]) -> dict[str, Any]:
    """The dashboard without what says how it was read."""
    return {k: v for k, v in data.items() if k not in ("data", "elapsed_ms", "connection")}
