"""``flitch users`` and ``flitch tokens`` on the same database the web app reads."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flitch.cli import app as cli
from flitch.config import Settings
from flitch.web import create_app
from tests.web.conftest import cheap_hasher


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("FLITCH_HOME", str(path))
    return path


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def test_users_add_list_and_refusals(home: Path) -> None:
    added = run("users", "add", "ada", "--role", "admin", stdin="a long enough password\n")
    assert added.exit_code == 0, added.output
    assert "Added ada (admin)" in added.output
    listed = run("users", "list")
    assert "ada" in listed.output
    assert "admin" in listed.output
    short = run("users", "add", "bob", stdin="short\n")
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output
    bad_role = run("users", "add", "bob", "--role", "owner", stdin="a long enough password\n")
    assert "'admin'" in bad_role.output
    last = run("users", "delete", "ada")
    assert last.exit_code == 2
    assert "only admin" in last.output


def test_a_cli_token_works_against_the_api(home: Path) -> None:
    run("users", "add", "vic", "--role", "viewer", stdin="viewer password 1\n")
    created = run("tokens", "create", "vic", "--label", "export")
    secret = created.output.splitlines()[0]
    assert secret.startswith("flt_")
    app = create_app(Settings.from_env(), password_hasher=cheap_hasher())
    try:
        client = TestClient(app, base_url="http://localhost")
        bearer = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/me", headers=bearer).json()["name"] == "vic"
        assert client.get("/api/v1/users", headers=bearer).status_code == 403
        listed = run("tokens", "list").output
        assert secret[:8] in listed
        assert secret not in listed
        token_id = listed.split()[0]
        assert run("tokens", "revoke", token_id).exit_code == 0
        assert client.get("/api/v1/me", headers=bearer).status_code == 401
    finally:
        app.state.flitch.connections.close()


def test_password_reset_from_the_terminal(home: Path) -> None:
    run("users", "add", "ada", "--role", "admin", stdin="first password 1\n")
    changed = run("users", "password", "ada", stdin="second password 2\n")
    assert changed.exit_code == 0
    app = create_app(Settings.from_env(), password_hasher=cheap_hasher())
    try:
        users = app.state.flitch.users
        assert users.verify("ada", "second password 2") is not None
        assert users.verify("ada", "first password 1") is None
    finally:
        app.state.flitch.connections.close()


def test_flitch_serve_answers_over_http(home: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "flitch", "serve", "--port", str(port), "--no-scheduler"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/data", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "flitch serve did not start"
                time.sleep(0.1)
        # No account yet: the app leads to the first-run page.
        assert (response.status_code, response.headers["location"]) == (303, "/setup")
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/me").status_code == 401
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in output
    assert "/setup" in output
