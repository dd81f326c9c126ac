"""`flitch --workspace NAME …` and FLITCH_WORKSPACE: each command acts in one workspace.

The real commands (Typer's runner), the emulator over real HTTP, FLITCH_HOME in tmp_path: a
connection saved in one workspace is not seen, refreshed, changed or disconnected from
another, and the same name may be used in each; without the option, commands act in the
workspace "default", as a single-machine install always did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from flitch.cli import app
from flitch.cli.source import Exit
from flitch.emulator.server import Emulator
from tests.conftest import TEST_KEY


def run(home: Path, emu: Emulator, *args: str, key: str = "", **env: str) -> Any:
    environment: dict[str, Any] = {
        "FLITCH_HOME": str(home),
        "FLITCH_STRIPE_API_BASE": emu.url,
        "FLITCH_SECRET_KEY": None,
        "FLITCH_WORKSPACE": None,
        "FLITCH_TEST_RPS": "10000",
        "FLITCH_ENDPOINT_RPS": "10000",
        "FLITCH_MAX_RETRIES": "1",
        "COLUMNS": "200",
        **env,
    }
    result = CliRunner().invoke(app, list(args), input=key, env=environment)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def listed(home: Path, emu: Emulator, *before: str, **env: str) -> list[str]:
    result = run(home, emu, *before, "connections", "--json", **env)
    assert result.exit_code == Exit.OK, result.output
    return [c["name"] for c in json.loads(result.stdout)["connections"]]


def test_each_command_acts_in_its_workspace(tmp_path: Path, tiny_emulator: Emulator) -> None:
    home = tmp_path / "home"
    assert run(home, tiny_emulator, "connect", "Shop", key=TEST_KEY).exit_code == Exit.OK
    made = run(home, tiny_emulator, "workspaces", "create", "Beta")
    assert made.exit_code == 0, made.output
    assert listed(home, tiny_emulator) == ["Shop"]
    assert listed(home, tiny_emulator, "--workspace", "beta") == []
    assert listed(home, tiny_emulator, FLITCH_WORKSPACE="Beta") == []
    # Shop of default is not found from Beta: not changed, not disconnected
    for command in (("set-refresh", "Shop", "1h"), ("disconnect", "Shop", "--yes")):
        refused = run(home, tiny_emulator, "--workspace", "Beta", *command)
        assert refused.exit_code == Exit.USAGE, refused.output
        assert "There is no connection called 'Shop'" in refused.output
        assert "No connection is saved" in refused.output  # Beta's list, not default's
    # the same name in Beta is another connection
    again = run(home, tiny_emulator, "--workspace", "Beta", "connect", "Shop", key=TEST_KEY)
    assert again.exit_code == Exit.OK, again.output
    assert listed(home, tiny_emulator, "--workspace", "Beta") == ["Shop"]
    gone = run(home, tiny_emulator, "--workspace", "Beta", "disconnect", "Shop", "--yes")
    assert gone.exit_code == Exit.OK, gone.output
    assert listed(home, tiny_emulator) == ["Shop"]
    assert listed(home, tiny_emulator, "--workspace", "Beta") == []


def test_an_unknown_workspace_names_the_ones_there_are(
    tmp_path: Path, tiny_emulator: Emulator
) -> None:
    home = tmp_path / "home"
    refused = run(home, tiny_emulator, "--workspace", "Nowhere", "connections")
    assert refused.exit_code == Exit.USAGE
    assert "There is no workspace called 'Nowhere'" in refused.output
    assert "Workspaces: default." in refused.output
    listing = run(home, tiny_emulator, "workspaces", "list", "--json")
    assert [w["name"] for w in json.loads(listing.stdout)["workspaces"]] == ["default"]
