"""The Typer application every ``flitch`` subcommand registers on."""

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
)
