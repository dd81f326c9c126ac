"""Web fixtures: apps on a private FLITCH_HOME, signed-in clients, a live server, a browser.

- ``web_settings``: settings on a fresh data directory, Stripe pointed at the shared emulator.
- ``make_app(settings=None, **kwargs)``: ``create_app(settings or web_settings, ...)`` with a
  cheap (still argon2id) hasher.
- ``Web``: a ``TestClient`` with helpers to set up, sign in and call the API with the page's
  anti-forgery token, as the pages' JavaScript does.
- ``live_server``: the app served by uvicorn on 127.0.0.1 on a free port, in a thread.
- ``browser`` (session): one headless Chromium (``/usr/bin/chromium``) for all browser tests;
  ``page``: a fresh context and page per test. ``shot(page, name)`` saves a screenshot into
  ``artifacts/screenshots/`` (ignored by git).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from flitch.config import Settings
from flitch.emulator.server import Emulator
from flitch.web import create_app

ADMIN = ("ada", "correct horse battery")
VIEWER = ("vic", "viewer password 1")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def cheap_hasher() -> PasswordHasher:
    """Real argon2id, at a cost small enough for tests."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def web_settings(tmp_path: Path, tiny_emulator: Emulator) -> Settings:
    return Settings(
        home=tmp_path / "home",
        secret_key=None,
        stripe_api_base=tiny_emulator.url,
        max_retries=0,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )


@pytest.fixture
def make_app(web_settings: Settings) -> Iterator[Callable[..., FastAPI]]:
    apps: list[FastAPI] = []

    def make(settings: Settings | None = None, **kwargs: Any) -> FastAPI:
        kwargs.setdefault("password_hasher", cheap_hasher())
        app = create_app(settings or web_settings, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.flitch.connections.close()


class Web:
    """A browser-like client of the app: cookies, plus the page's anti-forgery token."""

    def __init__(self, app: FastAPI, base_url: str = "http://localhost") -> None:
        self.app = app
        self.client = TestClient(app, base_url=base_url, follow_redirects=False)
        self.csrf = ""

    def page(self, path: str, **kwargs: Any) -> Any:
        response = self.client.get(path, **kwargs)
        found = re.search(r'<meta name="csrf-token" content="([^"]*)"', response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def form(self, path: str, data: dict[str, str], **kwargs: Any) -> Any:
        """Post a form as the browser does: with the token the page rendered."""
        return self.client.post(path, data={"csrf_token": self.csrf, **data}, **kwargs)

    def api(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.request(method, path, json=json, headers=headers, **kwargs)

    def setup(self, name: str = ADMIN[0], password: str = ADMIN[1]) -> Any:
        """Create the first account with the setup code the server's console would show."""
        self.page("/setup")
        code = self.app.state.flitch.setup_code() or ""
        form = {"name": name, "password": password, "password_again": password}
        return self.form("/setup", {**form, "setup_code": code})

    def sign_in(self, name: str, password: str) -> Any:
        self.page("/signin")
        response = self.form("/signin", {"name": name, "password": password})
        self.page("/data")
        return response


@pytest.fixture
def admin_web(make_app: Callable[..., FastAPI]) -> Web:
    """A client signed in as the first admin (created through the first-run page)."""
    web = Web(make_app())
    assert web.setup().status_code == 303
    web.page("/data")
    return web


@pytest.fixture
def viewer_web(admin_web: Web) -> Web:
    """A client signed in as a viewer, on the same app as ``admin_web``."""
    created = admin_web.api("POST", "/api/v1/users", {"name": VIEWER[0], "password": VIEWER[1]})
    assert created.status_code == 201, created.text
    web = Web(admin_web.app)
    web.sign_in(*VIEWER)
    return web


# -- a live server -----------------------------------------------------------------------------


@dataclass
class LiveServer:
    app: FastAPI
    url: str


def serve_in_thread(app: FastAPI) -> tuple[LiveServer, Callable[[], None]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, proxy_headers=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return LiveServer(app, f"http://127.0.0.1:{port}"), stop


@pytest.fixture
def live_server(make_app: Callable[..., FastAPI]) -> Iterator[LiveServer]:
    server, stop = serve_in_thread(make_app())
    yield server
    stop()


# -- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Console errors include refused resources (Content-Security-Policy) and failed loads.
    # Pages answered 4xx on purpose (a wrong password, a viewer refused) log "Failed to load
    # resource" for the document itself; those are expected and left out.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"errors in the browser console: {errors}"


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
