"""``flitch emulator``: the local Stripe-compatible server on a seeded account.

``flitch emulator`` serves until Ctrl-C; ``flitch emulator changes`` asks a running one (through
its loopback admin API) to make changes — refunds, cancellations, new customers… — so a client
has something to refresh.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flitch import clock as clocks
from flitch.cli.app import app
from flitch.emulator.auth import DEMO_KEYS, DEMO_REVOKED_KEYS, mask_key, parse_key_spec

if TYPE_CHECKING:
    # The server brings uvicorn, the generator a large module of its own, and `changes` httpx:
    # each command imports what it uses, so `--help` and the other commands start without them.
    from flitch.emulator.listing import Resource
    from flitch.emulator.server import EmulatorConfig
    from flitch.emulator.store import Account

# The emulator's port: flitch.emulator.server.DEFAULT_PORT, repeated because option defaults are
# needed to build the command line, which must not import the server (tests/cli keeps them equal).
DEFAULT_PORT = 12111

emulator_app = typer.Typer(
    help=(
        "Run the local Stripe-compatible server (the emulator) on a seeded account, or change "
        "the data of one that is running. Point Flitch at it with FLITCH_STRIPE_API_BASE."
    ),
    no_args_is_help=False,
)
app.add_typer(emulator_app, name="emulator")

_RATE_HELP = "Requests per second; 0 means unlimited."


def build_account(seed: int, customers: int, at: int | None = None) -> Account:
    """The seeded account, its two years of history ending at ``at`` (default: now).

    The same seed, size and ``at`` always give the same data; without ``at`` the history ends
    at the current time, so "the last 30 days" of a dashboard are never empty.
    """
    from flitch.emulator.generator import generate_account

    return generate_account(
        seed=seed, customers=customers, now=int(clocks.now()) if at is None else at
    )


AtOption = Annotated[
    int | None,
    typer.Option(
        "--at",
        help="Unix time at which the account's history ends (default: now). Fix it to get "
        "byte-identical accounts across runs.",
    ),
]


def _rate(value: float) -> float | None:
    return None if value <= 0 else value


def make_config(
    keys: list[str],
    revoked_keys: list[str],
    *,
    seed: int,
    live_rps: float,
    test_rps: float,
    endpoint_rps: float,
    max_in_flight: int,
    latency_ms: float,
    fault_rate: float,
) -> EmulatorConfig:
    """An ``EmulatorConfig`` from command-line values (no ``--key``: the demo keys)."""
    from flitch.emulator.server import EmulatorConfig

    if not 0.0 <= fault_rate <= 1.0:
        raise typer.BadParameter("--fault-rate is a share between 0 and 1 (e.g. 0.05).")
    parsed: dict[str, frozenset[str] | None] = {}
    for spec in keys:
        try:
            key, allowed = parse_key_spec(spec)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--key") from None
        parsed[key] = allowed
    revoked: set[str] = set()
    for spec in revoked_keys:
        try:
            revoked.add(parse_key_spec(spec)[0])
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--revoked-key") from None
    return EmulatorConfig(
        keys=parsed if parsed else dict(DEMO_KEYS),
        revoked_keys=revoked if parsed else revoked | DEMO_REVOKED_KEYS,
        live_rps=_rate(live_rps),
        test_rps=_rate(test_rps),
        endpoint_rps=_rate(endpoint_rps),
        max_in_flight=max_in_flight if max_in_flight > 0 else None,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        seed=seed,
    )


def describe_keys(config: EmulatorConfig) -> list[str]:
    """One line per key: the key itself (fake demo keys only) and what it may read."""
    lines = []
    for key, allowed in config.keys.items():
        shown = key if key in DEMO_KEYS else mask_key(key)
        if key.startswith("pk_"):
            reads = "publishable: refused on every list"
        elif allowed is None:
            reads = "Read on everything" + (
                " (a secret key: can write in Stripe)" if key.startswith("sk_") else ""
            )
        else:
            reads = "Read on " + ", ".join(sorted(allowed))
        lines.append(f"  {shown}  {reads}")
    for key in sorted(config.revoked_keys):
        shown = key if key in DEMO_REVOKED_KEYS else mask_key(key)
        lines.append(f"  {shown}  revoked: answers 401 api_key_expired")
    return lines


def describe_account(account: Account) -> list[str]:
    """Objects per mode, by the endpoint that lists them: as many as a client reading every
    list gets (the app's rows), then, apart, those Stripe lists only for a request naming their
    test clock, which a client reading the lists never sees."""
    from flitch.emulator.listing import RESOURCES

    lines = [f"Account {account.id} (objects by endpoint):"]
    for mode, store in (("test", account.test), ("live", account.live)):
        counts, hidden = [], []
        for name, resource in RESOURCES.items():
            shown = [o for o in store.ordered(resource.object_type).objects if _listed(resource, o)]
            if shown:
                counts.append(f"{len(shown)} {name}")
            apart = store.count(resource.object_type) - len(shown)
            if apart:
                hidden.append(f"{apart} {name}")
        lines.append(f"  {mode}: " + (", ".join(counts) if counts else "no data"))
        if hidden:
            lines.append(
                f"  {mode}, not counted above: {' and '.join(hidden)} on test clocks, which "
                "Stripe lists only to a request naming the clock (Flitch reads none of them)"
            )
    return lines


def _listed(resource: Resource, obj: dict[str, Any]) -> bool:
    """True unless the endpoint hides the object for its test clock (other defaults, such as
    leaving out canceled subscriptions, give way to a parameter a client sends)."""
    return all(check(obj) for param, check in resource.hidden_by_default if param == "test_clock")


def first_key(config: EmulatorConfig) -> str | None:
    return next((k for k in config.keys if k.startswith("rk_test_")), None) or next(
        (k for k in config.keys if not k.startswith("pk_")), None
    )


@emulator_app.callback(invoke_without_command=True)
def emulator(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(help="Port to listen on (0 picks a free one).")
    ] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option(help="Address to bind; keep 127.0.0.1 unless you must.")
    ] = "127.0.0.1",
    seed: Annotated[
        int, typer.Option(help="Seed of the generated account and of the faults.")
    ] = 42,
    customers: Annotated[int, typer.Option(help="Customers in the generated account.")] = 300,
    at: AtOption = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            help="A key to accept (repeatable): KEY for Read on everything, or "
            "KEY=customers,charges,events for only those. Without --key: the demo keys."
        ),
    ] = None,
    revoked_key: Annotated[
        list[str] | None, typer.Option(help="A key answered with 401 api_key_expired (repeatable).")
    ] = None,
    live_rps: Annotated[float, typer.Option(help=f"Live-mode global limit. {_RATE_HELP}")] = 100.0,
    test_rps: Annotated[float, typer.Option(help=f"Test-mode global limit. {_RATE_HELP}")] = 25.0,
    endpoint_rps: Annotated[float, typer.Option(help=f"Limit per endpoint. {_RATE_HELP}")] = 25.0,
    max_in_flight: Annotated[
        int, typer.Option(help="Most requests answered at once (429 beyond); 0: no limit.")
    ] = 0,
    latency_ms: Annotated[
        float, typer.Option(help="Added to every request, in milliseconds.")
    ] = 0.0,
    fault_rate: Annotated[
        float,
        typer.Option(help="Share of requests that fail: a 500 or a connection cut mid-body."),
    ] = 0.0,
    verbose: Annotated[bool, typer.Option(help="Print a line for every request.")] = False,
) -> None:
    """Serve a seeded Stripe account on http://HOST:PORT until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    config = make_config(
        key or [],
        revoked_key or [],
        seed=seed,
        live_rps=live_rps,
        test_rps=test_rps,
        endpoint_rps=endpoint_rps,
        max_in_flight=max_in_flight,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
    )
    typer.echo(f"Generating the account (seed {seed}, {customers} customers)…")
    account = build_account(seed, customers, at)

    def ready(url: str) -> None:
        for line in banner(url, account, config):
            typer.echo(line)

    serve(account, config, host, port, quiet=not verbose, on_ready=ready)


def serve(
    account: Account,
    config: EmulatorConfig,
    host: str,
    port: int,
    *,
    quiet: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """``serve_forever``, with a clear message when the address cannot be had."""
    from flitch.emulator.server import serve_forever

    try:
        serve_forever(account, config, host, port, quiet=quiet, on_ready=on_ready)
    except OSError as exc:
        typer.echo(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Pass another --port "
            "(--port 0 picks a free one), or stop what is using it.",
            err=True,
        )
        raise typer.Exit(1) from None


def typed_command() -> str:
    """``flitch`` as it can be typed here: the bare name when the PATH finds this very command,
    else the path it was started by (``.venv/bin/flitch`` under ``make demo``, before the
    virtualenv is activated)."""
    started = sys.argv[0]
    if Path(started).name != "flitch":
        return "flitch"  # started some other way (python -m, a test runner)
    found = shutil.which("flitch")
    if found is not None and Path(found).resolve() == Path(started).resolve():
        return "flitch"
    return started


def banner(url: str, account: Account, config: EmulatorConfig) -> list[str]:
    """What `flitch emulator` prints once it listens: URL, keys, data, how to use it."""
    lines = [f"Stripe emulator listening on {url}  (Ctrl-C to stop)", "", "Keys:"]
    lines += describe_keys(config)
    lines += ["", *describe_account(account), ""]
    limits = [
        f"live {config.live_rps or 'unlimited'}/s",
        f"test {config.test_rps or 'unlimited'}/s",
        f"per endpoint {config.endpoint_rps or 'unlimited'}/s",
    ]
    lines.append("Rate limits: " + ", ".join(limits))
    sample = first_key(config)
    if sample is not None:
        # Only the public demo keys are ever printed whole.
        shown = sample if sample in DEMO_KEYS else f"<your {sample[:8]}… key>"
        lines += [
            "",
            "Try it:",
            f"  curl -u {shown}: '{url}/v1/customers?limit=3'",
            f"  export FLITCH_STRIPE_API_BASE={url}",
            f"  {typed_command()} emulator changes --port {url.rsplit(':', 1)[1]} --kind mix "
            "--count 10",
            f"Admin API (this machine only): {url}/_emulator/summary, /_emulator/requests",
        ]
    return lines


@emulator_app.command("changes")
def changes(
    kind: Annotated[
        str, typer.Option(help="What to change (mix, refund, …; see the error for all).")
    ] = "mix",
    count: Annotated[int, typer.Option(min=1, help="How many changes to make.")] = 10,
    mode: Annotated[str, typer.Option(help="test or live data.")] = "test",
    port: Annotated[int, typer.Option(help="Port of the running emulator.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Host of the running emulator.")] = "127.0.0.1",
) -> None:
    """Make changes in a running emulator's data and print the events they created."""
    import httpx

    url = f"http://{host}:{port}/_emulator/changes"
    try:
        response = httpx.post(url, json={"mode": mode, "kind": kind, "count": count}, timeout=60)
    except httpx.HTTPError as exc:
        typer.echo(
            f"No emulator answered at {host}:{port} ({exc.__class__.__name__}). Start one with "
            "`flitch emulator`, or pass its --port.",
            err=True,
        )
        raise typer.Exit(1) from None
    payload: dict[str, Any] = response.json()
    if response.status_code != 200:
        typer.echo(f"The emulator refused: {payload['error']['message']}", err=True)
        raise typer.Exit(1)
    events = payload["data"]
    typer.echo(f"{len(events)} event(s) created in {mode} mode:")
    for event in events:
        obj = event.get("data", {}).get("object", {})
        typer.echo(f"  {event['id']}  {event['type']}  {obj.get('id', '')}")
