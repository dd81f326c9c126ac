"""``flitch datasets``, ``flitch sql``, ``flitch export``: a connection's datasets from a terminal.

Each picked object of a connection is a dataset, a table named after the object (``customers``,
``charges``…). With refresh off (the default) ``sql`` and ``export`` read Stripe live, fetching
only the datasets a query names, narrowed by the conditions Stripe can apply; with refresh on they
read the cache the last refresh left.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer
from rich.markup import escape
from rich.table import Table

from flitch import catalog
from flitch.cli.app import app
from flitch.cli.common import ApiBaseOption, JsonOption
from flitch.cli.common import consoles as _consoles
from flitch.cli.common import print_json as _print_json
from flitch.cli.common import service as _service
from flitch.connections.records import ConnectionInfo, iso
from flitch.errors import InputError

if TYPE_CHECKING:
    # The query engine and the cache bring DuckDB, pyarrow and the Stripe source: each command
    # imports them when it runs, so `--help` and the other commands start without them.
    from flitch.connections.service import ConnectionService
    from flitch.query.engine import Answer, Provenance, QueryEngine
    from flitch.store import ExportFormat, ExportResult
    from flitch.store.base import DatasetInfo as StoredDataset

T = TypeVar("T")
#: Rows ``flitch sql`` shows (table, --json) unless --max-rows says otherwise.
SHOWN_ROWS = 10_000


def _run(service: ConnectionService, work: Callable[[QueryEngine], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(engine)`` on a fresh engine, closing it afterwards."""
    import asyncio

    from flitch.query.engine import QueryEngine

    async def go() -> T:
        engine = QueryEngine(service.settings, service)
        try:
            return await work(engine)
        finally:
            await engine.aclose()

    return asyncio.run(go())


def _stored(service: ConnectionService, conn: ConnectionInfo) -> dict[str, StoredDataset]:
    store = service.store(conn.id)
    if store.generation() is None:
        return {}
    with store.reader(follow=False) as reader:
        return {d.name: d for d in reader.datasets()}


def datasets_report(service: ConnectionService, name: str) -> dict[str, Any]:
    """Each dataset of a connection: rows, columns, last refresh (or live), status and fix."""
    conn = service.get(name)
    stored = _stored(service, conn)
    items = []
    for d in conn.datasets:
        spec = catalog.get(d.object)
        held = stored.get(d.object)
        items.append(
            {
                "name": d.object,
                "label": spec.label,
                "status": d.status.value,
                "reason": d.reason,
                "fix": d.fix,
                "rows": held.rows if held else None,
                "columns": [{"name": c.name, "type": c.type.value} for c in spec.columns],
                "last_refresh_at": iso(d.last_refresh_at)
                or (held.refreshed_at.isoformat() if held and held.refreshed_at else None),
                "next_due_at": iso(d.next_due_at),
                "served": "cache" if conn.refresh_every is not None and held else "live",
            }
        )
    return {"connection": conn.name, "mode": conn.mode, "refresh": conn.refresh, "datasets": items}


@app.command("datasets")
def datasets_command(
    name: str = typer.Argument(..., help="The connection's name."),
    as_json: bool = JsonOption,
) -> None:
    """List a connection's datasets: rows, columns, last refresh (or live), and status."""
    out, _ = _consoles()
    with _service(as_json) as service:
        report = datasets_report(service, name)
    if as_json:
        _print_json(report)
        return
    out.print(
        f"[bold]{escape(report['connection'])}[/] · {report['mode']} mode · "
        f"refresh {report['refresh']}"
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("Dataset", "Rows", "Columns", "Served", "Last refresh", "Status"):
        table.add_column(column)
    for d in report["datasets"]:
        status = d["status"] if d["status"] == "ok" else f"[red]{d['status']}[/]"
        table.add_row(
            d["name"],
            "—" if d["rows"] is None else f"{d['rows']:,}",
            str(len(d["columns"])),
            d["served"],
            d["last_refresh_at"] or "never",
            status,
        )
    out.print(table)
    for d in report["datasets"]:
        if d["status"] != "ok" and (d["reason"] or d["fix"]):
            out.print(f"{d['name']}: {escape(d['reason'] or '')} {escape(d['fix'] or '')}")


@app.command("sql")
def sql_command(
    name: str = typer.Argument(..., help="The connection's name."),
    sql: str = typer.Argument(..., help="One read-only SELECT (DuckDB dialect)."),
    as_json: bool = JsonOption,
    as_csv: bool = typer.Option(False, "--csv", help="Print the rows as CSV."),
    live: bool = typer.Option(False, "--live", help="Read Stripe now even if refresh is on."),
    max_rows: int | None = typer.Option(
        None,
        help=f"Stop after this many rows (0: no limit). Default: {SHOWN_ROWS:,} for the table "
        "and --json; every row for --csv.",
    ),
    api_base: str | None = ApiBaseOption,
) -> None:
    """Run read-only SQL over a connection's datasets (tables named after the objects).

    Answered from the cache when refresh is on, live from Stripe otherwise (reading only the
    datasets the query names, with created-time and filter conditions pushed down to Stripe).
    Anything but a single SELECT is refused. --csv writes every row unless --max-rows says
    otherwise; a text cell a spreadsheet would run as a formula gets a ' in front.
    """
    out, err = _consoles()
    if as_csv and not as_json:
        _sql_csv(name, sql, live, max_rows or None, api_base)
        return
    limit = SHOWN_ROWS if max_rows is None else max_rows or None
    with _service(as_json, api_base) as service:

        async def work(engine: QueryEngine) -> Answer:
            return await engine.sql(name, sql, max_rows=limit, force_live=live)

        answer: Answer = _run(service, work)
    result = answer.result
    if as_json:
        _print_json(answer.to_dict())
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in result.columns:
        table.add_column(column.name)
    for row in result.rows:
        table.add_row(*("" if v is None else escape(str(v)) for v in row))
    out.print(table)
    p = answer.provenance
    source = (
        f"live from Stripe ({p.requests} requests)"
        if p.source == "live"
        else f"cache as of {iso(p.as_of)}"
    )
    err.print(f"{len(result.rows)} rows{' (truncated)' if result.truncated else ''} · {source}")
    for note in p.notes:
        err.print(escape(note))


def _sql_csv(name: str, sql: str, live: bool, limit: int | None, api_base: str | None) -> None:
    """``flitch sql --csv``: every row (or ``limit``), written by the same code as every
    export (``flitch.store.exports``) to a private file, then copied to standard output, so
    the rows never pile up in memory; the count and any limit go to standard error."""
    import shutil
    import tempfile

    _, err = _consoles()
    with _service(False, api_base) as service, tempfile.TemporaryDirectory() as folder:
        dest = Path(folder) / "rows.csv"

        async def work(engine: QueryEngine) -> tuple[ExportResult, Provenance]:
            return await engine.export_sql(name, sql, "csv", dest, limit=limit, force_live=live)

        result, p = _run(service, work)
        sys.stdout.flush()
        with dest.open("rb") as rows:
            shutil.copyfileobj(rows, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    source = (
        f"live from Stripe ({p.requests} requests)"
        if p.source == "live"
        else f"cache as of {iso(p.as_of)}"
    )
    err.print(f"{result.rows:,} rows · {source}")
    if limit is not None and result.rows >= limit:
        err.print(
            f"Stopped at --max-rows {limit}: there may be more rows. "
            "Leave --max-rows out to write every row."
        )
    for note in p.notes:
        err.print(escape(note))


@app.command("export")
def export_command(
    name: str = typer.Argument(..., help="The connection's name."),
    dataset: str = typer.Argument(..., help="The dataset (object) to export, e.g. charges."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    fmt: str = typer.Option("", "--format", help="csv or parquet (default: from the file name)."),
    live: bool = typer.Option(False, "--live", help="Read Stripe now even if refresh is on."),
    as_json: bool = JsonOption,
    api_base: str | None = ApiBaseOption,
) -> None:
    """Export one dataset to CSV or Parquet (live, or from the cache when refresh is on)."""
    from flitch.query.reads import DatasetRead

    out, _ = _consoles()
    chosen = fmt or output.suffix.lstrip(".").lower()
    with _service(as_json, api_base) as service:
        if chosen not in ("csv", "parquet"):
            raise_input(
                f"Cannot tell the format of {output.name!r}.",
                "Pass --format csv or --format parquet.",
            )
        try:
            spec = catalog.get(dataset)
        except KeyError as error:
            raise InputError(str(error.args[0]), "Name one of the twelve datasets.") from None

        async def work(engine: QueryEngine) -> tuple[int, str]:
            loaded = await engine.load(name, [DatasetRead(spec.name)], force_live=live)
            try:
                result = loaded.export(spec, cast("ExportFormat", chosen), output)
            finally:
                loaded.close()
            return result.rows, loaded.provenance.source

        rows, source = _run(service, work)
    if as_json:
        _print_json(
            {"ok": True, "path": str(output), "rows": rows, "format": chosen, "source": source}
        )
    else:
        out.print(
            f"Wrote {rows:,} rows of {dataset} to {escape(str(output))} ({chosen}, {source})."
        )


def raise_input(message: str, fix: str) -> None:
    raise InputError(message, fix)
