"""The README's ``flitch`` examples, run as written after the README's own set-up.

Each ``sh`` block's commands (and each inline ```flitch …``` with no placeholder in it) runs in
``bash`` after ``. .venv/bin/activate`` — the line the README gives to put ``flitch`` on the
PATH — against the emulator, with ``FLITCH_HOME`` a fresh directory holding the connection the
examples name (``Shop``) unless the example makes it. Only what stands for the reader's own
data is filled in: the key on standard input (a test key; a live one where the example switches
mode), ``rk_test_…`` and the emulator's address. Commands that serve until stopped are left
out, each with its reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from flitch.emulator.server import Emulator
from tests.conftest import LIVE_KEY, TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
ACTIVATE = Path(sys.prefix) / "bin" / "activate"
#: The README's line that puts `flitch` on the PATH (after `make demo` or `make test`).
SETUP = ". .venv/bin/activate"
#: Commands that run until stopped: they are started elsewhere (tests/web, tests/emulator).
SERVERS = {
    "flitch demo": "serves the web app until stopped (tests/web/test_demo.py starts it)",
    "flitch serve": "serves the web app until stopped",
    "flitch emulator": "serves the emulator until stopped (tests/emulator/test_server_cli.py)",
    "flitch scheduler": "runs scheduled refreshes until stopped",
}


@dataclass(frozen=True)
class Example:
    command: str
    #: Where it is: its section, for the test's name.
    where: str

    @property
    def server(self) -> str | None:
        words = self.command.split("#")[0].split()
        head = " ".join(words[:2])
        if head in SERVERS and not any(w.startswith("--") for w in words[2:]):
            return SERVERS[head]
        if head == "flitch emulator" and "changes" not in words:
            return SERVERS[head]
        return None


def _section(offset: int) -> str:
    titles = [m for m in re.finditer(r"^#+ (.+)$", README, re.M) if m.start() < offset]
    return titles[-1].group(1) if titles else "README"


def examples() -> list[Example]:
    """Every command of the README's ``sh`` blocks (a line starting with ``flitch`` or a
    variable for it, with its indented continuation lines), then the inline ones."""
    found: list[Example] = []
    for block in re.finditer(r"```sh\n(.*?)```", README, re.S):
        current: list[str] = []
        for line in block.group(1).splitlines():
            if line.startswith(" ") and current:
                current.append(line)
                continue
            if current:
                found.append(Example("\n".join(current), _section(block.start())))
            current = [line] if re.match(r"^(\w+=\S+ )*flitch\b", line) else []
        if current:
            found.append(Example("\n".join(current), _section(block.start())))
    seen = {e.command.split("#")[0].strip() for e in found}
    for span in re.finditer(r"`(flitch [^`]+)`", README):
        text = " ".join(span.group(1).split())
        # a synopsis (NAME, ID, a | b, …) is not a command, nor a command named in prose
        # (`flitch sql`, `flitch connections --json`): an example has two words after it
        if re.search(r"\b[A-Z]+\b|[|…]", text) or len(text.split()) < 4 or text in seen:
            continue
        seen.add(text)
        found.append(Example(text, _section(span.start())))
    return found


EXAMPLES = examples()


def test_the_readme_puts_flitch_on_the_path_before_its_examples() -> None:
    first_example = README.index("flitch datasets")
    assert SETUP in README[:first_example]
    assert len(EXAMPLES) >= 20
    assert {"flitch connect Shop", "flitch refresh Shop", "flitch test"} <= {
        e.command.split("#")[0].strip() for e in EXAMPLES
    }


@pytest.fixture(scope="module")
def connected_home(tmp_path_factory: pytest.TempPathFactory, _shared_emulator: Emulator) -> Path:
    """A FLITCH_HOME with the examples' connection, Shop (copied for each example)."""
    home = tmp_path_factory.mktemp("readme") / "home"
    done = run_in_bash(
        "flitch connect Shop", home, home.parent, _shared_emulator.url, TEST_KEY, check=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home


def run_in_bash(
    command: str, home: Path, cwd: Path, api_base: str, key: str, *, check: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLITCH_", "VIRTUAL_ENV"))} | {
        "FLITCH_HOME": str(home),
        "FLITCH_STRIPE_API_BASE": api_base,
        "FLITCH_CLOCK_OFFSET": os.environ.get("FLITCH_CLOCK_OFFSET", "0"),
        "FLITCH_MAX_RETRIES": "1",
        "PATH": "/usr/local/bin:/usr/bin:/bin",  # no .venv/bin: the README's set-up adds it
        "COLUMNS": "100",
    }
    script = f"set -e\n. {ACTIVATE}\n{command}\n"
    return subprocess.run(
        ["bash", "-c", script],
        input=key + "\n",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not ACTIVATE.exists(), reason="Flitch is not installed in a virtualenv")
@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"{e.where}: {e.command.split(chr(10))[0][:60]}" for e in EXAMPLES]
)
def test_readme_example_runs_as_written(
    example: Example, emulator: Emulator, connected_home: Path, tmp_path: Path
) -> None:
    if example.server:
        pytest.skip(f"{example.command.split('#')[0].strip()}: {example.server}")
    command = example.command.replace("rk_test_…", TEST_KEY)
    command = command.replace("http://127.0.0.1:12111", emulator.url)
    home = tmp_path / "home"
    if not re.match(r"^flitch connect ", command):
        shutil.copytree(connected_home, home)
    (tmp_path / "key.txt").write_text(TEST_KEY + "\n")
    key = LIVE_KEY if "--switch-mode" in command else TEST_KEY
    done = run_in_bash(command, home, tmp_path, emulator.url, key)
    assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
