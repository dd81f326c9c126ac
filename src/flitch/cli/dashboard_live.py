"""``flitch dashboard`` in a terminal, drawn as it is read: each chart printed the moment its
own reads are in (the quick lists first), a status line on stderr saying which lists are still
read and how far; the period and where the data came from once every chart is in. A load
that will take long at the key's limits says so once (what it reads, how long, and the
command that turns refresh on) as soon as its estimate is known. Ctrl-C cancels the load's
Stripe reads. ``--json`` and output to a file or pipe print the complete
answer at the end instead, as before."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from flitch.dashboards.model import Dashboard
from flitch.dashboards.period import Period
from flitch.dashboards.plan import chart_datasets, plan_reads
from flitch.dashboards.progressive import stream_board
from flitch.dashboards.service import unreadable
from flitch.dashboards.terminal import reading_line, render_chart
from flitch.metrics.series import Grain
from flitch.query.engine import QueryEngine


async def show_live(
    out: Console,
    err: Console,
    engine: QueryEngine,
    connection: str,
    board: Dashboard,
    period: Period,
    *,
    grain: Grain | None = None,
    currency: str | None = None,
    force_live: bool = False,
) -> dict[str, Any]:
    """Print the dashboard's charts as they arrive; answer its complete JSON."""
    conn = engine.connections.get(connection)
    skip = unreadable(conn)
    drawable = [c for c in board.charts if not any(d in skip for d in chart_datasets(c))]
    streamed = await engine.stream(conn.id, plan_reads(drawable, period), force_live=force_live)
    header = {"connection": {"name": conn.name, "mode": conn.mode, "refresh": conn.refresh}}
    started = time.perf_counter()
    drawn = 0
    told = False
    done: dict[str, Any] = {}
    with err.status("Reading Stripe…") as status:
        async for event in stream_board(
            streamed, board, period, grain=grain, currency=currency, skip=skip, header=header
        ):
            kind = event["event"]
            if kind in ("plan", "progress"):
                status.update(reading_line(event, drawn, len(drawable)))
                if not told and event["estimate"]["long"]:
                    told = True
                    err.print(long_load_notice(board, conn.name, event["estimate"]))
            elif kind == "chart":
                drawn += 1
                render_chart(out, event["chart"])
                out.print(f"[dim]  ({time.perf_counter() - started:.1f} s)[/]")
            elif kind == "done":
                done = event
    done.pop("event", None)
    return done


def long_load_notice(board: Dashboard, connection: str, estimate: dict[str, Any]) -> str:
    """What a long live load says before it has paid for its reads, and the way out."""
    minutes, seconds = divmod(int(estimate["seconds"]), 60)
    took = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    name = escape(connection if " " not in connection else f'"{connection}"')
    return (
        f"[yellow]{escape(board.title)} reads ~{estimate['pages']:,} pages from Stripe live: "
        f"about {took} at Stripe's limits.[/] With refresh on, Flitch reads them once in the "
        "background and every load after is answered from the cache: "
        f"[bold]flitch set-refresh {name} daily[/] (Ctrl-C stops this load's reads)."
    )
