"""``flitch dashboard`` draws a dashboard for a connection; ``flitch dashboards …`` manages the
user-made ones (list, show, create, copy, export, import, delete, move, and their charts).

The built-in dashboards are ``payments``, ``billing`` and ``revenue``. With refresh off (the
default) a dashboard reads Stripe live, each list once, narrowed to the period wherever the
metric allows; with refresh on it is answered from the cache.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from flitch.cli.app import app
from flitch.cli.common import ApiBaseOption, JsonOption
from flitch.cli.common import consoles as _consoles
from flitch.cli.common import print_json as _print_json
from flitch.cli.common import service as _service
from flitch.errors import InputError

if TYPE_CHECKING:
    # Dashboards bring the metrics, the query engine and DuckDB: each command imports what it
    # uses, so `--help` and the other commands start without them.
    from flitch.connections.service import ConnectionService
    from flitch.dashboards.storage import DashboardStore
    from flitch.metrics.series import Grain

dashboards_app = typer.Typer(
    help="Manage your own dashboards: list, show, create, copy a built-in one, export, import, "
    "delete, reorder, and add, move or remove charts.",
    no_args_is_help=True,
)
app.add_typer(dashboards_app, name="dashboards")


def _boards(service: ConnectionService) -> DashboardStore:
    """The dashboards of the command's workspace (the built-in ones included)."""
    from flitch.cli.workspace import workspace_id
    from flitch.dashboards.storage import DashboardStore

    return DashboardStore(service.db.db, service.workspace_id or workspace_id(service.db.db))


def _grain(text: str | None) -> Grain | None:
    from flitch.metrics.series import Grain

    if text is None:
        return None
    try:
        return Grain(text.lower())
    except ValueError:
        raise InputError(f"{text!r} is not a grain.", "Use day, week or month.") from None


@app.command("dashboard")
def dashboard_command(
    connection: str = typer.Argument(..., help="The connection's name."),
    name: str = typer.Argument(..., help="payments, billing, revenue, retention, or one of yours."),
    start: str | None = typer.Option(None, "--from", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--to", help="Last day (included), YYYY-MM-DD."),
    last: str | None = typer.Option(None, "--last", help="7d, 30d (default), 90d or 12m."),
    grain: str | None = typer.Option(None, help="day, week or month (default: by period)."),
    currency: str | None = typer.Option(
        None, help="Show one currency only (e.g. usd); a chart that cannot be says why."
    ),
    reporting: str | None = typer.Option(
        None,
        "--reporting-currency",
        help="Money in one currency (e.g. usd), converted at Stripe's settlement rates; "
        "currencies never settled into it stay apart.",
    ),
    live: bool = typer.Option(False, "--live", help="Read Stripe now even if refresh is on."),
    as_json: bool = JsonOption,
    api_base: str | None = ApiBaseOption,
) -> None:
    """Draw a dashboard for a connection: headline numbers with the change against the
    previous period, charts over time as sparklines, and tables.

    --json prints the dashboard as JSON: "metrics" maps each headline metric (mrr, arr,
    gross_volume, net_volume, fees, payouts, …) to its value per currency in minor units,
    "metrics_previous" and "metrics_change" to what each is compared with (the previous
    period, or for present-day values such as MRR their value at the period's start) and the
    change, and "charts" holds every chart's values, series or rows with their drill-downs,
    and "per_currency" (false, with "currency_note" saying why, for a chart that shows every
    currency whatever --currency says). With --reporting-currency, money is keyed by that
    currency (and by any currency never settled into it), each converted chart says so in
    "converted", and "reporting" lists the rates used with their balance transaction.
    """
    import asyncio

    from flitch.cli.dashboard_live import show_live
    from flitch.dashboards import load_dashboard, resolve
    from flitch.dashboards.evaluate import pick_currency
    from flitch.dashboards.terminal import render, summary
    from flitch.query.engine import QueryEngine

    out, err = _consoles()
    with _service(as_json, api_base) as service:
        period = resolve(last, start, end)
        picked = pick_currency(currency)
        converting = pick_currency(reporting)
        # charts are printed as they arrive in their own currencies: converted, all at once
        progressive = not as_json and out.is_terminal and converting is None
        board = _boards(service).find(name)

        async def go() -> dict[str, Any]:
            engine = QueryEngine(service.settings, service)
            try:
                if progressive:  # each chart printed as it arrives
                    return await show_live(
                        out,
                        err,
                        engine,
                        connection,
                        board,
                        period,
                        grain=_grain(grain),
                        currency=picked,
                        force_live=live,
                    )
                return await load_dashboard(
                    engine,
                    connection,
                    board,
                    period,
                    grain=_grain(grain),
                    currency=picked,
                    reporting=converting,
                    force_live=live,
                )
            finally:
                await engine.aclose()

        data = asyncio.run(go())
    if as_json:
        _print_json({"ok": True, **data})
        return
    if progressive:
        summary(out, data)
        return
    render(out, data)
    if "reporting" in data:
        _rates(out, data["reporting"])


def _rates(out: Any, reporting: dict[str, Any]) -> None:
    """What the converted numbers were converted with."""
    out.print(f"\nMoney in {reporting['currency'].upper()}, {reporting['label']}.")
    for rate in reporting["rates"]:
        out.print(
            f"  {rate['currency'].upper()} at {rate['rate']} on {rate['at'][:10]} "
            f"(balance transaction {rate['transaction']})"
        )
    if reporting["note"]:
        out.print(f"  {reporting['note']}")


# -- user dashboards -------------------------------------------------------------------------------
@dashboards_app.command("list")
def list_command(as_json: bool = JsonOption) -> None:
    """List the dashboards: the built-in ones, then yours in their order."""
    from flitch.dashboards.builtin import BUILTIN

    out, _ = _consoles()
    with _service(as_json) as service:
        mine = _boards(service).all()
    items: list[dict[str, Any]] = [
        {"name": d.name, "title": d.title, "builtin": d.builtin, "charts": len(d.charts)}
        for d in [*BUILTIN.values(), *mine]
    ]
    if as_json:
        _print_json({"ok": True, "dashboards": items})
        return
    table = Table(show_edge=False, pad_edge=False)
    for col in ("Name", "Title", "Charts", "Kind"):
        table.add_column(col)
    for i in items:
        kind = "built-in" if i["builtin"] else "yours"
        table.add_row(escape(i["name"]), escape(i["title"]), str(i["charts"]), kind)
    out.print(table)


@dashboards_app.command("show")
def show_command(name: str = typer.Argument(..., help="The dashboard.")) -> None:
    """Print a dashboard's definition as JSON (the same form export writes)."""
    with _service(True) as service:
        _print_json(_boards(service).export(name))


@dashboards_app.command("copy")
def copy_command(
    source: str = typer.Argument(..., help="The dashboard to start from, e.g. payments."),
    name: str = typer.Argument(..., help="The new dashboard's name."),
    title: str | None = typer.Option(None, help="Its title (default: the source's, copied)."),
    as_json: bool = JsonOption,
) -> None:
    """Start a dashboard of your own as a copy of a built-in (or another) dashboard."""
    out, _ = _consoles()
    with _service(as_json) as service:
        made = _boards(service).copy(source, name, title)
    if as_json:
        _print_json({"ok": True, "dashboard": made.to_dict()})
        return
    out.print(f"Created {escape(made.name)} ({len(made.charts)} charts) from {escape(source)}.")


@dashboards_app.command("create")
def create_command(
    name: str = typer.Argument(..., help="The new dashboard's name."),
    title: str = typer.Option("", help="Its title (default: the name)."),
    as_json: bool = JsonOption,
) -> None:
    """Create an empty dashboard; add charts with add-chart."""
    from flitch.dashboards import Dashboard

    out, _ = _consoles()
    with _service(as_json) as service:
        made = _boards(service).create(Dashboard(name=name, title=title or name, charts=()))
    if as_json:
        _print_json({"ok": True, "dashboard": made.to_dict()})
        return
    out.print(f"Created {escape(made.name)}. Add charts with flitch dashboards add-chart.")


@dashboards_app.command("add-chart")
def add_chart_command(
    name: str = typer.Argument(..., help="The dashboard."),
    chart: str = typer.Argument(
        ...,
        help='The chart as JSON, e.g. \'{"title": "Refunds by day", "type": "bar", '
        '"dataset": "charges", "measures": [{"agg": "sum", "column": "amount_refunded"}], '
        '"group": {"grain": "day"}}\'',
    ),
    position: int | None = typer.Option(None, help="Where to put it (0 first; default last)."),
    as_json: bool = JsonOption,
) -> None:
    """Add a chart to one of your dashboards."""
    from flitch.dashboards import chart_from_dict

    out, _ = _consoles()
    with _service(as_json) as service:
        body = _parse_json(chart, "the chart")
        saved = _boards(service).add_chart(name, chart_from_dict(body), position)
    if as_json:
        _print_json({"ok": True, "dashboard": saved.to_dict()})
        return
    out.print(f"{escape(name)} now has {len(saved.charts)} charts.")


@dashboards_app.command("remove-chart")
def remove_chart_command(
    name: str = typer.Argument(..., help="The dashboard."),
    chart_id: str = typer.Argument(..., help="The chart's id (flitch dashboards show)."),
    as_json: bool = JsonOption,
) -> None:
    """Remove a chart from one of your dashboards."""
    out, _ = _consoles()
    with _service(as_json) as service:
        saved = _boards(service).remove_chart(name, chart_id)
    if as_json:
        _print_json({"ok": True, "dashboard": saved.to_dict()})
        return
    out.print(f"Removed {escape(chart_id)}; {len(saved.charts)} charts left.")


@dashboards_app.command("move-chart")
def move_chart_command(
    name: str = typer.Argument(..., help="The dashboard."),
    chart_id: str = typer.Argument(..., help="The chart's id."),
    position: int = typer.Argument(..., help="Its new place, 0 first."),
    as_json: bool = JsonOption,
) -> None:
    """Move a chart within one of your dashboards."""
    out, _ = _consoles()
    with _service(as_json) as service:
        saved = _boards(service).move_chart(name, chart_id, position)
    if as_json:
        _print_json({"ok": True, "dashboard": saved.to_dict()})
        return
    out.print("Charts now: " + ", ".join(c.id for c in saved.charts))


@dashboards_app.command("move")
def move_command(
    name: str = typer.Argument(..., help="The dashboard."),
    position: int = typer.Argument(..., help="Its new place among yours, 0 first."),
    as_json: bool = JsonOption,
) -> None:
    """Move one of your dashboards in the list."""
    out, _ = _consoles()
    with _service(as_json) as service:
        order = _boards(service).move(name, position)
    if as_json:
        _print_json({"ok": True, "order": order})
        return
    out.print("Your dashboards now: " + ", ".join(order))


@dashboards_app.command("delete")
def delete_command(
    name: str = typer.Argument(..., help="The dashboard."), as_json: bool = JsonOption
) -> None:
    """Delete one of your dashboards (the built-in ones stay)."""
    out, _ = _consoles()
    with _service(as_json) as service:
        _boards(service).delete(name)
    if as_json:
        _print_json({"ok": True, "deleted": name})
        return
    out.print(f"Deleted {escape(name)}.")


@dashboards_app.command("export")
def export_command(
    name: str = typer.Argument(..., help="The dashboard (built-in ones too)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
) -> None:
    """Export a dashboard as JSON, to import elsewhere."""
    with _service(True) as service:
        data = _boards(service).export(name)
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


@dashboards_app.command("import")
def import_command(
    source: Path = typer.Argument(..., help="A JSON file written by export ('-': stdin)."),
    name: str | None = typer.Option(None, help="Save it under this name instead."),
    replace: bool = typer.Option(False, "--replace", help="Replace a dashboard of that name."),
    as_json: bool = JsonOption,
) -> None:
    """Import a dashboard from JSON (as written by export)."""
    out, _ = _consoles()
    with _service(as_json) as service:
        try:
            text = sys.stdin.read() if str(source) == "-" else source.read_text()
        except OSError as exc:
            raise InputError(f"Cannot read {source}: {exc.strerror}.", "Check the path.") from None
        saved = _boards(service).import_(
            _parse_json(text, str(source)), name=name, replace_existing=replace
        )
    if as_json:
        _print_json({"ok": True, "dashboard": saved.to_dict()})
        return
    out.print(f"Imported {escape(saved.name)} ({len(saved.charts)} charts).")


def _parse_json(text: str, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"{what} is not valid JSON: {exc}.", "Check the quotes and braces."
        ) from None
