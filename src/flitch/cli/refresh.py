"""``flitch refresh NAME [--full] [--verify]`` and ``flitch scheduler``: the cache from a terminal.

A refresh shows its progress per object (records, pages, rate, elapsed): rich progress bars on a
terminal, plain lines otherwise (logs, pipes), nothing but the summary with ``--json``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flitch.cli.app import app
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
    from rich.progress import Progress, TaskID

    from flitch.connections.service import ConnectionService
    from flitch.refresh.progress import Phase, RefreshProgress
    from flitch.refresh.runner import RefreshResult
    from flitch.refresh.scheduler import ConnectionSchedule, ScheduledRun
    from flitch.refresh.verify import VerifyResult

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 4
EXIT_PARTIAL = 5
EXIT_UNREACHABLE = 6
EXIT_RUNNING = 7
EXIT_DIFFERENCES = 8
EXIT_HELP = (
    "\b\nExit status: 0 done; 1 another error; 2 bad input or unknown connection; 4 "
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


# -- progress --------------------------------------------------------------------------------------
class _Display:
    """Progress per object: rich bars on a terminal, plain lines elsewhere, nothing for JSON."""

    HEARTBEAT = 5.0

    def __init__(self, mode: str) -> None:
        self.mode = mode  # "bars", "lines" or "quiet"
        self.err = Console(stderr=True, highlight=False)
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._phases: dict[str, Phase] = {}
        self._last_line = time.monotonic()
        self._stage = ""

    def __enter__(self) -> _Display:
        if self.mode == "bars":
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bars = Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<22}"),
                TextColumn("[dim]{task.fields[how]:<8}[/]"),
                BarColumn(bar_width=18),
                TextColumn("{task.completed:>9,.0f} records"),
                TextColumn("{task.fields[pages]:>6,} pages"),
                TextColumn("{task.fields[rate]:>8,.0f}/s"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"),
                console=self.err,
                transient=False,
            )
            self._bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.__exit__(None, None, None)
            self._bars = None

    def __call__(self, progress: RefreshProgress) -> None:
        if self.mode == "bars":
            self._draw(progress)
        elif self.mode == "lines":
            self._lines(progress)

    def _draw(self, progress: RefreshProgress) -> None:
        from flitch.refresh.progress import Phase

        if self._bars is None:
            return
        for name, d in progress.datasets.items():
            task = self._tasks.get(name)
            if task is None:
                task = self._tasks[name] = self._bars.add_task(
                    d.label, total=None, how=d.strategy.value, pages=0, rate=0.0, status=""
                )
            done = d.phase in (Phase.DONE, Phase.FAILED, Phase.BLOCKED)
            status = {
                Phase.DONE: "[green]done[/]",
                Phase.FAILED: "[red]failed[/]",
                Phase.BLOCKED: "[yellow]missing permission[/]",
                Phase.APPLYING: "applying",
                Phase.READING: "reading",
                Phase.WAITING: "[dim]waiting[/]",
            }[d.phase]
            self._bars.update(
                task,
                completed=d.records,
                total=max(d.records, 1) if done else None,
                how=d.strategy.value,
                pages=d.pages,
                rate=d.rate,
                status=status,
            )

    def _lines(self, progress: RefreshProgress) -> None:
        from flitch.refresh.progress import Phase

        for name, d in progress.datasets.items():
            before = self._phases.get(name)
            if d.phase is not before and d.phase in (Phase.DONE, Phase.FAILED, Phase.BLOCKED):
                extra = f" — {d.error}" if d.error else ""
                self.err.print(
                    f"{d.label}: {d.phase.value} ({d.strategy.value}), {d.records:,} records, "
                    f"{d.pages:,} pages, {d.rate:,.0f}/s, {d.elapsed:.1f} s{extra}",
                    markup=False,
                )
            self._phases[name] = d.phase
        now = time.monotonic()
        if progress.stage != self._stage or now - self._last_line >= self.HEARTBEAT:
            self._stage = progress.stage
            self._last_line = now
            self.err.print(
                f"[{progress.elapsed:6.1f} s] {progress.stage}: {progress.records:,} records, "
                f"{progress.requests:,} requests",
                markup=False,
            )


def _display_mode(as_json: bool) -> str:
    if as_json:
        return "quiet"
    return "bars" if sys.stderr.isatty() else "lines"


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _show_refresh(result: RefreshResult, out: Console) -> None:
    from flitch.refresh.progress import Phase

    table = Table(title=f"Refresh of {escape(result.connection)}", title_justify="left")
    for column in ("Object", "How", "Records read", "Rows", "Status"):
        table.add_column(column, justify="right" if column in ("Records read", "Rows") else "left")
    for d in result.datasets:
        status = d.phase.value if d.phase is not Phase.BLOCKED else "missing permission"
        table.add_row(
            d.label,
            d.strategy.value,
            f"{d.records:,}",
            "" if d.rows is None else f"{d.rows:,}",
            status if d.phase is Phase.DONE else f"[yellow]{escape(status)}[/]",
        )
    out.print(table)
    out.print(
        f"{result.outcome.value}: {result.records:,} records in {result.seconds:.1f} s, "
        f"{result.requests:,} requests to Stripe"
        + (f", {result.events:,} events" if result.events else "")
        + "."
    )
    for d in result.datasets:
        if d.phase in (Phase.FAILED, Phase.BLOCKED) and d.error:
            out.print(f"[yellow]{escape(d.label)}[/]: {escape(d.error)} {escape(d.fix or '')}")
            out.print("  The previous data of this object is kept.")


def _show_verify(result: VerifyResult, out: Console) -> None:
    table = Table(
        title=f"Check of {escape(result.connection)}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    columns = (
        "Object",
        "Cached",
        "Stripe",
        "Missing",
        "Extra",
        "Changed",
        "During",
        "Result",
    )
    for column in columns:
        left = column in ("Object", "Result")
        table.add_column(
            column,
            justify="left" if left else "right",
            no_wrap=True,
            min_width=max(len(column), 8 if column == "Result" else 0),
        )
    for c in result.datasets:
        if c.status != "ok":
            verdict = f"[yellow]{escape(c.status)}[/]"
        elif c.differences:
            verdict = "[yellow]repaired[/]" if c.repaired else "[red]differs[/]"
        else:
            verdict = "[green]matches[/]"
        table.add_row(
            c.label,
            f"{c.cached_rows:,}",
            f"{c.stripe_rows:,}",
            f"{c.missing:,}",
            f"{c.extra:,}",
            f"{c.changed:,}",
            f"{c.meanwhile:,}",
            verdict,
        )
    out.print(table)
    for c in result.datasets:
        for kind in ("missing", "extra"):
            if c.examples.get(kind):
                out.print(f"  {c.name} {kind}: {', '.join(c.examples[kind])}", markup=False)
        for example in c.examples.get("changed", []):
            fields = ", ".join(example["fields"]) or "(values)"
            out.print(f"  {c.name} changed: {example['id']} ({fields})", markup=False)
        if c.error:
            out.print(f"  {c.name}: {c.error} {c.fix or ''}", markup=False)
    meanwhile = sum(c.meanwhile for c in result.datasets)
    if meanwhile:
        out.print(
            f"{meanwhile:,} objects changed in Stripe during the check (column During: their "
            "events say so); not counted as differences, and updated."
        )
    if result.differences:
        out.print(
            f"[yellow]{result.differences:,} differences between the cache and Stripe[/]; "
            "the datasets that differed were replaced with what was just read."
        )
    else:
        out.print("[green]The cache matches Stripe.[/]")


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
    from flitch.connections.service import ConnectionService

    out = Console(highlight=False, soft_wrap=True)
    with _errors(as_json):
        settings = _settings(api_base)
        with ConnectionService(settings) as service, _Display(_display_mode(as_json)) as display:
            runner = _run_verify if verify else _run_refresh
            code = runner(service, name, full, objects, as_json, display, out)
    raise typer.Exit(code)


def _run_refresh(
    service: ConnectionService,
    name: str,
    full: bool,
    objects: str | None,
    as_json: bool,
    display: _Display,
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
        _show_refresh(result, out)
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
    display: _Display,
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
            _show_refresh(result.refresh, out)
        _show_verify(result, out)
    if result.error is not None:
        if not as_json:
            _show_error(result.error, False)
        return _exit_for(result.error)
    if result.differences:
        return EXIT_DIFFERENCES
    return EXIT_OK if result.complete else EXIT_PARTIAL


# -- the scheduler ---------------------------------------------------------------------------------
def _show_schedule(schedules: list[ConnectionSchedule], out: Console) -> None:
    if not schedules:
        out.print(
            "No connection has refresh on: dashboards query Stripe live. Turn it on with "
            "`flitch set-refresh NAME 1h` (15m, 30m, 1h, 6h, 12h or 1d)."
        )
        return
    table = Table(
        title="Scheduled refreshes (UTC)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    for column in ("Connection", "Object", "Every", "Status", "Last refreshed", "Next due"):
        table.add_column(column, no_wrap=column != "Connection", min_width=len(column))
    for s in schedules:
        for d in s.datasets:
            table.add_row(
                escape(s.name),
                d.object,
                s.refresh,
                d.status if s.status != "auth_failed" else "authentication failed",
                _short(d.last_refresh_at),
                _short(d.next_due_at) if d.status != "missing_permission" else "(blocked)",
            )
        table.add_section()
    out.print(table)


@app.command()
def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then exit.")] = False,
    status: Annotated[
        bool,
        typer.Option("--status", help="Show when each dataset was last refreshed and is next due."),
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between looks for due refreshes.", min=1.0)
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
    """Run scheduled refreshes in the foreground (Ctrl-C stops; `flitch serve` runs them too)."""
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
                    f"{_when(time.time())}  {run.kind} {escape(run.connection)}: {run.outcome}"
                    f" — {escape(run.message)}"
                )

        sched = Scheduler(settings, poll=poll, verify_every=every, on_run=report)
        if status:
            schedules = sched.status()
            if as_json:
                _print_json([s.to_dict() for s in schedules])
            else:
                _show_schedule(schedules, out)
            return
        if once:
            sched.run_once()
            return
        if not as_json:
            _show_schedule(sched.status(), out)
            out.print(f"Looking for due refreshes every {poll:g} s. Ctrl-C stops.")
        try:
            sched.run_forever()
        except KeyboardInterrupt:
            sched.stop(timeout=0)
            if not as_json:
                out.print("Stopped.")
