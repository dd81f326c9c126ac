"""What the ``flitch`` commands that work on saved connections share: the ``--json`` and
``--api-base`` options, JSON output, consoles, and opening the connection service with every
Flitch error turned into a clear message and an exit status."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from flitch.cli.source import Exit
from flitch.config import Settings
from flitch.errors import (
    AuthenticationFailed,
    FlitchError,
    InputError,
    KeyRejected,
    RateLimited,
    StripeUnavailable,
)

if TYPE_CHECKING:
    # The service brings the Stripe source and the cache: imported when a command opens it, so
    # `--help` and the commands that need neither start without them.
    from flitch.connections.service import ConnectionService

JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")
ApiBaseOption = typer.Option(
    None,
    "--api-base",
    help="Send requests to this server instead of Stripe (e.g. the emulator). "
    "Default: FLITCH_STRIPE_API_BASE, else https://api.stripe.com.",
)


def exit_code(error: FlitchError) -> Exit:
    if isinstance(error, KeyRejected):
        return Exit.KEY_REFUSED
    if isinstance(error, AuthenticationFailed):
        return Exit.AUTHENTICATION_FAILED
    if isinstance(error, StripeUnavailable | RateLimited):
        return Exit.UNREACHABLE
    if isinstance(error, InputError):
        return Exit.USAGE
    return Exit.ERROR


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False)


def warn_if_home_exposed(settings: Settings, err: Console) -> None:
    """Say, on standard error, when others may read FLITCH_HOME, with the fix."""
    from flitch.private import home_warning

    warning = home_warning(settings.home)
    if warning:
        err.print(f"[yellow]{escape(warning)}[/]")


@contextmanager
def service(as_json: bool, api_base: str | None = None) -> Iterator[ConnectionService]:
    """Open the service, bound to the command's workspace (``--workspace``), and turn any
    Flitch error into a clear message and an exit status."""
    from flitch.connections.service import ConnectionService
    from flitch.metadb import DatabaseError

    _, err = consoles()
    try:
        if api_base is not None and not api_base.startswith(("http://", "https://")):
            raise InputError(
                f"{api_base!r} is not a URL.",
                "Write it like https://api.stripe.com or http://127.0.0.1:12111 (the emulator).",
            )
        try:
            settings = Settings.from_env(stripe_api_base=api_base and api_base.rstrip("/"))
        except ValueError as error:
            raise InputError(str(error), "Fix the environment variable and try again.") from None
        warn_if_home_exposed(settings, err)
        with ConnectionService(settings) as service:
            from flitch.cli.workspace import in_chosen_workspace

            try:
                yield in_chosen_workspace(service)
            except DatabaseError as exc:
                raise service.db.unusable(exc) from None
    except FlitchError as error:
        if as_json:
            print_json({"ok": False, "error": error.to_dict()})
        else:
            err.print(f"[bold red]{escape(error.message)}[/]")
            if error.fix:
                err.print(escape(error.fix))
            if error.request_id:
                err.print(f"(Stripe request {escape(error.request_id)})")
        raise typer.Exit(exit_code(error)) from None
