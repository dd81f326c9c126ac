"""``flitch demo``: the whole product on a seeded Stripe account, in one step.

It starts the Stripe emulator in this process on a generated account (Stripe's own rate limits
included), saves a connection to it with the emulator's demo test key in a demo data directory
(a temporary one unless ``--home`` is given), fills its cache with a first refresh, creates an
admin account with a fresh password, and serves the web app with the refresh scheduler, exactly as
``flitch serve`` does. It prints where to open the app and how to sign in. Everything runs
locally: no Stripe account, no network.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flitch.cli.app import app
from flitch.cli.emulator import banner, build_account
from flitch.config import Settings
from flitch.connections.records import ConnectionInfo
from flitch.emulator.auth import DEMO_LIMITED_KEY, DEMO_TEST_KEY
from flitch.errors import FlitchError, NotFound

if TYPE_CHECKING:
    # The emulator's server, the connection service and the web app's users bring uvicorn, the
    # Stripe source and argon2: imported when the demo runs, not whenever `flitch` starts.
    from flitch.connections.service import ConnectionService
    from flitch.emulator.server import Emulator

CONNECTION_NAME = "Demo account"
USER_NAME = "demo"


def _bind(host: str, port: int) -> socket.socket:
    """The web app's listening socket, bound now so a busy port is reported before any work."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        typer.echo(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Pass another --port "
            "(--port 0 picks a free one), or stop what is using it.",
            err=True,
        )
        raise typer.Exit(1) from None
    sock.listen(128)
    return sock


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def demo_connection(service: ConnectionService, refresh: str) -> ConnectionInfo:
    """The demo's connection (made on first run, kept after), on the emulator's test key."""
    try:
        info = service.get(CONNECTION_NAME)
    except NotFound:
        return service.create(CONNECTION_NAME, DEMO_TEST_KEY, None, refresh).connection
    return service.set_refresh(info.id, refresh)


def demo_admin(home: Path) -> str:
    """Make sure the demo's admin account exists; returns its new password."""
    from flitch.web.userdb import db_path
    from flitch.web.users import Role, UserStore

    password = secrets.token_urlsafe(12)
    users = UserStore(db_path(home))
    try:
        users.get(USER_NAME)
    except NotFound:
        users.add(USER_NAME, password, Role.ADMIN)
    else:
        users.set_password(USER_NAME, password)
    return password


def _first_refresh(service: ConnectionService, info: ConnectionInfo) -> None:
    from flitch.refresh import refresh

    typer.echo("Filling the demo connection's cache (a first refresh, at Stripe's own pace)…")
    started = time.monotonic()
    # In full: a kept --home may hold the cache of another seed's account.
    result = refresh(service, info.id, full=True, trigger="demo")
    seconds = time.monotonic() - started
    typer.echo(
        f"  {result.records:,} records from {len(result.datasets)} datasets, "
        f"{result.requests} requests, {seconds:.1f} s ({result.outcome.value})."
    )
    if result.error is not None:
        typer.echo(f"  {result.error}")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the web app (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Address of the web app and the emulator.")] = (
        "127.0.0.1"
    ),
    emulator_port: Annotated[
        int, typer.Option(help="Port of the Stripe emulator (0 picks a free one).")
    ] = 0,
    home: Annotated[
        Path | None,
        typer.Option(
            help="Data directory of the demo (kept afterwards). Default: a temporary one, "
            "deleted when the demo stops."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the demo account.")] = 42,
    customers: Annotated[int, typer.Option(help="Customers in the demo account.")] = 300,
    refresh: Annotated[
        str,
        typer.Option(
            help="The demo connection's refresh: off (every page reads the emulator live) or "
            "an interval (15m … 1d; the cache is filled before the app opens)."
        ),
    ] = "1h",
) -> None:
    """Run the demo: the web app on a seeded Stripe account (the emulator), with a connection
    already made and an admin account to sign in with. Ctrl-C stops it."""
    from flitch.connections.service import ConnectionService
    from flitch.emulator.server import Emulator, EmulatorConfig, settle_heap

    sock = _bind(host, port)
    # Stopped with SIGTERM as with Ctrl-C: the emulator stops and a temporary home is removed.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    folder = home.expanduser() if home is not None else Path(tempfile.mkdtemp(prefix="flitch-"))
    emulator: Emulator | None = None
    try:
        typer.echo(f"Generating the demo account (seed {seed}, {customers} customers)…")
        account = build_account(seed, customers)
        settle_heap()
        config = EmulatorConfig(seed=seed)
        try:
            emulator = Emulator(account, config, host=host, port=emulator_port).start()
        except OSError as exc:
            typer.echo(
                f"Cannot start the emulator on {host}:{emulator_port} ({exc.strerror or exc}). "
                "Pass another --emulator-port (0 picks a free one).",
                err=True,
            )
            raise typer.Exit(1) from None
        for line in banner(emulator.url, account, config):
            typer.echo(line)
        typer.echo("")
        settings = Settings.from_env(
            home=folder, stripe_api_base=emulator.url, host=host, port=sock.getsockname()[1]
        )
        with ConnectionService(settings) as service:
            try:
                info = demo_connection(service, refresh)
                if info.refresh_every is not None:
                    _first_refresh(service, info)
            except FlitchError as error:
                typer.echo(f"Error: {error.message}", err=True)
                typer.echo(error.fix, err=True)
                raise typer.Exit(1) from None
        password = demo_admin(folder)
        _serve(settings, sock, info, password)
    finally:
        sock.close()
        if emulator is not None:
            emulator.stop()
        if home is None:
            shutil.rmtree(folder, ignore_errors=True)


def _serve(settings: Settings, sock: socket.socket, info: ConnectionInfo, password: str) -> None:
    """Serve the web app and run the scheduler, as ``flitch serve`` does, until Ctrl-C."""
    import uvicorn

    from flitch.refresh.scheduler import Scheduler
    from flitch.web import create_app

    web = create_app(settings)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{shown}:{settings.port}"
    mode = "live queries" if info.refresh_every is None else f"refresh every {info.refresh}"
    for line in (
        f"Flitch demo: {url}  (data in {settings.home}; Ctrl-C to stop)",
        f"  Open {url}/data/{info.id}",
        f"  Sign in as {USER_NAME} with the password {password}",
        f"  The connection {CONNECTION_NAME!r} reads the emulator's test data ({mode}).",
        f"  To see a missing permission, add a connection with {DEMO_LIMITED_KEY}.",
    ):
        typer.echo(line)
    background = Scheduler(settings).start()
    try:
        config = uvicorn.Config(web, proxy_headers=False, log_level="warning", lifespan="on")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        background.stop()
