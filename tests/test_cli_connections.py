"""`flitch connect`, `connections`, `update-key`, `set-refresh`, `set-objects`, `disconnect`.

The real commands (Typer's runner, the key on standard input), the real client and the emulator
on 127.0.0.1, with FLITCH_HOME in tmp_path. Every run's output is checked for the key.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flitch import catalog
from flitch.cli import app
from flitch.cli.source import Exit
from flitch.connections.crypto import KEY_FILE, generate_secret_key
from flitch.emulator.server import Emulator
from tests.conftest import LIMITED_KEY, REVOKED_KEY, SECRET_KEY


def random_key(prefix: str, seed: int) -> str:
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(99))


FIRST = random_key("rk_test_", 11)
SECOND = random_key("rk_test_", 12)


@dataclass
class Flitch:
    """Runs `flitch …` against one FLITCH_HOME and one emulator; remembers every output."""

    home: Path
    emu: Emulator
    env: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def __call__(self, *args: str, key: str | None = None, api: bool = True) -> Any:
        command, *rest = args
        base = ["--api-base", self.emu.url] if api else []
        environment: dict[str, Any] = {
            "FLITCH_HOME": str(self.home),
            "FLITCH_STRIPE_KEY": None,
            "FLITCH_STRIPE_API_BASE": None,
            "FLITCH_SECRET_KEY": None,
            "FLITCH_TEST_RPS": "10000",
            "FLITCH_LIVE_RPS": "10000",
            "FLITCH_ENDPOINT_RPS": "10000",
            "FLITCH_MAX_RETRIES": "1",
            "COLUMNS": "200",
            **self.env,
        }
        result = CliRunner().invoke(app, [command, *base, *rest], input=key or "", env=environment)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        self.outputs.append(result.output)
        return result

    def json(self, *args: str, **kw: Any) -> tuple[int, Any]:
        result = self(*args, "--json", **kw)
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def flitch(tmp_path: Path, tiny_emulator: Emulator) -> Flitch:
    """The shared small emulator (its config is reset per test), knowing two more keys."""
    tiny_emulator.config.keys[FIRST] = None
    tiny_emulator.config.keys[SECOND] = None
    return Flitch(tmp_path / "home", tiny_emulator)


def assert_never_shown(flitch: Flitch, *keys: str) -> None:
    """No run of 8 characters of a key's body in any output (the masked form shows 4)."""
    everything = "\n".join(flitch.outputs)
    for key in keys:
        body = key.split("_", 2)[2]
        for start in range(len(body) - 8):
            assert body[start : start + 8] not in everything, "the key leaked into the output"


def names(flitch: Flitch) -> list[str]:
    code, listing = flitch.json("connections", api=False)
    assert code == Exit.OK
    return [c["name"] for c in listing["connections"]]


def test_connect_a_full_key(flitch: Flitch) -> None:
    result = flitch("connect", "Shop", key=FIRST)
    assert result.exit_code == Exit.OK, result.output
    out = result.output
    assert "Connection test" in out  # the probe's result is shown
    assert "Saved connection Shop" in out
    assert "12 objects (12 readable, 0 blocked)" in out
    assert "refresh off" in out
    assert f"rk_test_…{FIRST[-4:]}" in out
    listing = flitch("connections", api=False)
    assert listing.exit_code == Exit.OK
    assert "Shop" in listing.output
    assert "TEST" in listing.output
    assert "all 12" in listing.output
    assert "never" in listing.output
    assert_never_shown(flitch, FIRST)
    assert FIRST.encode() not in b"".join(
        p.read_bytes() for p in flitch.home.rglob("*") if p.is_file()
    )


def test_connect_json(flitch: Flitch) -> None:
    code, out = flitch.json("connect", "Shop", "--objects", "customers,charges", key=FIRST)
    assert code == Exit.OK
    assert out["ok"] is True
    assert out["connection"]["objects"] == ["customers", "charges"]
    assert out["connection"]["key"] == {"masked": f"rk_test_…{FIRST[-4:]}", "last4": FIRST[-4:]}
    assert out["probe"]["ok"] is True
    assert_never_shown(flitch, FIRST)


def test_connect_a_limited_key_reports_the_blocked_objects(flitch: Flitch) -> None:
    result = flitch("connect", "Limited", key=LIMITED_KEY)
    assert result.exit_code == Exit.OK, result.output
    assert "1 blocked" in result.output
    assert "Blocked objects" in result.output
    assert "Subscriptions: Grant Read Subscriptions on the key" in result.output
    assert "cannot read Events" in result.output
    _, listing = flitch.json("connections", api=False)
    (conn,) = listing["connections"]
    assert conn["blocked"] == ["subscriptions"]
    assert conn["objects"] == list(catalog.NAMES)
    assert conn["status"] == "blocked"


def test_a_revoked_key_is_refused_and_nothing_saved(flitch: Flitch) -> None:
    result = flitch("connect", "Shop", key=REVOKED_KEY)
    assert result.exit_code == Exit.AUTHENTICATION_FAILED
    assert "Authentication failed" in result.output
    assert "Create a new restricted key" in result.output
    code, out = flitch.json("connect", "Shop", key=REVOKED_KEY)
    assert code == Exit.AUTHENTICATION_FAILED
    assert out["error"]["error"] == "AuthenticationFailed"
    assert names(flitch) == []


def test_a_secret_key_is_refused_before_any_request(flitch: Flitch) -> None:
    result = flitch("connect", "Shop", key=SECRET_KEY)
    assert result.exit_code == Exit.KEY_REFUSED
    assert "secret key" in result.output
    assert len(flitch.emu.log) == 0
    assert names(flitch) == []


def test_a_taken_name_is_refused_before_the_key_is_read(flitch: Flitch) -> None:
    assert flitch("connect", "Shop", key=FIRST).exit_code == Exit.OK
    sent = len(flitch.emu.log)
    result = flitch("connect", "SHOP", key=SECOND)
    assert result.exit_code == Exit.USAGE
    assert "already exists" in result.output
    assert len(flitch.emu.log) == sent
    bad = flitch("connect", "a/b", key=SECOND)
    assert bad.exit_code == Exit.USAGE
    assert "1 to 64 characters" in bad.output


def test_set_refresh(flitch: Flitch) -> None:
    flitch("connect", "Shop", key=FIRST)
    on = flitch("set-refresh", "Shop", "1h", api=False)
    assert on.exit_code == Exit.OK
    assert "refreshes every 1h" in on.output
    code, out = flitch.json("set-refresh", "shop", "15m", api=False)
    assert (code, out["connection"]["refresh"]) == (Exit.OK, "15m")
    bad = flitch("set-refresh", "Shop", "5m", api=False)
    assert bad.exit_code == Exit.USAGE
    assert "15m, 30m, 1h, 6h, 12h, 1d" in bad.output
    off = flitch("set-refresh", "Shop", "off", api=False)
    assert "is off" in off.output
    missing = flitch("set-refresh", "Nope", "1h", api=False)
    assert missing.exit_code == Exit.USAGE
    assert "flitch connections" in missing.output
    code, out = flitch.json("connect", "Other", "--refresh-every", "1d", key=SECOND)
    assert out["connection"]["refresh"] == "1d"


def test_update_key_after_the_old_one_was_revoked(flitch: Flitch) -> None:
    flitch("connect", "Shop", key=FIRST)
    del flitch.emu.config.keys[FIRST]
    flitch.emu.config.revoked_keys.add(FIRST)
    refused = flitch("update-key", "Shop", key=FIRST)
    assert refused.exit_code == Exit.AUTHENTICATION_FAILED
    assert "keeps its old key" in refused.output
    result = flitch("update-key", "Shop", key=SECOND)
    assert result.exit_code == Exit.OK, result.output
    assert f"rk_test_…{SECOND[-4:]}" in result.output
    _, listing = flitch.json("connections", api=False)
    assert listing["connections"][0]["key"]["last4"] == SECOND[-4:]
    assert_never_shown(flitch, FIRST, SECOND)


def test_update_key_unblocks_objects(flitch: Flitch) -> None:
    flitch("connect", "Shop", key=LIMITED_KEY)
    flitch.emu.config.keys[LIMITED_KEY] = None  # Read Subscriptions granted in Stripe
    code, out = flitch.json("update-key", "Shop", key=LIMITED_KEY)
    assert code == Exit.OK
    assert out["unblocked"] == ["subscriptions"]
    assert out["connection"]["blocked"] == []


def test_set_objects(flitch: Flitch) -> None:
    flitch("connect", "Shop", key=FIRST)
    code, out = flitch.json("set-objects", "Shop", "coupons,prices")
    assert code == Exit.OK
    assert out["connection"]["objects"] == ["prices", "coupons"]


def test_disconnect(flitch: Flitch) -> None:
    flitch("connect", "Shop", key=FIRST)
    unconfirmed = flitch("disconnect", "Shop", api=False)
    assert unconfirmed.exit_code == Exit.USAGE
    assert "--yes" in unconfirmed.output
    assert names(flitch) == ["Shop"]
    result = flitch("disconnect", "shop", "--yes", api=False)
    assert result.exit_code == Exit.OK
    assert "Deleted connection Shop" in result.output
    assert "dashboard.stripe.com/apikeys" in result.output
    assert names(flitch) == []
    again = flitch("disconnect", "Shop", "--yes", api=False)
    assert again.exit_code == Exit.USAGE
    flitch("connect", "Shop", key=SECOND)
    code, out = flitch.json("disconnect", "Shop", "--yes", api=False)
    assert code == Exit.OK
    assert out["deleted"] is True
    assert "dashboard.stripe.com/apikeys" in out["reminder"]
    compacted = flitch("connections", "--compact", api=False)
    assert compacted.exit_code == Exit.OK
    assert "No connection is saved" in compacted.output
    assert_never_shown(flitch, FIRST, SECOND)


def test_wrong_master_key_is_a_clear_error_not_a_traceback(flitch: Flitch) -> None:
    flitch.env["FLITCH_SECRET_KEY"] = generate_secret_key()
    flitch("connect", "Shop", key=FIRST)
    flitch.env["FLITCH_SECRET_KEY"] = generate_secret_key()
    result = flitch("set-objects", "Shop", "customers")
    assert result.exit_code == Exit.ERROR
    assert "another FLITCH_SECRET_KEY" in result.output
    assert "flitch update-key" in result.output
    assert "Traceback" not in result.output


def test_a_readable_key_file_is_refused(flitch: Flitch) -> None:
    flitch("connect", "Shop", key=FIRST)
    (flitch.home / KEY_FILE).chmod(0o644)
    result = flitch("connect", "Other", key=SECOND)
    assert result.exit_code == Exit.ERROR
    assert f"chmod 600 {flitch.home / KEY_FILE}" in result.output
    assert names(flitch) == ["Shop"]


def test_a_bad_api_base_is_refused(flitch: Flitch) -> None:
    result = CliRunner().invoke(
        app,
        ["connect", "Shop", "--api-base", "localhost:1"],
        input=FIRST,
        env={"FLITCH_HOME": str(flitch.home), "FLITCH_STRIPE_KEY": None},
    )
    assert result.exit_code == Exit.USAGE
    assert "not a URL" in result.output
