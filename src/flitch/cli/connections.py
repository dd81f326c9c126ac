"""``flitch connect``, ``connections``, ``update-key``, ``set-refresh``, ``set-objects``,
``disconnect``: the connection lifecycle from a terminal, each with ``--json``.

Keys are read as ``flitch test`` reads them (``FLITCH_STRIPE_KEY``, standard input, or a hidden
prompt; never the command line) and only ever shown masked. Every command goes through
:class:`~flitch.connections.service.ConnectionService`, the API the web app uses too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flitch import catalog
from flitch.cli.app import app
from flitch.cli.common import ApiBaseOption, JsonOption
from flitch.cli.common import consoles as _consoles
from flitch.cli.common import print_json as _print_json
from flitch.cli.common import service as _service
from flitch.cli.keyinput import ENV_VAR, read_key
from flitch.cli.source import render
from flitch.connections.records import (
    REFRESH_CHOICES,
    ConnectionInfo,
    DatasetStatus,
    parse_objects,
    parse_refresh,
)
from flitch.errors import (
    InputError,
)

if TYPE_CHECKING:
    from flitch.connections.service import SaveResult

EXIT_HELP = (
    "Exit status: 0 done; 1 another error; 2 bad input (name, objects, refresh, unknown "
    "connection); 3 key refused before any request; 4 authentication failed; 6 Stripe could "
    "not be reached."
)
KEY_HELP = (
    f"The key is read from {ENV_VAR} if set, else from standard input when it is not a "
    "terminal, else from a hidden prompt; never from the command line."
)
REFRESH_HELP = (
    "off (the default: dashboards query Stripe live) or an interval at which a background "
    f"refresh fills the cache: {', '.join(REFRESH_CHOICES)}."
)
OBJECTS_HELP = "Comma-separated objects (default: all twelve): " + ", ".join(catalog.NAMES) + "."


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


_BADGE = {"test": "[black on yellow] TEST [/]", "live": "[white on green] LIVE [/]"}
_STATUS = {
    "ok": "[green]ok[/]",
    "blocked": "[yellow]blocked objects[/]",
    "failed": "[red]failed[/]",
    "auth_failed": "[bold red]authentication failed[/]",
}


def _show_saved(result: SaveResult, out: Console, verb: str) -> None:
    info = result.connection
    ok = [d for d in info.datasets if d.status is DatasetStatus.OK]
    out.print(
        f"[bold green]{verb}[/] connection [bold]{escape(info.name)}[/] ({info.id}): "
        f"{_BADGE[info.mode]} key {escape(info.key_masked)}, {len(info.datasets)} objects "
        f"({len(ok)} readable, {len(info.blocked)} blocked), refresh {info.refresh}."
    )
    if info.blocked:
        out.print(
            "[bold yellow]Blocked objects[/] (saved, but the key cannot read them yet; each "
            "becomes readable once the key is granted Read on it):"
        )
        for d in info.blocked:
            out.print(f"  • {escape(d.label)}: {escape(d.fix or d.reason or '')}")
        out.print(
            f"After editing the key in Stripe, run `flitch update-key {escape(info.name)}` with "
            "the same key (or a new one) to test it again."
        )
    failed = [d for d in info.datasets if d.status is DatasetStatus.FAILED]
    for d in failed:
        out.print(f"  [red]! {escape(d.label)}[/]: {escape(d.reason or '')} {escape(d.fix or '')}")
    events = "can" if info.can_read_events else "cannot"
    out.print(f"The key {events} read Events. Each picked object is a dataset.")
    if info.refresh == "off":
        out.print(
            "Refresh is off: every dashboard load queries Stripe live. Turn it on with "
            f"`flitch set-refresh {escape(info.name)} 1h` to serve from a cache between runs."
        )


# -- commands ------------------------------------------------------------------------------------


@app.command(
    "connect",
    help=f"Test a restricted key and save it as a connection. {KEY_HELP}\n\n{EXIT_HELP}",
)
def connect(
    name: str = typer.Argument(..., help="A name for the connection (unique, 1-64 characters)."),
    objects: str | None = typer.Option(None, "--objects", help=OBJECTS_HELP),
    refresh_every: str = typer.Option("off", "--refresh-every", help=REFRESH_HELP),
    as_json: bool = JsonOption,
    api_base: str | None = ApiBaseOption,
) -> None:
    out, _ = _consoles()
    with _service(as_json, api_base) as service:
        # Everything that can be checked without the key is checked before asking for it.
        clean = service.check_new_name(name)
        picked = parse_objects(objects)
        parse_refresh(refresh_every)
        key = read_key()
        result = service.create(clean, key, picked, refresh_every)
        if as_json:
            _print_json({"ok": True, **result.to_dict()})
            return
        render(result.probe, out)
        _show_saved(result, out, "Saved")


@app.command("connections", help="List the saved connections.")
def connections(
    as_json: bool = JsonOption,
    compact: bool = typer.Option(
        False,
        "--compact",
        help="First compact the metadata database (VACUUM), leaving no trace of deleted "
        "connections in its free pages or write-ahead log.",
    ),
) -> None:
    from flitch.connections.metadata import MetadataError

    out, _ = _consoles()
    with _service(as_json) as service:
        if compact and not service.db.scrub():
            raise MetadataError(
                "The metadata database is in use by another Flitch process.",
                "Stop `flitch serve` (and any refresh), then run `flitch connections --compact`.",
            )
        infos = service.list()
        if as_json:
            _print_json({"ok": True, "connections": [i.to_dict() for i in infos]})
            return
        if not infos:
            out.print("No connection is saved. Add one with `flitch connect NAME`.")
            return
        out.print(_table(infos))


def _table(infos: list[ConnectionInfo]) -> Table:
    table = Table(expand=False)
    for column in ("Name", "Mode", "Key", "Objects", "Refresh", "Last refresh", "Status"):
        table.add_column(column, no_wrap=column != "Objects")
    for info in infos:
        blocked = f", {len(info.blocked)} blocked" if info.blocked else ""
        objects = ("all 12" if info.objects == catalog.NAMES else ", ".join(info.objects)) + blocked
        table.add_row(
            escape(info.name),
            _BADGE[info.mode],
            escape(info.key_masked),
            escape(objects),
            info.refresh,
            _when(info.last_refresh_at),
            _STATUS.get(info.status, info.status),
        )
    return table


@app.command(
    "update-key",
    help="Replace a connection's key (after it was rolled or deleted in Stripe, or to pick up "
    f"new permissions); the new key is tested first. {KEY_HELP}\n\n{EXIT_HELP}",
)
def update_key(
    name: str = typer.Argument(..., help="The connection's name or id."),
    switch_mode: bool = typer.Option(
        False,
        "--switch-mode",
        help="Accept a key of the other mode (test/live): the connection then reads that "
        "mode's data and its cache is deleted.",
    ),
    as_json: bool = JsonOption,
    api_base: str | None = ApiBaseOption,
) -> None:
    out, _ = _consoles()
    with _service(as_json, api_base) as service:
        before = service.get(name)
        key = read_key()
        result = service.update_key(before.id, key, switch_mode=switch_mode)
        was_blocked = {d.object for d in before.blocked}
        unblocked = [d.object for d in result.connection.datasets if d.object in was_blocked]
        unblocked = [o for o in unblocked if o not in {d.object for d in result.blocked}]
        if as_json:
            _print_json({"ok": True, "unblocked": unblocked, **result.to_dict()})
            return
        render(result.probe, out)
        _show_saved(result, out, "Updated the key of")
        if unblocked:
            out.print(f"Readable now: {', '.join(unblocked)}.")


@app.command("set-refresh", help=f"Set how a connection refreshes: {REFRESH_HELP}\n\n{EXIT_HELP}")
def set_refresh(
    name: str = typer.Argument(..., help="The connection's name or id."),
    every: str = typer.Argument(..., help="off, " + ", ".join(REFRESH_CHOICES) + "."),
    as_json: bool = JsonOption,
) -> None:
    out, _ = _consoles()
    with _service(as_json) as service:
        info = service.set_refresh(name, every)
        if as_json:
            _print_json({"ok": True, "connection": info.to_dict()})
            return
        if info.refresh == "off":
            out.print(
                f"Refresh of [bold]{escape(info.name)}[/] is off: dashboards query Stripe live."
            )
        else:
            out.print(
                f"[bold]{escape(info.name)}[/] refreshes every {info.refresh}; dashboards are "
                "served from the cache between runs."
            )


@app.command(
    "set-objects",
    help="Change which objects a connection reads (each is a dataset); new ones are tested "
    f"with the saved key, and unpicked ones are dropped from the cache.\n\n{EXIT_HELP}",
)
def set_objects(
    name: str = typer.Argument(..., help="The connection's name or id."),
    objects: str = typer.Argument(..., help=OBJECTS_HELP + " Or all."),
    as_json: bool = JsonOption,
    api_base: str | None = ApiBaseOption,
) -> None:
    out, _ = _consoles()
    with _service(as_json, api_base) as service:
        result = service.set_objects(name, objects)
        if as_json:
            _print_json({"ok": True, **result.to_dict()})
            return
        _show_saved(result, out, "Updated the objects of")


@app.command(
    "disconnect",
    help="Delete a connection: its encrypted key, its datasets and every byte of its cache. "
    f"Then delete the key in Stripe too.\n\n{EXIT_HELP}",
)
def disconnect(
    name: str = typer.Argument(..., help="The connection's name or id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    out, _ = _consoles()
    with _service(as_json) as service:
        info = service.get(name)
        if not yes:
            _confirm(info, as_json)
        deleted = service.delete(info.id)
        if as_json:
            _print_json({"ok": True, **deleted.to_dict()})
            return
        out.print(
            f"[bold]Deleted[/] connection {escape(deleted.name)} ({deleted.id}): its key "
            f"({escape(deleted.key_masked)}), datasets and cache are gone from this machine."
        )
        if not deleted.scrubbed:
            out.print(
                "[yellow]Another Flitch process kept the metadata database busy, so it could not "
                "be compacted now. Stop `flitch serve`, then run `flitch connections --compact` "
                "to remove the last traces.[/]"
            )
        out.print(f"[bold yellow]Now, in Stripe:[/] {escape(deleted.reminder)}")


def _confirm(info: ConnectionInfo, as_json: bool, ask: Callable[..., bool] = typer.confirm) -> None:
    if as_json or not sys.stdin.isatty():
        raise InputError(
            f"Deleting {info.name!r} needs confirmation.",
            f"Run `flitch disconnect {info.name} --yes` to delete it without being asked.",
        )
    question = (
        f"Delete connection {info.name!r} ({info.mode} mode, {len(info.datasets)} datasets) "
        "with its key and cached data?"
    )
    if not ask(question, default=False, err=True):
        raise InputError("Nothing was deleted.", "Run it again and answer y to delete it.")
