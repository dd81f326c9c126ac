"""`flitch refresh NAME [--full] [--verify] [--json]` and `flitch scheduler`, through Typer's
runner, against the emulator."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from flitch.cli import app
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World


def _flitch(world: World, *args: str) -> Any:
    env = {
        "FLITCH_HOME": str(world.settings.home),
        "FLITCH_STRIPE_API_BASE": world.emulator.url,
        "FLITCH_SECRET_KEY": None,
        "FLITCH_STRIPE_KEY": None,
        "FLITCH_TEST_RPS": "10000",
        "FLITCH_LIVE_RPS": "10000",
        "FLITCH_ENDPOINT_RPS": "10000",
        "FLITCH_MAX_RETRIES": "1",
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_refresh_prints_progress_lines_and_a_summary(world: World) -> None:
    world.service.create("Shop", TEST_KEY, objects="customers,charges")
    result = _flitch(world, "refresh", "Shop")
    assert result.exit_code == 0, result.output
    assert "Customers: done (full)" in result.stderr
    assert "records" in result.stderr
    assert "ok:" in result.stdout
    assert "requests to Stripe" in result.stdout
    assert TEST_KEY not in result.output


def test_refresh_json_then_incremental(world: World) -> None:
    world.service.create("Shop", TEST_KEY, objects="customers,charges")
    first = json.loads(_flitch(world, "refresh", "Shop", "--json").stdout)
    assert first["ok"] is True
    assert [d["strategy"] for d in first["datasets"]] == ["full", "full"]
    again = _flitch(world, "refresh", "Shop", "--json")
    assert again.exit_code == 0
    body = json.loads(again.stdout)
    assert [d["strategy"] for d in body["datasets"]] == ["events", "events"]
    assert body["requests"] <= 5  # a permission probe per object, 2 event reads
    full = json.loads(_flitch(world, "refresh", "Shop", "--full", "--json").stdout)
    assert [d["strategy"] for d in full["datasets"]] == ["full", "full"]


def test_refresh_verify_reports_the_check(world: World) -> None:
    world.service.create("Shop", TEST_KEY, objects="customers")
    assert _flitch(world, "refresh", "Shop").exit_code == 0
    result = _flitch(world, "refresh", "Shop", "--verify", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["differences"] == 0
    assert body["datasets"][0]["object"] == "customers"
    text = _flitch(world, "refresh", "Shop", "--verify")
    assert "The cache matches Stripe." in text.stdout


def test_refresh_errors_say_what_to_do(world: World) -> None:
    unknown = _flitch(world, "refresh", "Nope")
    assert unknown.exit_code == 2
    assert "flitch connect" in unknown.stderr
    world.service.create("Shop", TEST_KEY, objects="customers")
    world.emulator.config.revoked_keys.add(TEST_KEY)
    revoked = _flitch(world, "refresh", "Shop", "--json")
    assert revoked.exit_code == 4
    body = json.loads(revoked.stdout)
    assert body["outcome"] == "failed"
    assert "update the connection" in body["error"]["fix"]


def test_scheduler_status_and_once(world: World) -> None:
    world.service.create("Shop", TEST_KEY, objects="customers", refresh="1h")
    world.service.create("Live", TEST_KEY, objects="charges")
    ran = _flitch(world, "scheduler", "--once", "--json")
    assert ran.exit_code == 0, ran.output
    runs = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [(r["connection"], r["kind"], r["outcome"]) for r in runs] == [("Shop", "refresh", "ok")]
    status = json.loads(_flitch(world, "scheduler", "--status", "--json").stdout)
    assert [s["name"] for s in status] == ["Shop"]
    assert status[0]["datasets"][0]["last_refresh_at"] is not None
    assert status[0]["next_due_at"] is not None
    table = _flitch(world, "scheduler", "--status")
    assert "Next due" in table.stdout
    assert "Shop" in table.stdout


def test_a_removed_permission_exits_5_and_says_the_data_is_kept(world: World) -> None:
    world.service.create("Shop", TEST_KEY, objects="customers,subscriptions")
    assert _flitch(world, "refresh", "Shop").exit_code == 0
    world.emulator.config.keys[TEST_KEY] = frozenset({"customers", "events"})
    result = _flitch(world, "refresh", "Shop")
    assert result.exit_code == 5, result.output
    assert "Read Subscriptions" in result.stdout
    assert "The previous data of this object is kept." in result.stdout
