"""``flitch demo`` as a newcomer runs it: one command, then real-looking data in the browser.

The demo is started as a real process (on free ports, a small account); the test signs in with the
printed password over HTTP, as a browser would, and reads the demo connection's page and a
dataset. Stopping it (SIGTERM, as a service manager does) removes its temporary data directory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from flitch.cli.demo import CONNECTION_NAME, USER_NAME, demo_admin, demo_connection
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.auth import DEMO_TEST_KEY
from flitch.emulator.server import Emulator
from flitch.web.userdb import db_path
from flitch.web.users import UserStore


@contextmanager
def running_demo(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start ``flitch demo ARGS`` and read its output up to the sign-in line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("FLITCH_HOME", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "flitch", "demo", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("  Sign in as"):
                break
        assert any(line.startswith("  Sign in as") for line in lines), "\n".join(lines)
        yield process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def found(pattern: str, lines: list[str]) -> str:
    match = re.search(pattern, "\n".join(lines))
    assert match, (pattern, lines)
    return match.group(1)


def sign_in(client: httpx.Client, name: str, password: str, target: str) -> httpx.Response:
    form = client.get(f"/signin?next={target}")
    token = found(r'name="csrf_token" value="([^"]+)"', [form.text])
    return client.post(
        "/signin", data={"name": name, "password": password, "next": target, "csrf_token": token}
    )


def test_the_demo_serves_a_connection_with_data_in_one_step() -> None:
    with running_demo("--customers", "20") as (process, lines):
        url = found(r"Flitch demo: (http://\S+)", lines)
        page = found(r"Open http://\S+?(/data/conn_[a-z0-9]+)", lines)
        password = found(r"Sign in as demo with the password (\S+)", lines)
        home = Path(found(r"data in ([^;]+);", lines))
        assert home.exists()
        assert "records from 12 datasets" in "\n".join(lines)
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
            assert client.get(page).headers["location"].startswith("/signin?next=")
            signed = sign_in(client, USER_NAME, password, page)
            assert signed.status_code == 303, signed.text
            assert signed.headers["location"] == page
            html = client.get(page)
            assert html.status_code == 200
            assert CONNECTION_NAME in html.text
            assert "Refresh now" in html.text
            assert DEMO_TEST_KEY not in html.text
            conn = page.rsplit("/", 1)[1]
            charges = client.get(f"/api/v1/connections/{conn}/datasets/charges/rows")
            assert charges.status_code == 200, charges.text
            assert charges.json()["source"] == "cache"
            assert charges.json()["total"] > 0
            assert DEMO_TEST_KEY not in charges.text
            assert client.get(f"/data/{conn}/datasets/charges").status_code == 200
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert not home.exists(), "the temporary data directory is removed when the demo stops"


def test_a_kept_demo_home_is_reused(tmp_path: Path, tiny_emulator: Emulator) -> None:
    settings = Settings(home=tmp_path / "home", stripe_api_base=tiny_emulator.url)
    with ConnectionService(settings) as service:
        first = demo_connection(service, "1h")
        again = demo_connection(service, "off")
        assert again.id == first.id
        assert again.refresh == "off"
        assert [c.name for c in service.list()] == [CONNECTION_NAME]
    old = demo_admin(settings.home)
    new = demo_admin(settings.home)
    assert old != new
    users = UserStore(db_path(settings.home))
    assert users.verify(USER_NAME, new) is not None
    assert users.verify(USER_NAME, old) is None
