"""``flitch`` starts without the heavy parts of Flitch: the guard on start-up time, without timing.

Every command module of :mod:`flitch.cli` is imported whenever ``flitch`` runs (that is how the
commands register), so a heavy import at the top of any of them slows ``flitch --help`` and every
command. These tests run ``flitch`` in a fresh interpreter and look at what it imported: the web
framework, DuckDB, pyarrow, the Stripe SDK and the parts of Flitch built on them must only load
in the commands that use them. (How long start-up takes is measured by
``bench/bench_cli_startup.py``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Third-party packages (top-level names) that no command needs to start.
HEAVY = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "jinja2",
        "multipart",
        "duckdb",
        "pyarrow",
        "stripe",
        "requests",
        "urllib3",
        "httpx",
        "httpcore",
        "argon2",
        "cryptography",
    }
)
# Parts of Flitch that bring them (or are large on their own, like the account generator).
HEAVY_FLITCH = (
    "flitch.web",
    "flitch.store",
    "flitch.query",
    "flitch.refresh",
    "flitch.dashboards",
    "flitch.metrics",
    "flitch.stripe_source",
    "flitch.emulator.server",
    "flitch.emulator.generator",
)
# What opens the saved connections: needed by most commands, not to start.
SERVICE = ("flitch.connections.service", "flitch.connections.metadata")
WEB_FRAMEWORK = frozenset({"fastapi", "starlette", "uvicorn", "jinja2", "multipart"})

# Runs `flitch ARGS…` in this interpreter, then prints the modules it imported as JSON on the last
# line of standard error (standard output stays the command's own).
_RUN = """
import json, sys
import flitch.cli
sys.argv = ["flitch", *sys.argv[1:]]
try:
    flitch.cli.main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
sys.stderr.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLITCH_")}
    env.update({"FLITCH_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "100"})
    return env


def _flitch(home: Path, *args: str) -> tuple[int, str, set[str]]:
    """Exit status, standard output and imported modules of ``flitch ARGS…`` in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=120,
    )
    last = done.stderr.rstrip("\n").rsplit("\n", 1)[-1]
    try:
        report = json.loads(last)
    except ValueError:
        pytest.fail(f"flitch {' '.join(args)} did not finish:\n{done.stderr}")
    return report["code"], done.stdout, set(report["modules"])


def _among(modules: set[str], packages: frozenset[str], parts: tuple[str, ...] = ()) -> list[str]:
    """Which of ``packages`` (top-level names) and of Flitch's ``parts`` were imported."""
    found = {m.split(".")[0] for m in modules} & packages
    found |= {m for m in modules if any(m == p or m.startswith(p + ".") for p in parts)}
    return sorted(found)


def test_importing_the_cli_imports_nothing_heavy(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, flitch.cli.app; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=True,
        timeout=120,
    )
    modules = set(json.loads(done.stdout))
    assert "flitch.cli.connections" in modules  # the commands did register
    assert _among(modules, HEAVY, HEAVY_FLITCH + SERVICE) == []


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("--help",), "connections"),
        (("connections", "--help"), "--compact"),
        (("datasets", "--help"), "List a connection's datasets"),
        (("version",), "."),
    ],
    ids=["help", "connections-help", "datasets-help", "version"],
)
def test_help_and_version_import_nothing_heavy(
    tmp_path: Path, args: tuple[str, ...], shown: str
) -> None:
    code, out, modules = _flitch(tmp_path, *args)
    assert code == 0
    assert shown in out
    assert _among(modules, HEAVY, HEAVY_FLITCH + SERVICE) == []


def test_listing_connections_needs_neither_stripe_nor_the_cache(tmp_path: Path) -> None:
    code, out, modules = _flitch(tmp_path, "connections")
    assert code == 0
    assert "No connection is saved" in out
    # The connection service itself is needed (and its key encryption), not what tests a key,
    # reads Stripe or holds the cache.
    assert "flitch.connections.service" in modules
    assert _among(modules, HEAVY - {"cryptography"}, HEAVY_FLITCH) == []


def test_user_commands_load_no_web_framework(tmp_path: Path) -> None:
    code, out, modules = _flitch(tmp_path, "users", "list")
    assert code == 0
    assert "No users yet" in out
    assert _among(modules, WEB_FRAMEWORK) == []


def test_the_emulators_default_port_is_the_servers() -> None:
    # Repeated in the command module so that building the command line needs no server.
    from flitch.cli.emulator import DEFAULT_PORT
    from flitch.emulator.server import DEFAULT_PORT as SERVER_PORT

    assert DEFAULT_PORT == SERVER_PORT
