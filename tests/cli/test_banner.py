"""The emulator's banner (also the demo's) counts what a client reads: the objects Stripe lists,
with the ones it hides unless asked (on test clocks) counted apart and said to be hidden."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from flitch.cli.emulator import banner, describe_account
from flitch.emulator.server import Emulator
from tests.conftest import generous_config, stripe_client


def shown(line: str, name: str) -> int:
    found = re.search(rf"(\d+) {name}\b", line)
    assert found, (name, line)
    return int(found.group(1))


def test_the_banner_counts_what_the_lists_give(emulator: Emulator) -> None:
    lines = describe_account(emulator.account)
    test_line = next(line for line in lines if line.strip().startswith("test:"))
    client = stripe_client(emulator.url)
    customers = sum(1 for _ in client.v1.customers.list({"limit": 100}).auto_paging_iter())
    subscriptions = sum(
        1 for _ in client.v1.subscriptions.list({"limit": 100, "status": "all"}).auto_paging_iter()
    )
    assert shown(test_line, "customers") == customers
    assert shown(test_line, "subscriptions") == subscriptions
    # the objects on test clocks: counted apart, and why a client does not see them
    store = emulator.account.test
    on_clocks = sum(1 for c in store.ordered("customer").objects if c.get("test_clock"))
    assert on_clocks
    text = " ".join(lines)
    assert f"{on_clocks} customers" in text
    assert "test clock" in text


def test_the_banner_shows_flitch_as_it_can_be_typed(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under `make demo` the command is .venv/bin/flitch and not on the PATH: the banner's
    example says so, and says plain `flitch` once the PATH finds that same command."""
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "flitch"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [".venv/bin/flitch", "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    lines = banner(emulator.url, emulator.account, generous_config())
    assert any(line.strip().startswith(".venv/bin/flitch emulator changes") for line in lines)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    lines = banner(emulator.url, emulator.account, generous_config())
    assert any(line.strip().startswith("flitch emulator changes") for line in lines)
