"""How a refresh looks in a terminal: its progress as it runs, then the tables of what it did.

Progress is shown per object (records, pages, rate, elapsed): rich progress bars on a terminal,
plain lines otherwise (logs, pipes), nothing with ``--json`` (:class:`ProgressDisplay`). After
the run, tables show what the refresh did, what a ``--verify`` check found, or the schedule.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from flitch.refresh.progress import Phase, RefreshProgress
    from flitch.refresh.runner import RefreshResult
    from flitch.refresh.scheduler import ConnectionSchedule
    from flitch.refresh.verify import VerifyResult


class ProgressDisplay:
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

    def __enter__(self) -> ProgressDisplay:
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


def display_mode(as_json: bool) -> str:
    if as_json:
        return "quiet"
    return "bars" if sys.stderr.isatty() else "lines"


def _short(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def show_refresh(result: RefreshResult, out: Console) -> None:
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


def show_verify(result: VerifyResult, out: Console) -> None:
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


def show_schedule(schedules: list[ConnectionSchedule], out: Console) -> None:
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
