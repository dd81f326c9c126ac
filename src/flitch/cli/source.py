"""``flitch test``: the connection test from a terminal.

The key is read from ``FLITCH_STRIPE_KEY``, standard input or a hidden prompt (never from the
command line); the probe (:mod:`flitch.stripe_source.probe`) asks each selected object's list
endpoint for one record; the answer is a table (or ``--json``) and an exit status a script can
branch on (``EXIT_CODES``).
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flitch import catalog
from flitch.catalog import ObjectSpec
from flitch.cli.app import app
from flitch.cli.keyinput import ENV_VAR, read_key
from flitch.config import Settings
from flitch.errors import FlitchError, KeyRejected
from flitch.keys import Mode, mask

if TYPE_CHECKING:
    # The probe brings the Stripe SDK and httpx: imported by the functions that use it, so the
    # other commands (and `--help`) start without them.
    from flitch.stripe_source.probe import ObjectCheck, ProbeReport, ReadState


class Exit(IntEnum):
    """Exit statuses of ``flitch test`` (documented in ``--help`` and the README)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    KEY_REFUSED = 3
    AUTHENTICATION_FAILED = 4
    PERMISSION_MISSING = 5
    UNREACHABLE = 6


EXIT_CODES: tuple[tuple[Exit, str], ...] = (
    (Exit.OK, "the key authenticates and every selected object is readable"),
    (Exit.ERROR, "another error (the message says what to do)"),
    (Exit.USAGE, "usage error, e.g. an unknown object in --objects"),
    (
        Exit.KEY_REFUSED,
        "key refused before any request (malformed, secret sk_ or publishable pk_)",
    ),
    (
        Exit.AUTHENTICATION_FAILED,
        "authentication failed (key deleted, rolled, expired or unknown)",
    ),
    (Exit.PERMISSION_MISSING, "a Read permission is missing for a selected object"),
    (Exit.UNREACHABLE, "Stripe could not be reached (network, 5xx, rate limits)"),
)

HELP = (
    "Test a read-only restricted Stripe key: what it can read, object by object, in which "
    "mode, and what to do about anything missing.\n\n"
    f"The key is read from {ENV_VAR} if set, else from standard input when it is not a "
    "terminal, else from a hidden prompt. It is never taken from the command line, and never "
    "shown in full.\n\n"
    "\b\nExit status:\n" + "\n".join(f"  {int(code)}  {meaning}" for code, meaning in EXIT_CODES)
)


def parse_objects(text: str | None) -> tuple[ObjectSpec, ...]:
    """The objects named in ``--objects`` (comma-separated; empty or absent: all twelve)."""
    if text is None or not text.strip():
        return catalog.OBJECTS
    wanted: list[ObjectSpec] = []
    unknown: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower().replace("-", "_").replace(" ", "_")
        if not name:
            continue
        spec = catalog.BY_NAME.get(name)
        if spec is None:
            unknown.append(raw.strip())
        elif spec not in wanted:
            wanted.append(spec)
    if unknown:
        raise typer.BadParameter(
            f"unknown object(s): {', '.join(unknown)}. Valid objects: {', '.join(catalog.NAMES)}.",
            param_hint="--objects",
        )
    return tuple(wanted) or catalog.OBJECTS


def _check_api_base(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise typer.BadParameter(
            f"{value!r} is not a URL: write it like https://api.stripe.com or "
            "http://127.0.0.1:12111 (the emulator).",
            param_hint="--api-base",
        )
    return value.rstrip("/") if value else value


@app.command("test", help=HELP, context_settings={"allow_extra_args": True})
def connection_test(
    objects: str | None = typer.Option(
        None,
        "--objects",
        help="Comma-separated objects to test (default: all). One of: "
        + ", ".join(catalog.NAMES)
        + ".",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    api_base: str | None = typer.Option(
        None,
        "--api-base",
        help="Send requests to this server instead of Stripe (e.g. the emulator). "
        "Default: FLITCH_STRIPE_API_BASE, else https://api.stripe.com.",
        callback=_check_api_base,
    ),
    no_events: bool = typer.Option(
        False, "--no-events", help="Do not check Read Events (one request fewer)."
    ),
    ctx: typer.Context = typer.Option(None, hidden=True),
) -> None:
    out = Console(highlight=False, soft_wrap=False)
    err = Console(stderr=True, highlight=False)
    stray = list(ctx.args)
    if stray:
        # Click would echo an unexpected argument back in full, and it may be a key: answer
        # here instead, masked.
        _fail(
            as_json,
            out,
            err,
            "UsageError",
            f"flitch test takes no arguments (got {', '.join(mask(a) for a in stray)}).",
            f"Give the key in {ENV_VAR}, on standard input, or at the prompt. If you typed a key "
            "on the command line, it is now in your shell history: roll it in Stripe.",
        )
        raise typer.Exit(Exit.USAGE)
    specs = parse_objects(objects)
    try:
        settings = Settings.from_env(stripe_api_base=api_base)
    except ValueError as error:
        _fail(as_json, out, err, "SettingsInvalid", str(error), "Fix the variable and retry.")
        raise typer.Exit(Exit.USAGE) from None
    try:
        key = read_key()
    except KeyRejected as refused:
        _refused(as_json, out, err, refused)
        raise typer.Exit(Exit.KEY_REFUSED) from None
    import asyncio

    from flitch.stripe_source.probe import run_probe

    try:
        report = asyncio.run(run_probe(key, settings, specs, include_events=not no_events))
    except FlitchError as error:
        _refused(as_json, out, err, error)
        raise typer.Exit(Exit.ERROR) from None
    if as_json:
        _print_json(report.to_dict())
    else:
        render(report, out)
    raise typer.Exit(exit_code(report))


def exit_code(report: ProbeReport) -> Exit:
    from flitch.stripe_source.probe import Outcome

    by_outcome = {
        Outcome.OK: Exit.OK,
        Outcome.AUTHENTICATION_FAILED: Exit.AUTHENTICATION_FAILED,
        Outcome.PERMISSION_MISSING: Exit.PERMISSION_MISSING,
        Outcome.UNREACHABLE: Exit.UNREACHABLE,
        Outcome.ERROR: Exit.ERROR,
    }
    return by_outcome[report.outcome]


# -- output ------------------------------------------------------------------------------------


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def _refused(as_json: bool, out: Console, err: Console, error: FlitchError) -> None:
    if as_json:
        _print_json({"ok": False, "outcome": "key_refused", "error": error.to_dict()})
        return
    err.print(f"[bold red]Key refused:[/] {escape(error.message)}")
    if error.fix:
        err.print(escape(error.fix))
    err.print("Nothing was sent to Stripe.")


def _fail(as_json: bool, out: Console, err: Console, kind: str, message: str, fix: str) -> None:
    if as_json:
        error = {"error": kind, "message": message, "fix": fix}
        _print_json({"ok": False, "outcome": "error", "error": error})
        return
    err.print(f"[bold red]{escape(message)}[/] {escape(fix)}")


def _result(state: ReadState) -> str:
    from flitch.stripe_source.probe import ReadState

    return {
        ReadState.READABLE: "[green]✓ has data[/]",
        ReadState.EMPTY: "[yellow]✓ no data[/]",
        ReadState.MISSING_PERMISSION: "[red]✗ no permission[/]",
        ReadState.ERROR: "[red]! error[/]",
        ReadState.NOT_CHECKED: "[dim]– not checked[/]",
    }[state]


def _todo(check: ObjectCheck, mode: Mode | None) -> str:
    from flitch.stripe_source.probe import ReadState

    if check.state is ReadState.EMPTY:
        if mode is None:
            return "If the data is in the other mode, use that mode's key."
        other = mode.other
        what = check.label.lower()
        return f"If your {what} are in {other.value} mode, use a {other.key_prefix}… key."
    if check.state is ReadState.ERROR:
        return f"{check.message} {check.fix}".strip()
    return check.fix


def render(report: ProbeReport, out: Console) -> None:
    """The human form of a report: header, table, events, summary."""
    from flitch.stripe_source.probe import AuthState, ReadState

    target = f" at {report.api_base}" if report.api_base else ""
    out.print(f"[bold]Connection test[/] of {escape(report.key or 'the key')}{escape(target)}")
    auth = report.authentication
    if auth.state is AuthState.FAILED:
        out.print(f"[bold red]{escape(auth.message)}[/]")
        out.print(escape(auth.fix))
        _request_id(out, auth.request_id)
        return
    if auth.state is AuthState.UNKNOWN:
        out.print(f"[bold red]{escape(auth.message)}[/]")
        out.print(escape(auth.fix))
        return
    mode = report.mode.value if report.mode else "unknown"
    out.print(f"Mode: [bold]{mode}[/]. {escape(report.mode_message)}")
    # Names are never broken ("Payment Intents" on two lines reads as two objects): below
    # 100 columns what to do goes under the table, one line per object that needs something
    # (missing permissions are all named once, in the line that follows).
    table = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False)
    beside = out.width >= 100
    table.add_column("Object", no_wrap=True)
    table.add_column("Permission", no_wrap=True)
    table.add_column("Result", no_wrap=True)
    if beside:
        table.add_column("What to do", ratio=1)
    todo = []
    for check in report.objects:
        cells = [escape(check.label), escape(check.permission_label), _result(check.state)]
        fix = _todo(check, report.mode)
        if fix and not beside and check.state is not ReadState.MISSING_PERMISSION:
            todo.append(f"  [bold]{escape(check.label)}[/]: {escape(fix)}")
        table.add_row(*cells, *([escape(fix)] if beside else []))
    out.print(table)
    for line in todo:
        out.print(line)
    if report.missing:
        out.print(
            "[bold]Missing resources:[/] a resource returns nothing if the key does not have "
            "Read on it. Edit the key in Stripe and add: "
            + escape(", ".join(o.permission_label for o in report.missing))
            + "."
        )
    if any(o.state is ReadState.EMPTY for o in report.objects):
        out.print(f"[bold]No data in one mode?[/] {escape(_mode_hint(report.mode))}")
    events = report.events
    out.print(f"Events ({escape(events.permission_label)}): {escape(events.message)}")
    if events.fix:
        out.print(f"  {escape(events.fix)}")
    colour = "green" if report.ok else "red"
    out.print(f"[bold {colour}]{'OK' if report.ok else 'Not OK'}:[/] {escape(report.summary)}")


def _mode_hint(mode: Mode | None) -> str:
    if mode is None:
        return "Each key only sees its own mode's data: use the key for the mode you want to chart."
    return (
        f"A {Mode.TEST.key_prefix}… key only sees test-mode data and a {Mode.LIVE.key_prefix}… "
        f"key only sees live data. This is a {mode.value} key: to chart "
        f"{mode.other.description}, use a {mode.other.key_prefix}… key."
    )


def _request_id(out: Console, request_id: str | None) -> None:
    if request_id:
        out.print(f"(Stripe request {escape(request_id)})")
