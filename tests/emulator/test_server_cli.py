"""``flitch emulator`` and ``flitch demo`` as a user runs them: a real process on a free port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from typer.testing import CliRunner

from flitch.cli.app import app
from flitch.emulator.auth import DEMO_LIMITED_KEY, DEMO_TEST_KEY

KEY = "rk_test_51CommandLineKeyForTheTestsOnly9zZz"
OTHER = "rk_live_51CommandLineRevokedKeyForTests7yYy"


@contextmanager
def running(*args: str) -> Iterator[tuple[str, list[str]]]:
    """Start ``flitch ARGS`` on a free port; yields its URL and what it printed so far."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flitch", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        url = None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                url = found.group(1)
            if url and line.startswith("Admin API"):
                break
        assert url, "\n".join(lines)
        yield url, lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_help_documents_every_flag() -> None:
    result = CliRunner().invoke(app, ["emulator", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in (
        "--port",
        "--host",
        "--seed",
        "--customers",
        "--key",
        "--revoked-key",
        "--live-rps",
        "--test-rps",
        "--endpoint-rps",
        "--max-in-flight",
        "--latency-ms",
        "--fault-rate",
    ):
        assert flag in result.output, flag


def test_a_malformed_key_is_refused_with_advice() -> None:
    result = CliRunner().invoke(app, ["emulator", "--key", "hello"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "does not look like a Stripe key" in result.output
    result = CliRunner().invoke(
        app, ["emulator", "--key", f"{KEY}=customers,widgets"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "widgets" in result.output
    assert KEY not in result.output


def test_emulator_command_serves_the_given_keys() -> None:
    args = ["emulator", "--customers", "15", "--key", f"{KEY}=customers,events"]
    with running(*args, "--revoked-key", OTHER) as (url, lines):
        text = "\n".join(lines)
        assert f"export FLITCH_STRIPE_API_BASE={url}" in text
        assert "curl -u" in text
        assert "customer" in text  # the account summary
        ok = httpx.get(url + "/v1/customers?limit=2", auth=(KEY, ""))
        assert ok.status_code == 200
        assert len(ok.json()["data"]) == 2
        refused = httpx.get(url + "/v1/charges", auth=(KEY, ""))
        assert refused.status_code == 403
        assert "rak_charge_read" in refused.json()["error"]["message"]
        expired = httpx.get(url + "/v1/customers", auth=(OTHER, ""))
        assert expired.json()["error"]["code"] == "api_key_expired"
        demo = httpx.get(url + "/v1/customers", auth=(DEMO_TEST_KEY, ""))
        assert demo.status_code == 401  # given keys replace the demo keys
        assert KEY not in text  # keys given on the command line are masked
        assert OTHER not in text


def test_demo_prints_its_keys_and_a_tour() -> None:
    with running("demo", "--customers", "10") as (url, lines):
        text = "\n".join(lines)
        assert DEMO_TEST_KEY in text
        assert DEMO_LIMITED_KEY in text
        assert "Rate limits: live 100.0/s, test 25.0/s" in text
        assert httpx.get(url + "/v1/customers", auth=(DEMO_TEST_KEY, "")).status_code == 200
        assert httpx.get(url + "/v1/events", auth=(DEMO_LIMITED_KEY, "")).status_code == 403


def test_changes_command_reaches_a_running_emulator() -> None:
    with running("emulator", "--customers", "10") as (url, _):
        port = url.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "flitch", "emulator", "changes", "--port", port, "--count", "3"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "event(s) created in test mode" in result.stdout
        events = httpx.get(url + "/v1/events?limit=3", auth=(DEMO_TEST_KEY, "")).json()["data"]
        assert events[0]["id"] in result.stdout


def test_changes_command_without_an_emulator_says_what_to_do() -> None:
    result = CliRunner().invoke(app, ["emulator", "changes", "--port", "1"])
    assert result.exit_code == 1
    assert "Start one with `flitch emulator`" in result.output


def test_a_busy_port_is_explained() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["emulator", "--port", str(port), "--customers", "2"], env={"COLUMNS": "200"}
        )
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port 0" in result.output
