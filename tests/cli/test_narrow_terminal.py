"""What the ``flitch`` commands print, read in an 80-column terminal: names kept whole, each
message said once, tables in words, and the dates a period covers as the web app shows them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from flitch import catalog
from flitch import clock as clocks
from flitch.cli import app
from flitch.emulator.server import Emulator
from tests.conftest import LIMITED_KEY, TEST_KEY
from tests.timeline import TEST_NOW

WIDTH = 80


@pytest.fixture
def flitch(tmp_path: Path, emulator: Emulator) -> Callable[..., Result]:
    """``flitch ARGS…`` in an 80-column terminal, on a FLITCH_HOME of its own."""

    def run(*args: str, key: str = "") -> Result:
        env = {
            "FLITCH_HOME": str(tmp_path / "home"),
            "FLITCH_STRIPE_API_BASE": emulator.url,
            "FLITCH_SECRET_KEY": None,
            "FLITCH_STRIPE_KEY": None,
            "FLITCH_TEST_RPS": "10000",
            "FLITCH_ENDPOINT_RPS": "10000",
            "COLUMNS": str(WIDTH),
        }
        result = CliRunner().invoke(app, list(args), input=key, env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


def too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


def section(text: str, title: str) -> list[str]:
    """The lines of a dashboard's table or chart, from its title to the blank line after it."""
    lines = text.splitlines()
    start = lines.index(title)
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


@pytest.mark.parametrize("key", [TEST_KEY, LIMITED_KEY], ids=["everything", "limited"])
def test_connection_test_keeps_each_name_whole(flitch: Callable[..., Result], key: str) -> None:
    result = flitch("test", key=key)
    lines = result.output.splitlines()
    for spec in catalog.OBJECTS:
        for name in (spec.label, spec.permission_label):
            assert any(name in line for line in lines), name
    assert not too_wide(result.output)
    if key == LIMITED_KEY:
        assert result.exit_code == 5
        assert "Edit the key in Stripe and add: Read Subscriptions." in " ".join(
            result.output.split()
        )


def test_charts_a_key_cannot_read_share_one_message(flitch: Callable[..., Result]) -> None:
    assert flitch("connect", "limited", key=LIMITED_KEY).exit_code == 0
    result = flitch("dashboard", "limited", "billing", "--json")
    blocked = {c["title"] for c in json.loads(result.stdout)["charts"] if "unavailable" in c}
    assert len(blocked) > 5
    text = flitch("dashboard", "limited", "billing").output
    flat = " ".join(text.split())
    # the reason and its fix once, then every chart it keeps from being drawn
    assert flat.count("rak_subscription_read") == 1
    assert flat.count("Grant Read Subscriptions on the key") == 1
    for title in blocked:
        assert title in flat
    assert not too_wide(text)


def test_mrr_movements_read_in_words(flitch: Callable[..., Result]) -> None:
    assert flitch("connect", "shop", key=TEST_KEY).exit_code == 0
    text = flitch("dashboard", "shop", "billing", "--last", "90d").output
    table = section(text, "MRR movements")
    body = "\n".join(table)
    for words in ("MRR at start", "New", "Churned", "Growth", "MRR at end"):
        assert words in body
    assert "mrr_start" not in text
    assert "mrr_end" not in text
    assert "—" not in body  # no column left empty in every row
    assert not too_wide(text)


def test_the_period_names_its_last_day(
    flitch: Callable[..., Result], pin_clock: Callable[[float], clocks.Clock]
) -> None:
    pin_clock(TEST_NOW)
    assert flitch("connect", "shop", key=TEST_KEY).exit_code == 0
    today = datetime.fromtimestamp(TEST_NOW, UTC).date()
    text = flitch("dashboard", "shop", "payments", "--last", "30d").output
    first = today - timedelta(days=29)
    before = (first - timedelta(days=30), first - timedelta(days=1))
    flat = " ".join(text.split())
    assert f"{first} → {today}" in flat
    assert f"compared with {before[0]} → {before[1]}" in flat
