"""First run against DNS rebinding: the app answers only to the names it serves, and creating the
first account takes the one-time code printed on the server's console."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from flitch.config import Settings
from tests.web.conftest import ADMIN, Web

REBIND = "rebind.evil.example"


def first_account(web: Web, code: str | None, **headers: str) -> object:
    web.page("/setup", headers=headers)
    form = {"name": ADMIN[0], "password": ADMIN[1], "password_again": ADMIN[1]}
    if code is not None:
        form["setup_code"] = code
    return web.form("/setup", form, headers=headers)


def test_a_rebinding_name_cannot_create_the_admin(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    web = Web(app, base_url=f"http://{REBIND}:8765")
    code = app.state.flitch.setup_code()
    page = web.page("/setup")
    assert page.status_code == 400
    assert "FLITCH_ALLOWED_HOSTS" in page.text
    assert REBIND in page.text
    made = first_account(web, code, Origin=f"http://{REBIND}:8765")
    assert made.status_code == 400  # type: ignore[attr-defined]
    assert app.state.flitch.users.count() == 0
    api = web.client.get("/api/v1/me")
    assert api.status_code == 400
    assert "FLITCH_ALLOWED_HOSTS" in api.json()["fix"]
    assert api.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "base", ["http://localhost", "http://127.0.0.1:8765", "http://[::1]:8765", "http://LOCALHOST."]
)
def test_the_local_names_are_answered(make_app: Callable[..., FastAPI], base: str) -> None:
    response = Web(make_app(), base_url=base).page("/data")
    assert (response.status_code, response.headers["location"]) == (303, "/setup")


def test_allowed_hosts_adds_names_and_domains(
    make_app: Callable[..., FastAPI], web_settings: Settings
) -> None:
    app = make_app(replace(web_settings, allowed_hosts=" flitch.example.com , .corp.example"))
    for name, status in (
        ("flitch.example.com", 303),
        ("corp.example", 303),
        ("dash.corp.example:443", 303),
        ("evilcorp.example", 400),
        ("example.com", 400),
        (REBIND, 400),
    ):
        response = Web(app).client.get("/data", headers={"Host": name})
        assert response.status_code == status, name
    anything = make_app(replace(web_settings, allowed_hosts="*"))
    assert Web(anything).client.get("/data", headers={"Host": REBIND}).status_code == 303


def test_bound_to_every_interface_any_address_is_answered(
    make_app: Callable[..., FastAPI], web_settings: Settings
) -> None:
    app = make_app(replace(web_settings, host="0.0.0.0"))
    for name, status in (
        ("192.0.2.10:8765", 303),
        ("[2001:db8::1]:8765", 303),
        (socket.gethostname(), 303),
        (REBIND, 400),
    ):
        response = Web(app).client.get("/data", headers={"Host": name})
        assert response.status_code == status, name


def test_a_trusted_proxy_is_checked_by_the_name_it_forwards(
    make_app: Callable[..., FastAPI], web_settings: Settings
) -> None:
    app = make_app(replace(web_settings, allowed_hosts="flitch.example.com"), trust_proxy=True)
    ok = Web(app).client.get("/data", headers={"X-Forwarded-Host": "flitch.example.com"})
    assert ok.status_code == 303
    refused = Web(app).client.get("/data", headers={"X-Forwarded-Host": REBIND})
    assert refused.status_code == 400


def test_host_names_as_compared() -> None:
    from flitch.web.hosts import host_name

    assert host_name("LocalHost:8765") == "localhost"
    assert host_name("[::1]:8765") == "::1"
    assert host_name("example.com.") == "example.com"
    assert host_name("::1") == "::1"


# -- the setup code ------------------------------------------------------------------------------


def test_the_first_account_needs_the_setup_code(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    code = app.state.flitch.setup_code()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", code), code
    assert app.state.flitch.setup_code() == code, "the same code until it is used"
    web = Web(app)
    for wrong in (None, "", "AAAA-BBBB-CCCC-DDDD"):
        refused = first_account(web, wrong)
        assert refused.status_code == 403, wrong  # type: ignore[attr-defined]
        assert "setup code" in refused.text  # type: ignore[attr-defined]
        assert app.state.flitch.users.count() == 0
    # Typed by hand: lower case and without dashes is the same code.
    done = first_account(web, code.replace("-", " ").lower())
    assert (done.status_code, done.headers["location"]) == (303, "/data")  # type: ignore[attr-defined]
    assert app.state.flitch.setup_code() is None, "used up"


def test_the_link_fills_the_code_in(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    code = app.state.flitch.setup_code()
    page = Web(app).page(f"/setup?code={code}")
    assert f'value="{code}"' in page.text


def test_adding_a_user_from_the_terminal_ends_the_code(make_app: Callable[..., FastAPI]) -> None:
    from flitch.web.users import Role

    app = make_app()
    assert app.state.flitch.setup_code() is not None
    app.state.flitch.users.add(*ADMIN, Role.ADMIN)
    assert app.state.flitch.setup_code() is None


def test_flitch_serve_prints_the_setup_code(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "FLITCH_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "flitch", "serve", "--port", str(port), "--no-scheduler"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert server.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not any("Setup code:" in line for line in list(lines)):
            assert time.monotonic() < deadline, "no setup code printed: " + "".join(lines)
            assert server.poll() is None, "".join(lines)
            time.sleep(0.05)
        text = "".join(lines)
        code = re.search(r"Setup code: (\S+)", text)
        assert code, text
        assert f"http://127.0.0.1:{port}/setup?code={code.group(1)}" in text
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "flitch serve did not start"
                time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=30) as client:
            form = client.get(f"/setup?code={code.group(1)}")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token, form.text
            data = {"name": ADMIN[0], "password": ADMIN[1], "password_again": ADMIN[1]}
            data |= {"csrf_token": token.group(1), "setup_code": code.group(1)}
            done = client.post("/setup", data=data)
            assert (done.status_code, done.headers["location"]) == (303, "/data")
    finally:
        server.terminate()
        server.communicate(timeout=30)
