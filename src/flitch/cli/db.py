"""``flitch db upgrade``, ``flitch db check`` and ``flitch migrate-to-postgres``: the metadata
database from a terminal (FLITCH_DATABASE_URL, else FLITCH_HOME/flitch.db).

Passwords in a database URL are never printed: every message names the database with its
password hidden.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from flitch.cli.app import app
from flitch.config import Settings
from flitch.errors import FlitchError

if TYPE_CHECKING:
    from flitch.metadb.health import Health

db_app = typer.Typer(
    help="The metadata database: SQLite in FLITCH_HOME, or PostgreSQL (FLITCH_DATABASE_URL).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _print_json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


@contextmanager
def _errors(as_json: bool) -> Iterator[Settings]:
    """The settings; a Flitch error printed as message + fix, exit status 1."""
    try:
        try:
            settings = Settings.from_env()
        except ValueError as exc:
            raise FlitchError(str(exc), "Fix the environment variable and try again.") from None
        yield settings
    except FlitchError as error:
        if as_json:
            _print_json({"ok": False, "error": error.to_dict()})
        else:
            typer.echo(f"Error: {error.message}", err=True)
            if error.fix:
                typer.echo(error.fix, err=True)
        raise typer.Exit(1) from None


def _versions(found: dict[str, int]) -> str:
    return ", ".join(f"{part} {version}" for part, version in found.items())


@db_app.command("upgrade")
def upgrade_command(as_json: JsonOption = False) -> None:
    """Create the metadata tables, or bring them up to date (forward migrations).

    Every flitch process does this when it opens the database; run it once before starting
    the processes of a new version, so none of them waits for it.
    """
    from flitch.metadb.target import Target, connect
    from flitch.metadb.upgrade import upgrade, versions

    with _errors(as_json) as settings:
        target = Target.of(settings.home, settings.database_url)
        if target.path is not None:
            from flitch.connections.crypto import ensure_home

            ensure_home(settings.home)
        with connect(target) as db:
            before = versions(db)
            after = upgrade(db)
        steps = sum(after[k] - before[k] for k in after)
        if as_json:
            _print_json({"ok": True, "where": target.where, "before": before, "after": after})
            return
        typer.echo(f"{target.where}: {_versions(after)}")
        typer.echo(f"Applied {steps} migration(s)." if steps else "Already up to date.")


@db_app.command("check")
def check_command(as_json: JsonOption = False) -> None:
    """Check the metadata database: reachable, how fast, which version, and whether its tables
    are this Flitch's (exit status 0), behind (run `flitch db upgrade`) or newer (1)."""
    from flitch.metadb.health import check
    from flitch.metadb.target import Target

    with _errors(as_json) as settings:
        health = check(Target.of(settings.home, settings.database_url))
    if as_json:
        _print_json(health.to_dict())
    else:
        typer.echo(f"Database: {health.where} ({health.engine} {health.server_version})".rstrip())
        if not health.reachable:
            typer.echo(f"Error: {health.error}", err=True)
        else:
            if health.round_trip_ms is not None:
                typer.echo(f"Round trip: {health.round_trip_ms:.1f} ms")
            typer.echo(f"Schema: {health.state} ({_versions(health.versions or health.latest)})")
            _echo_replication(health)
        if health.fix:
            typer.echo(health.fix, err=not health.reachable)
    if not health.ok:
        raise typer.Exit(1)


def _echo_replication(health: Health) -> None:
    """A standby's lag behind its primary, or a primary's standbys (PostgreSQL only)."""
    if health.role == "standby":
        lag = (
            "nothing replayed yet"
            if health.replay_lag_s is None
            else (f"last replayed transaction {health.replay_lag_s:.1f} s old")
        )
        state = "caught up" if health.caught_up else "replaying"
        typer.echo(f"Replication: standby, {state}, {lag}")
    elif health.role == "primary":
        if not health.standbys:
            typer.echo("Replication: primary, no standby streaming from it")
        for standby in health.standbys:
            seconds = standby["replay_lag_s"]
            behind = "in step" if seconds is None else f"{seconds} s behind"
            name = standby["name"] or standby["address"]
            typer.echo(f"Replication: standby {name} {standby['state']}, {behind}")


@app.command("migrate-to-postgres")
def migrate_command(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The PostgreSQL database to move into (postgresql://USER:PASSWORD@HOST/DB). "
            "Default: FLITCH_DATABASE_URL.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Move this install's metadata (FLITCH_HOME/flitch.db) into an empty PostgreSQL database.

    Connections keep their keys sealed: start every process that uses the database with the
    same FLITCH_SECRET_KEY (or a copy of FLITCH_HOME/secret.key). Stop the install's flitch
    processes first; the SQLite file is left as it was.
    """
    from flitch.metadb.transfer import move_to_postgres

    with _errors(as_json) as settings:
        url = to or settings.database_url
        if not url:
            raise FlitchError(
                "Which PostgreSQL database should the metadata move to?",
                "Give it with --to postgresql://USER:PASSWORD@HOST/DB, or set FLITCH_DATABASE_URL.",
            )
        moved = move_to_postgres(settings.home, url)
    if as_json:
        _print_json({"ok": True, **moved.to_dict()})
        return
    typer.echo(f"Moved {moved.source} into {moved.target}:")
    for table, count in moved.rows.items():
        typer.echo(f"  {table}: {count}")
    typer.echo(
        "Now set FLITCH_DATABASE_URL to it for every flitch process, with the same "
        "FLITCH_SECRET_KEY (or a copy of FLITCH_HOME/secret.key): the keys are still sealed by it."
    )
