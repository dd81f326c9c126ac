"""The ``flitch`` command.

Each area registers its subcommands on the shared Typer ``app`` in its own module in this package;
importing those modules below is what makes the commands appear.
"""

from __future__ import annotations

import os

from flitch.cli import (
    connections,  # noqa: F401  (registers `flitch connect` and the rest)
    dashboard,  # noqa: F401  (registers `flitch dashboard` and `flitch dashboards`)
    data,  # noqa: F401  (registers `flitch datasets`, `flitch sql`, `flitch export`)
    db,  # noqa: F401  (registers `flitch db` and `flitch migrate-to-postgres`)
    demo,  # noqa: F401  (registers `flitch demo`)
    emulator,  # noqa: F401  (registers `flitch emulator`)
    refresh,  # noqa: F401  (registers `flitch refresh`, `flitch scheduler`)
    source,  # noqa: F401  (registers `flitch test`)
    web,  # noqa: F401  (registers `flitch serve`, `flitch users`, `flitch tokens`)
    worker,  # noqa: F401  (registers `flitch worker`)
    workspace,  # noqa: F401  (registers `--workspace` and `flitch workspaces`)
)
from flitch.cli.app import app


@app.command()
def version() -> None:
    """Print Flitch's version."""
    from flitch import __version__

    print(__version__)


def main() -> None:
    # Whatever the shell's umask, what a flitch process creates is its user's alone: the
    # files DuckDB and SQLite make themselves too (write-ahead logs, spill files), which Flitch
    # makes private only once it sees them (``flitch.private``).
    os.umask(0o077)
    app()
