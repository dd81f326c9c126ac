"""The Typer application every ``flitch`` subcommand registers on.

Help is drawn by Click's plain formatter, not Rich's panels: it rewraps each paragraph to the
terminal's width (Rich keeps the docstring's own line breaks and breaks them again at the
edge), shows a flag as a flag (Rich's panels give it a ``<bool>`` type) and needs no Rich at
start-up. A block the formatter must keep as written starts with a ``\\b`` line.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="flitch",
    help=(
        "Flitch: dashboards on your Stripe payments, billing and revenue, read through a "
        "read-only restricted API key."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
