"""``flitch serve``, ``flitch users …`` and ``flitch tokens …``: the web app from a terminal.

Passwords are never taken on the command line (it ends up in shell history and ``ps``): they are
read from standard input when it is not a terminal (the first line), else from a hidden prompt
asked twice. API tokens are printed once, when created; only their first characters are kept.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from flitch.cli.app import app
from flitch.cli.workspace import workspace_id
from flitch.config import Settings
from flitch.errors import FlitchError, InputError
from flitch.private import home_warning

if TYPE_CHECKING:
    # The users' store brings argon2 (and, through the web errors, DuckDB): imported by the
    # commands that use it, so `--help` and the other commands start without them.
    from flitch.web.users import UserStore

users_app = typer.Typer(
    help="Manage who may sign in to the web app (admins manage connections and users; viewers "
    "see datasets and dashboards).",
    no_args_is_help=True,
)
tokens_app = typer.Typer(
    help="API tokens for scripts calling the JSON API (Authorization: Bearer flt_…).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
RevokeOption = Annotated[
    bool,
    typer.Option(
        "--revoke-tokens/--keep-tokens",
        help="Also revoke the user's API tokens (the default), or keep their scripts running.",
    ),
]


@contextmanager
def _errors() -> Iterator[None]:
    """Print a Flitch error as message + what to do, and exit 2 (bad input) or 1."""
    try:
        yield
    except FlitchError as error:
        typer.echo(f"Error: {error.message}", err=True)
        if error.fix:
            typer.echo(error.fix, err=True)
        raise typer.Exit(2 if isinstance(error, InputError) else 1) from None


def _store() -> UserStore:
    from flitch.web.userdb import for_settings
    from flitch.web.users import UserStore

    settings = Settings.from_env()
    return UserStore(for_settings(settings))


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def read_password(prompt: str = "Password") -> str:
    """A password from standard input (first line) or a hidden prompt asked twice."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise InputError(
                "No password was given on standard input.",
                "Pipe the password in (one line), or run the command in a terminal to be asked.",
            )
        return line.rstrip("\r\n")
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True)
    return value


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (FLITCH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (FLITCH_PORT).")] = None,
    scheduler: Annotated[
        bool,
        typer.Option(
            help="Also run the refresh scheduler (connections with refresh on) in the background."
        ),
    ] = True,
) -> None:
    """Run the web app (the Data pages, dashboards, the JSON API under /api/v1/) and the
    refresh scheduler."""
    import uvicorn

    from flitch.refresh.scheduler import Scheduler
    from flitch.web import create_app

    settings = Settings.from_env(host=host, port=port)
    if scheduler and not settings.scheduler_poll > 0:
        with _errors():
            raise InputError(
                f"FLITCH_SCHEDULER_POLL={settings.scheduler_poll:g} is not a poll interval.",
                "Give the seconds between the scheduler's looks, above 0 (default 30).",
            )
    warning = home_warning(settings.home)
    if warning:
        typer.echo(warning, err=True)
    with _errors():
        web = create_app(settings)
        code = web.state.flitch.setup_code()
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{shown}:{settings.port}"
    typer.echo(f"Flitch is serving on {url} (data in {settings.home}).")
    if code is not None:
        # Only this console shows the code: the first account is for whoever started Flitch.
        typer.echo(f"No account exists yet: open {url}/setup?code={code} to create the admin one.")
        typer.echo(f"  Setup code: {code}  (or run `flitch users add NAME --role admin` instead).")
    background = Scheduler(settings, poll=settings.scheduler_poll).start() if scheduler else None
    try:
        # Forwarded headers are read by the app itself, and only with FLITCH_TRUST_PROXY=1.
        uvicorn.run(web, host=settings.host, port=settings.port, proxy_headers=False)
    finally:
        if background is not None:
            background.stop()


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    role: Annotated[str, typer.Option(help="admin or viewer.")] = "viewer",
) -> None:
    """Add a user. The password comes from standard input or a hidden prompt."""
    from flitch.web.users import parse_role

    with _errors():
        parsed = parse_role(role)
        store = _store()
        user = store.add(name, read_password(), parsed, workspace_id=workspace_id(store.db))
    typer.echo(f"Added {user.name} ({user.role.value}).")


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """List the users and their roles."""
    with _errors():
        users = _store().list_users()
    if as_json:
        rows = [{"name": u.name, "role": u.role.value, "created_at": u.created_at} for u in users]
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not users:
        typer.echo("No users yet. Add the first admin: flitch users add NAME --role admin")
        return
    width = max(len(u.name) for u in users)
    for u in users:
        typer.echo(f"{u.name:<{width}}  {u.role.value:<6}  added {_when(u.created_at)}")


def _revoked(count: int) -> str:
    if count == 0:
        return "they had no API tokens to revoke"
    return f"{count} API token{' was' if count == 1 else 's were'} revoked"


@users_app.command("password")
def users_password(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    revoke_tokens: RevokeOption = True,
) -> None:
    """Set a new password for a user (signs them out everywhere, and revokes their API tokens
    unless --keep-tokens)."""
    with _errors():
        store = _store()
        store.get(name)
        count = store.set_password(name, read_password("New password"), revoke_tokens=revoke_tokens)
    tokens = _revoked(count) if revoke_tokens else "their API tokens were kept"
    typer.echo(f"Password of {name} changed; their sessions were ended and {tokens}.")


@users_app.command("role")
def users_role(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[str, typer.Argument(help="admin or viewer.")],
    revoke_tokens: RevokeOption = True,
) -> None:
    """Make a user an admin or a viewer (the last admin stays an admin); a new role revokes
    their API tokens unless --keep-tokens."""
    from flitch.web.users import parse_role

    with _errors():
        store = _store()
        before = store.get(name)
        user, count = store.set_role(
            name, parse_role(role), revoke_tokens=revoke_tokens, workspace_id=workspace_id(store.db)
        )
    if user.role is before.role:
        typer.echo(f"{user.name} was already {user.role.value}.")
    elif revoke_tokens:
        typer.echo(f"{user.name} is now {user.role.value}; {_revoked(count)}.")
    else:
        typer.echo(f"{user.name} is now {user.role.value}; their API tokens were kept.")


@users_app.command("delete")
def users_delete(name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Delete a user with their sessions and API tokens (never the last admin)."""
    with _errors():
        _store().delete(name)
    typer.echo(f"Deleted {name}.")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="The user the token acts as (with their role).")],
    label: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    as_json: JsonOption = False,
) -> None:
    """Create an API token acting as user NAME. It is printed once: store it now."""
    with _errors():
        store = _store()
        token, secret = store.create_token(name, label, workspace_id=workspace_id(store.db))
    if as_json:
        data = {"id": token.id, "user": token.user_name, "label": token.label, "token": secret}
        typer.echo(orjson.dumps(data).decode())
        return
    typer.echo(secret)
    typer.echo(
        f"Token {token.id} ({token.label}) acts as {token.user_name}. It is shown only now; "
        "send it as 'Authorization: Bearer <token>'.",
        err=True,
    )


@tokens_app.command("list")
def tokens_list(as_json: JsonOption = False) -> None:
    """List API tokens (their first characters only) with their last use: when, to the
    minute, and from which address."""
    with _errors():
        tokens = _store().list_tokens()
    if as_json:
        rows = [
            {
                "id": t.id,
                "user": t.user_name,
                "label": t.label,
                "prefix": t.prefix,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "last_used_from": t.last_used_from,
            }
            for t in tokens
        ]
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not tokens:
        typer.echo("No API tokens. Create one: flitch tokens create NAME")
        return
    for t in tokens:
        used = "never used"
        if t.last_used_at is not None:
            used = (
                f"last used {_when(t.last_used_at)} from {t.last_used_from or 'an unknown address'}"
            )
        typer.echo(f"{t.id:>4}  {t.prefix}…  {t.user_name}  {t.label}  {used}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke an API token at once."""
    with _errors():
        _store().revoke_token(token_id)
    typer.echo(f"Revoked token {token_id}.")
