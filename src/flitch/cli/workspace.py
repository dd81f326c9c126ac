"""The workspace a ``flitch`` command acts in, and ``flitch workspaces …``.

``flitch --workspace NAME <command>`` (or ``FLITCH_WORKSPACE=NAME``) makes every command that
works on connections, dashboards, datasets, users' roles or tokens act in that workspace (by
name or id); without it they act in the workspace "default", which is all a single-machine
install has. The command's connection service is bound to it once, here
(:func:`in_chosen_workspace`): a connection of another workspace is not found, as in the web
app.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from flitch.cli.app import app
from flitch.config import Settings
from flitch.errors import FlitchError, InputError

if TYPE_CHECKING:
    from flitch.connections.service import ConnectionService
    from flitch.metadb import Database

WORKSPACE_ENV = "FLITCH_WORKSPACE"
#: What this invocation's ``--workspace`` (or FLITCH_WORKSPACE) said: set by the callback below,
#: which runs first on every invocation (None when neither was given).
_CHOSEN: ContextVar[str | None] = ContextVar("flitch_workspace", default=None)

workspaces_app = typer.Typer(
    help="Workspaces: the walls between the organisations one Flitch serves. Each holds its "
    "own connections, dashboards and API tokens; users belong to workspaces with a role in "
    "each.",
    no_args_is_help=True,
)
app.add_typer(workspaces_app, name="workspaces")


@app.callback()
def choose_workspace(
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            envvar=WORKSPACE_ENV,
            help="The workspace (name or id) the command acts in. Default: FLITCH_WORKSPACE, "
            "else 'default'.",
        ),
    ] = None,
) -> None:
    """Flitch: dashboards on your Stripe payments, billing and revenue, read through a
    read-only restricted API key."""
    _CHOSEN.set(workspace.strip() if workspace and workspace.strip() else None)


def chosen() -> str | None:
    """The ``--workspace`` given to this ``flitch`` command (or FLITCH_WORKSPACE), if any."""
    return _CHOSEN.get()


def workspace_id(db: Database) -> str:
    """The id of the chosen workspace; ``NotFound`` names the workspaces there are."""
    from flitch.workspaces import DEFAULT_WORKSPACE, WorkspaceStore

    wanted = chosen()
    if wanted is None:
        return DEFAULT_WORKSPACE
    store = WorkspaceStore(db)
    try:
        return store.get(wanted).id
    except FlitchError as error:
        names = ", ".join(w.name for w in store.all())
        raise InputError(
            error.message,
            f"Workspaces: {names}. Give one of them with --workspace (or FLITCH_WORKSPACE).",
        ) from None


def in_chosen_workspace(service: ConnectionService) -> ConnectionService:
    """The command's service bound to the chosen workspace."""
    return service.in_workspace(workspace_id(service.db.db))


# -- flitch workspaces … -------------------------------------------------------------------------


def _database() -> Database:
    from flitch.metadb import open_database

    settings = Settings.from_env()
    return open_database(settings.home, settings.database_url)


def _fail(error: FlitchError) -> typer.Exit:
    typer.echo(f"Error: {error.message}", err=True)
    if error.fix:
        typer.echo(error.fix, err=True)
    return typer.Exit(2 if isinstance(error, InputError) else 1)


@workspaces_app.command("list")
def workspaces_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Every workspace with its members."""
    from flitch.workspaces import WorkspaceStore

    with _database() as db:
        store = WorkspaceStore(db)
        rows = [
            {**w.to_dict(), "members": [m.to_dict() for m in store.members(w.id)]}
            for w in store.all()
        ]
    if as_json:
        typer.echo(orjson.dumps({"workspaces": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        members = ", ".join(
            f"{m['name']} ({m['role']}{', owner' if m['owner'] else ''})" for m in row["members"]
        )
        typer.echo(f"{row['name']}  {row['id']}  {members or 'no members'}")


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Argument(help="The new workspace's name.")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="The user who becomes its first owner.")
    ] = None,
) -> None:
    """Create an empty workspace, with a user as its first owner."""
    from flitch.web.users import UserStore
    from flitch.workspaces import WorkspaceStore

    with _database() as db:
        try:
            owner_id = UserStore(db).get(owner).id if owner else None
            made = WorkspaceStore(db).create(name, owner_id=owner_id)
        except FlitchError as error:
            raise _fail(error) from None
    typer.echo(f"Created workspace {made.name} ({made.id}).")


@workspaces_app.command("invite")
def workspaces_invite(
    role: Annotated[str, typer.Option("--role", help="admin or viewer.")] = "viewer",
) -> None:
    """A one-time invitation code to the chosen workspace (--workspace), shown once: the user
    who signs in and enters it joins with that role."""
    from flitch.workspaces import WorkspaceStore
    from flitch.workspaces.model import parse_role

    with _database() as db:
        try:
            code, _ = WorkspaceStore(db).invite(workspace_id(db), parse_role(role), by=None)
        except FlitchError as error:
            raise _fail(error) from None
    typer.echo(code)


@workspaces_app.command("delete")
def workspaces_delete(
    name: Annotated[str, typer.Argument(help="The workspace's name or id.")],
    confirm: Annotated[
        str, typer.Option("--confirm", help="The workspace's name, typed again.")
    ] = "",
) -> None:
    """Delete a workspace with everything in it: each connection as disconnect deletes one
    (key, rows, every byte of its cache), its members, invitations, API tokens and
    dashboards."""
    from flitch.connections.service import ConnectionService
    from flitch.workspaces import WorkspaceStore
    from flitch.workspaces.deletion import delete_workspace

    try:
        with ConnectionService(Settings.from_env()) as service:
            store = WorkspaceStore(service.db.db)
            done = delete_workspace(service, store, store.get(name).id, confirm)
    except FlitchError as error:
        raise _fail(error) from None
    gone = len(done.connections)
    typer.echo(
        f"Deleted workspace {done.workspace.name} and its {gone} connection"
        f"{'' if gone == 1 else 's'}."
    )
    if gone:
        typer.echo(done.to_dict()["reminder"])
