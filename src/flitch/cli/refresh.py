"""``flitch refresh NAME [--full] [--verify]`` and ``flitch scheduler``: the cache from a terminal.

A refresh shows its progress per object (records, pages, rate, elapsed): rich progress bars on a
terminal, plain lines otherwise (logs, pipes), nothing but the summary with ``--json``. This
module runs the commands and maps their outcome to an exit status; how progress and results look
is :mod:`flitch.cli.refresh_display`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from flitch import clock as clocks
from flitch.cli.app import app
from flitch.cli.refresh_display import (
    ProgressDisplay,
    display_mode,
    show_refresh,
    show_schedule,
    show_verify,
)
from flitch.config import Settings
from flitch.connections.records import parse_refresh
from flitch.errors import (
    AuthenticationFailed,
    FlitchError,
    InputError,
    PermissionMissing,
    RateLimited,
    StripeUnavailable,
)

if TYPE_CHECKING:
    # The refresh machinery brings the Stripe source, DuckDB and pyarrow: imported when a refresh
    # or the scheduler runs, so `--help` and the other commands start without them.
    from flitch.connections.service import ConnectionService
    from flitch.refresh.scheduler import ScheduledRun

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 4
EXIT_PARTIAL = 5
EXIT_UNREACHABLE = 6
EXIT_RUNNING = 7
EXIT_DIFFERENCES = 8
EXIT_HELP = (
    "Exit status: 0 done; 1 another error; 2 bad input or unknown connection; 4 "
    "authentication failed; 5 some objects not refreshed (e.g. missing permission; their "
    "previous data is kept); 6 Stripe could not be reached; 7 a refresh of it is already "
    "running; 8 --verify found differences (they were repaired)."
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ApiBaseOption = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        help="Send requests to this server instead of Stripe (e.g. the emulator). "
        "Default: FLITCH_STRIPE_API_BASE, else https://api.stripe.com.",
    ),
]


def _exit_for(error: FlitchError) -> int:
    from flitch.store.base import RefreshRunning

    if isinstance(error, RefreshRunning):
        return EXIT_RUNNING
    if isinstance(error, AuthenticationFailed):
        return EXIT_AUTH
    if isinstance(error, StripeUnavailable | RateLimited):
        return EXIT_UNREACHABLE
    if isinstance(error, PermissionMissing):
        return EXIT_PARTIAL
    if isinstance(error, InputError):
        return EXIT_USAGE
    return EXIT_ERROR


def _print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def _settings(api_base: str | None) -> Settings:
    if api_base is not None and not api_base.startswith(("http://", "https://")):
        raise InputError(
            f"{api_base!r} is not a URL.",
            "Write it like https://api.stripe.com or http://127.0.0.1:12111 (the emulator).",
        )
    try:
        return Settings.from_env(stripe_api_base=api_base and api_base.rstrip("/"))
    except ValueError as error:
        raise InputError(str(error), "Fix the environment variable and try again.") from None


@contextmanager
def _errors(as_json: bool) -> Iterator[None]:
    """A Flitch error becomes its message, what to do, and an exit status."""
    try:
        yield
    except FlitchError as error:
        _show_error(error, as_json)
        raise typer.Exit(_exit_for(error)) from None


def _show_error(error: FlitchError, as_json: bool) -> None:
    if as_json:
        _print_json({"ok": False, "error": error.to_dict()})
        return
    err = Console(stderr=True, highlight=False)
    err.print(f"[bold red]{escape(error.message)}[/]")
    if error.fix:
        err.print(escape(error.fix))
    if error.request_id:
        err.print(f"(Stripe request {escape(error.request_id)})")


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@app.command(epilog=EXIT_HELP)
def refresh(
    name: Annotated[str, typer.Argument(help="The connection's name (or id).")],
    full: Annotated[
        bool, typer.Option("--full", help="Read every object again and replace the cache.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Refresh, then read everything again and compare it with the cache; report "
            "missing, extra and changed rows, and repair the datasets that differ.",
        ),
    ] = False,
    objects: Annotated[
        str | None,
        typer.Option("--objects", help="Comma-separated objects to refresh (default: all)."),
    ] = None,
    as_json: JsonOption = False,
    api_base: ApiBaseOption = None,
) -> None:
    """Refresh a connection's cache now (incrementally where possible), with progress."""
    from flitch.cli.workspace import in_chosen_workspace
    from flitch.connections.service import ConnectionService

    out = Console(highlight=False, soft_wrap=True)
    with _errors(as_json):
        settings = _settings(api_base)
        if settings.refresh_workers:  # server mode: a worker runs it, this follows the job
            from flitch.cli.worker import queue_refresh

            with ConnectionService(settings) as service:
                code = queue_refresh(
                    in_chosen_workspace(service),
                    name,
                    full=full,
                    verify=verify,
                    objects=objects,
                    as_json=as_json,
                )
            raise typer.Exit(code)
        with (
            ConnectionService(settings) as service,
            ProgressDisplay(display_mode(as_json)) as display,
        ):
            runner = _run_verify if verify else _run_refresh
            code = runner(in_chosen_workspace(service), name, full, objects, as_json, display, out)
    raise typer.Exit(code)


def _run_refresh(
    service: ConnectionService,
    name: str,
    full: bool,
    objects: str | None,
    as_json: bool,
    display: ProgressDisplay,
    out: Console,
) -> int:
    from flitch.refresh.progress import Phase
    from flitch.refresh.runner import Refresher, _run

    wanted = objects.split(",") if objects else None
    refresher = Refresher(service, on_progress=display)
    result = _run(refresher.run(name, full=full, objects=wanted))
    display.__exit__()
    if as_json:
        _print_json({"ok": result.ok, **result.to_dict()})
    else:
        show_refresh(result, out)
    blocked = all(d.phase is Phase.BLOCKED for d in result.datasets if d.phase is not Phase.DONE)
    if result.error is not None and result.outcome.value == "failed" and not blocked:
        if not as_json:
            _show_error(result.error, False)
        return _exit_for(result.error)
    return EXIT_OK if result.ok else EXIT_PARTIAL


def _run_verify(
    service: ConnectionService,
    name: str,
    full: bool,
    objects: str | None,
    as_json: bool,
    display: ProgressDisplay,
    out: Console,
) -> int:
    from flitch.refresh.runner import _run
    from flitch.refresh.verify import Verifier

    if full or objects:
        raise InputError(
            "--verify reads every object in full already.",
            "Run `flitch refresh NAME --verify` without --full or --objects.",
        )
    result = _run(Verifier(service, on_progress=display).run(name))
    display.__exit__()
    if as_json:
        _print_json({"ok": result.complete and not result.differences, **result.to_dict()})
    else:
        if result.refresh is not None:
            show_refresh(result.refresh, out)
        show_verify(result, out)
    if result.error is not None:
        if not as_json:
            _show_error(result.error, False)
        return _exit_for(result.error)
    if result.differences:
        return EXIT_DIFFERENCES
    return EXIT_OK if result.complete else EXIT_PARTIAL


# -- the scheduler ---------------------------------------------------------------------------------
@app.command()
def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then exit.")] = False,
    status: Annotated[
        bool,
        typer.Option("--status", help="Show when each dataset was last refreshed and is next due."),
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between looks for due refreshes.", min=0.1)
    ] = 30.0,
    verify_every: Annotated[
        str,
        typer.Option(
            "--verify-every",
            help="How often each connection's cache is checked against Stripe: off, or 15m, "
            "30m, 1h, 6h, 12h, 1d.",
        ),
    ] = "1d",
    as_json: JsonOption = False,
    api_base: ApiBaseOption = None,
) -> None:
    """Run scheduled refreshes in the foreground (Ctrl-C stops; `flitch serve` runs them too).

    With FLITCH_REFRESH_WORKERS=1 due refreshes are queued for `flitch worker` instead. However
    many schedulers run, one schedules at a time; the others wait to take over.
    """
    from flitch.refresh.scheduler import Scheduler

    out = Console(highlight=False, soft_wrap=True)
    with _errors(as_json):
        settings = _settings(api_base)
        every = parse_refresh(verify_every)

        def report(run: ScheduledRun) -> None:
            if as_json:
                sys.stdout.write(orjson.dumps(run.to_dict()).decode() + "\n")
                sys.stdout.flush()
            else:
                out.print(
                    f"{_when(clocks.now())}  {run.kind} {escape(run.connection)}: {run.outcome}"
                    f" — {escape(run.message)}"
                )

        sched = Scheduler(settings, poll=poll, verify_every=every, on_run=report)
        if status:
            schedules = sched.status()
            if as_json:
                _print_json([s.to_dict() for s in schedules])
            else:
                show_schedule(schedules, out)
            return
        if once:
            sched.run_once()
            return
        if not as_json:
            show_schedule(sched.status(), out)
            out.print(f"Looking for due refreshes every {poll:g} s. Ctrl-C stops.")
        try:
            sched.run_forever()
        except KeyboardInterrupt:
            sched.stop(timeout=0)
            if not as_json:
                out.print("Stopped.")
