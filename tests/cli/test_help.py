"""Every ``flitch … --help`` reads well in an 80-column terminal: no line runs past the edge,
a paragraph is wrapped at word boundaries (no sentence broken halfway along a line), and a flag
is shown as a flag, not as an option taking a ``<bool>``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from flitch.cli import app

WIDTH = 80


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The command's path, then its subcommands' (Typer's groups carry ``commands``)."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*path, name))


PATHS = list(command_paths(typer.main.get_command(app)))


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


def indent(line: str) -> int:
    return len(line) - len(line.lstrip())


#: A row of a definition list: a term (``connect``, ``name <str>``, ``--from <str>``), two
#: spaces or more, its description. Its rows are one a line by design.
DEFINITION = re.compile(r"^\s*\S+(?: <[^>]+>)?\s{2,}\S")


def broken_sentences(text: str) -> list[str]:
    """Lines of one paragraph (same indentation, the next going on in lower case) ended early:
    the next line's first word would have fitted on them."""
    lines = text.splitlines()
    found = []
    for line, following in pairwise(lines):
        body = following.strip()
        if not line.strip() or not body or indent(line) != indent(following):
            continue
        if DEFINITION.match(following):
            continue
        if not body[0].islower():
            continue
        if len(line.rstrip()) + 1 + len(body.split()[0]) <= WIDTH:
            found.append(f"{line.rstrip()!r} / {following.strip()!r}")
    return found


def test_the_commands_are_all_found() -> None:
    assert {("dashboard",), ("test",), ("demo",), ("emulator",), ("dashboards", "copy")} <= set(
        PATHS
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "flitch")
def test_help_fits_80_columns_in_whole_sentences(path: tuple[str, ...]) -> None:
    text = help_text(path)
    assert "<bool>" not in text
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not too_wide, too_wide
    assert not broken_sentences(text)
