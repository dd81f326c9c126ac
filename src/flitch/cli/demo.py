"""``flitch demo``: the emulator on a seeded demo account, with a tour of what it serves.

For now the demo is the Stripe emulator alone; the web app and a ready-made connection join it
later. Everything runs locally: no Stripe account, no network.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flitch.cli.app import app
from flitch.cli.emulator import banner, build_account, serve
from flitch.emulator.auth import (
    DEMO_LIMITED_KEY,
    DEMO_LIVE_KEY,
    DEMO_PUBLISHABLE_KEY,
    DEMO_REVOKED_KEY,
    DEMO_SECRET_KEY,
    DEMO_TEST_KEY,
)
from flitch.emulator.server import DEFAULT_PORT, EmulatorConfig
from flitch.emulator.store import Account


def tour(url: str, account: Account) -> list[str]:
    """A few requests worth trying against the demo, each showing one Stripe behaviour."""
    t = DEMO_TEST_KEY
    stops = [
        ("canceled subscriptions are hidden…", t, "/v1/subscriptions?limit=3"),
        ("…unless you ask for status=all", t, "/v1/subscriptions?status=all&limit=3"),
        ("inactive prices need active=false", t, "/v1/prices?active=false&limit=3"),
        ("slices by creation time", t, "/v1/charges?created%5Bgte%5D=0&limit=3"),
        ("recent changes, 30 days of them", t, "/v1/events?type=charge.*&limit=3"),
        ("a live key sees live data only", DEMO_LIVE_KEY, "/v1/customers?limit=3"),
        ("403 naming rak_subscription_read", DEMO_LIMITED_KEY, "/v1/subscriptions"),
        ("401 api_key_expired", DEMO_REVOKED_KEY, "/v1/customers"),
        ("a secret key works (Flitch refuses it)", DEMO_SECRET_KEY, "/v1/customers?limit=1"),
        ("a publishable key lists nothing", DEMO_PUBLISHABLE_KEY, "/v1/customers"),
    ]
    lines = ["", "A tour: each request shows one thing Stripe does, and so the emulator."]
    for what, key, path in stops:
        lines += [f"  # {what}", f"  curl -u {key}: '{url}{path}'"]
    lines += ["  # what is served, and every request so far", f"  curl '{url}/_emulator/summary'"]
    return lines


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the emulator.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the demo account.")] = 42,
    customers: Annotated[int, typer.Option(help="Customers in the demo account.")] = 300,
) -> None:
    """Run the demo: a Stripe emulator on a seeded account, with the demo keys printed."""
    typer.echo(f"Generating the demo account (seed {seed}, {customers} customers)…")
    account = build_account(seed, customers)
    config = EmulatorConfig(seed=seed)

    def ready(url: str) -> None:
        for line in [*banner(url, account, config), *tour(url, account)]:
            typer.echo(line)

    serve(account, config, host, port, on_ready=ready)
