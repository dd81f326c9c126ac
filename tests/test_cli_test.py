"""`flitch test` over real HTTP against the emulator: the seed's troubleshooting cases.

Each case runs the real command (Typer's runner, the key on standard input or in the
environment), the real client and the emulator on 127.0.0.1, then looks at the output, the exit
status and the emulator's request log.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flitch import catalog
from flitch.cli import app
from flitch.cli.keyinput import KeySource, read_key, read_key_text
from flitch.cli.source import EXIT_CODES, Exit
from flitch.emulator.auth import DEMO_KEYS, DEMO_REVOKED_KEYS, LIMITED_RESOURCES
from flitch.emulator.server import Emulator
from flitch.emulator.store import Account
from flitch.keys import KeyRefused, Refusal
from tests.conftest import (
    LIMITED_KEY,
    LIVE_KEY,
    PUBLISHABLE_KEY,
    REVOKED_KEY,
    SECRET_KEY,
    TEST_KEY,
    generous_config,
)
from tests.test_keys import leaked_runs

#: Well formed, but no Stripe account (nor the emulator) knows it.
UNKNOWN_KEY = "rk_test_51FlitchNobodyKnowsThisKeyUnkn0wn"
README = (Path(__file__).parent.parent / "README.md").read_text()


def small_account() -> Account:
    """Test mode: a customer and a canceled subscription. Live mode: one charge. Nothing else."""
    account = Account()
    account.test.put(
        {"id": "cus_T1", "object": "customer", "created": 1_700_000_000, "livemode": False}
    )
    account.test.put(
        {
            "id": "sub_T1",
            "object": "subscription",
            "created": 1_700_000_100,
            "livemode": False,
            "status": "canceled",
            "customer": "cus_T1",
            "items": {"object": "list", "data": []},
        }
    )
    account.live.put(
        {"id": "ch_L1", "object": "charge", "created": 1_700_000_200, "livemode": True}
    )
    return account


def random_key(prefix: str, seed: int) -> str:
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(99))


#: Keys with random bodies (the demo keys' bodies are made of words), one per kind of answer.
RANDOM_FULL = random_key("rk_test_", 1)
RANDOM_LIMITED = random_key("rk_live_", 2)
RANDOM_REVOKED = random_key("rk_test_", 3)
RANDOM_UNKNOWN = random_key("rk_live_", 4)
RANDOM_SECRET = random_key("sk_live_", 5)
RANDOM_PUBLISHABLE = random_key("pk_live_", 6)


@pytest.fixture(scope="module")
def _served() -> Iterator[Emulator]:
    """One emulator for the module (starting one per test would cost more than the tests):
    ``small_account()``, the demo keys and the random ones, no rate limits."""
    keys: dict[str, frozenset[str] | None] = {
        **DEMO_KEYS,
        RANDOM_FULL: None,
        RANDOM_LIMITED: LIMITED_RESOURCES,
        RANDOM_SECRET: None,
        RANDOM_PUBLISHABLE: None,
    }
    config = generous_config(keys=keys, revoked_keys={*DEMO_REVOKED_KEYS, RANDOM_REVOKED})
    with Emulator(small_account(), config) as emulator:
        yield emulator


@pytest.fixture
def emu(_served: Emulator) -> Emulator:
    """The module's emulator with an empty request log (nothing changes its account)."""
    _served.log.clear()
    return _served


def run(
    emu: Emulator | None, key: str | None, *args: str, env: dict[str, Any] | None = None
) -> Any:
    """Run `flitch test` with the key on standard input; returns Click's result."""
    base = ["--api-base", emu.url] if emu is not None else []
    environment: dict[str, Any] = {
        "FLITCH_STRIPE_KEY": None,
        "FLITCH_STRIPE_API_BASE": None,
        "COLUMNS": "200",
        # The pacing is tested elsewhere; here it would only make each run wait ~0.5 s.
        "FLITCH_TEST_RPS": "1000",
        **(env or {}),
    }
    result = CliRunner().invoke(app, ["test", *base, *args], input=key, env=environment)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    if key:
        assert_not_leaked(key, result.output)
    return result


def assert_not_leaked(key: str, output: str) -> None:
    """Neither the key nor its body without the last four characters is in the output.

    (The demo keys hold words such as "Flitch" and "Publishable", which the messages also use;
    the strict check — no run of five — is made with random keys in ``test_no_key_leaks``.)
    """
    for body in re.findall(r"_([A-Za-z0-9]{8,})", key):
        assert body[:-4] not in output, "the key leaked into the output"


def run_json(emu: Emulator | None, key: str | None, *args: str, **kw: Any) -> tuple[int, Any]:
    result = run(emu, key, "--json", *args, **kw)
    return result.exit_code, json.loads(result.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in report["objects"]}


# -- a good key --------------------------------------------------------------------------------


def test_a_full_key_reads_everything(emu: Emulator) -> None:
    result = run(emu, TEST_KEY)
    assert result.exit_code == Exit.OK, result.output
    out = result.output
    assert "rk_test_…T3st" in out
    assert "Mode: test" in out
    for spec in catalog.OBJECTS:
        assert spec.label in out
        assert spec.permission_label in out
    assert "OK:" in out
    assert "can read 12 of 12 objects" in out


def test_json_report_shape(emu: Emulator) -> None:
    code, report = run_json(emu, TEST_KEY)
    assert code == Exit.OK
    assert set(report) == {
        "ok",
        "outcome",
        "summary",
        "key",
        "api_base",
        "mode",
        "mode_message",
        "authentication",
        "objects",
        "events",
        "requests",
        "elapsed_ms",
    }
    assert report["ok"] is True
    assert report["outcome"] == "ok"
    assert report["key"] == "rk_test_…T3st"
    assert report["api_base"] == emu.url
    assert report["mode"] == "test"
    assert "only sees test-mode data" in report["mode_message"]
    assert report["authentication"]["ok"] is True
    assert [o["name"] for o in report["objects"]] == list(catalog.NAMES)
    for check in report["objects"]:
        assert set(check) >= {"label", "permission", "permission_label", "state", "fix"}
        assert check["readable"] is True
    objects = by_name(report)
    assert objects["customers"]["state"] == "readable"
    assert objects["customers"]["has_data"] is True
    # a canceled subscription counts: the probe lists with status=all
    assert objects["subscriptions"]["has_data"] is True
    assert objects["subscriptions"]["params"] == {"status": "all"}
    assert report["events"]["state"] in ("readable", "empty")
    assert "incremental" in report["events"]["message"]


def test_at_most_one_request_per_object_plus_events(emu: Emulator) -> None:
    _code, report = run_json(emu, TEST_KEY)
    entries = emu.log.entries
    assert len(entries) == report["requests"] == len(catalog.OBJECTS) + 1
    assert {e.method for e in entries} == {"GET"}
    assert sorted(e.path for e in entries) == sorted(
        [o.list_path for o in catalog.OBJECTS] + [catalog.EVENTS_PATH]
    )
    assert all("limit=1" in e.query for e in entries)


def test_objects_and_no_events_choose_the_requests(emu: Emulator) -> None:
    code, report = run_json(emu, TEST_KEY, "--objects", "customers, Charges", "--no-events")
    assert code == Exit.OK
    assert [o["name"] for o in report["objects"]] == ["customers", "charges"]
    assert report["events"]["state"] == "not_checked"
    assert sorted(emu.log.paths()) == ["/v1/charges", "/v1/customers"]


def test_unknown_objects_are_named_with_the_valid_ones(emu: Emulator) -> None:
    result = run(emu, TEST_KEY, "--objects", "customers,refunds")
    assert result.exit_code == Exit.USAGE
    assert "refunds" in result.output
    for name in ("customers", "payment_intents", "credit_notes", "coupons"):
        assert name in result.output
    assert emu.log.entries == []


def test_the_key_may_come_from_the_environment(emu: Emulator) -> None:
    code, report = run_json(
        None,
        None,
        env={"FLITCH_STRIPE_KEY": LIVE_KEY, "FLITCH_STRIPE_API_BASE": emu.url},
    )
    assert code == Exit.OK
    assert report["mode"] == "live"
    assert report["api_base"] == emu.url


# -- troubleshooting: authentication failed ----------------------------------------------------


def test_a_revoked_key_fails_authentication_with_the_seed_advice(emu: Emulator) -> None:
    result = run(emu, REVOKED_KEY)
    assert result.exit_code == Exit.AUTHENTICATION_FAILED
    assert "Authentication failed" in result.output
    assert (
        "The key was deleted or rolled in Stripe. Create a new restricted key and update the "
        "connection." in " ".join(result.output.split())
    )
    code, report = run_json(emu, REVOKED_KEY)
    assert code == Exit.AUTHENTICATION_FAILED
    assert report["outcome"] == "authentication_failed"
    assert report["authentication"]["expired"] is True
    assert report["authentication"]["request_id"]
    assert all(o["state"] == "not_checked" for o in report["objects"])


def test_an_unknown_key_fails_authentication_differently(emu: Emulator) -> None:
    code, report = run_json(emu, UNKNOWN_KEY)
    assert code == Exit.AUTHENTICATION_FAILED
    auth = report["authentication"]
    assert auth["state"] == "failed"
    assert auth["expired"] is False
    assert "does not recognise" in auth["message"]
    assert "copied whole" in auth["fix"]
    assert "create a new restricted key" in auth["fix"]


# -- troubleshooting: missing resources --------------------------------------------------------


def test_the_limited_key_names_what_is_missing_and_how_to_grant_it(emu: Emulator) -> None:
    result = run(emu, LIMITED_KEY)
    assert result.exit_code == Exit.PERMISSION_MISSING
    out = " ".join(result.output.split())
    assert "no permission" in out
    assert (
        "Grant Read Subscriptions on the key: in Stripe, edit the key and add the permission."
        in out
    )
    assert "Missing resources" in out
    assert "Read Events" in out

    code, report = run_json(emu, LIMITED_KEY)
    assert code == Exit.PERMISSION_MISSING
    assert report["ok"] is False
    assert report["outcome"] == "permission_missing"
    assert report["authentication"]["ok"] is True
    missing = [o for o in report["objects"] if o["state"] == "missing_permission"]
    assert [o["name"] for o in missing] == ["subscriptions"]
    assert missing[0]["permission"] == "rak_subscription_read"
    assert missing[0]["permission_label"] == "Read Subscriptions"
    assert missing[0]["fix"] == (
        "Grant Read Subscriptions on the key: in Stripe, edit the key and add the permission."
    )
    assert "Read Subscriptions" in report["summary"]
    events = report["events"]
    assert events["state"] == "missing_permission"
    assert "Grant Read Events" in events["fix"]
    assert "incremental" in events["fix"]
    assert "full" in events["message"]


def test_a_missing_permission_outside_the_selection_does_not_matter(emu: Emulator) -> None:
    code, report = run_json(emu, LIMITED_KEY, "--objects", "customers", "--no-events")
    assert code == Exit.OK
    assert report["ok"] is True


# -- troubleshooting: no data in one mode ------------------------------------------------------


def test_a_live_key_on_an_account_without_live_customers(emu: Emulator) -> None:
    code, report = run_json(emu, LIVE_KEY, "--objects", "customers,charges")
    assert code == Exit.OK  # readable: the key is fine, the data is in the other mode
    objects = by_name(report)
    assert objects["charges"]["state"] == "readable"
    customers = objects["customers"]
    assert customers["state"] == "empty"
    assert customers["readable"] is True
    assert customers["has_data"] is False
    assert "no customers in live mode" in customers["message"]
    assert "rk_test_" in customers["fix"]
    assert "only sees live data" in customers["fix"]

    out = " ".join(run(emu, LIVE_KEY, "--objects", "customers").output.split())
    assert "No data in one mode?" in out
    assert "use a rk_test_… key" in out


@pytest.fixture
def account() -> Account:
    """An empty account, in place of the generated one ``make_emulator`` defaults to."""
    return Account()


def test_an_account_with_nothing_in_live_mode(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator()  # serves ``account`` above: nothing in either mode
    code, report = run_json(emulator, LIVE_KEY, "--no-events")
    assert code == Exit.OK
    assert report["ok"] is True
    assert {o["state"] for o in report["objects"]} == {"empty"}
    assert all("rk_test_" in o["fix"] for o in report["objects"])
    assert "0 with data" in report["summary"]
    assert len(emulator.log.entries) == len(catalog.OBJECTS)


def test_a_test_key_sees_no_live_charges(emu: Emulator) -> None:
    _code, report = run_json(emu, TEST_KEY, "--objects", "charges")
    charges = by_name(report)["charges"]
    assert charges["state"] == "empty"
    assert "rk_live_" in charges["fix"]


# -- keys refused before any request -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason", "words"),
    [
        (SECRET_KEY, Refusal.SECRET_KEY, "secret key with full read and write access"),
        (PUBLISHABLE_KEY, Refusal.PUBLISHABLE_KEY, "publishable key"),
        (TEST_KEY[:20], Refusal.TOO_SHORT, "too short"),
        (f"{TEST_KEY} {LIVE_KEY}", Refusal.SEVERAL_KEYS, "more than one"),
        ("whsec_0123456789abcdefghij0123", Refusal.WEBHOOK_SECRET, "webhook"),
        ("", Refusal.EMPTY, "No key was given"),
    ],
    ids=lambda v: v.value if isinstance(v, Refusal) else None,
)
def test_refused_keys_never_reach_the_server(
    emu: Emulator, key: str, reason: Refusal, words: str
) -> None:
    result = run(emu, key)
    assert result.exit_code == Exit.KEY_REFUSED
    assert words in " ".join(result.output.split())
    assert "Nothing was sent to Stripe." in result.output
    code, report = run_json(emu, key)
    assert code == Exit.KEY_REFUSED
    assert report["outcome"] == "key_refused"
    assert report["error"]["reason"] == reason.value
    assert report["error"]["fix"]
    assert emu.log.entries == [], "a refused key must not be sent anywhere"


def test_the_secret_key_works_on_the_emulator_but_flitch_refuses_it(emu: Emulator) -> None:
    # The emulator, like Stripe, would answer this key: refusing it is Flitch's own decision.
    import httpx

    answer = httpx.get(
        f"{emu.url}/v1/customers",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )
    assert answer.status_code == 200
    emu.log.clear()
    result = run(emu, SECRET_KEY)
    assert result.exit_code == Exit.KEY_REFUSED
    out = " ".join(result.output.split())
    assert "Flitch only accepts read-only restricted keys" in out
    assert "Create restricted key" in out
    assert emu.log.entries == []


# -- the key never shows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (RANDOM_FULL, Exit.OK),
        (RANDOM_LIMITED, Exit.PERMISSION_MISSING),
        (RANDOM_REVOKED, Exit.AUTHENTICATION_FAILED),
        (RANDOM_UNKNOWN, Exit.AUTHENTICATION_FAILED),
        (RANDOM_SECRET, Exit.KEY_REFUSED),
        (RANDOM_PUBLISHABLE, Exit.KEY_REFUSED),
        (RANDOM_FULL[:30], Exit.KEY_REFUSED),
        (f"{RANDOM_FULL}\n{RANDOM_LIMITED}", Exit.KEY_REFUSED),
        (f"{RANDOM_FULL}-x", Exit.KEY_REFUSED),
    ],
)
def test_no_key_leaks(
    emu: Emulator, key: str, code: Exit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs = []
    for args in ((), ("--json",)):
        result = run(emu, key, *args)
        assert result.exit_code == code, result.output
        outputs.append(result.output)
    with_env = CliRunner().invoke(
        app,
        ["test", "--api-base", emu.url],
        env={"FLITCH_STRIPE_KEY": key, "COLUMNS": "200", "FLITCH_TEST_RPS": "1000"},
    )
    assert with_env.exit_code == code
    outputs.append(with_env.output)
    outputs.extend(record.getMessage() for record in caplog.records)
    for body in re.findall(r"_([A-Za-z0-9]{20,})", key):
        for output in outputs:
            assert not leaked_runs(body, output), output


# -- Stripe unreachable ------------------------------------------------------------------------


def test_an_unreachable_server(tmp_path: Path) -> None:
    # Port 9 (discard) has no listener on the test machine: every request fails to connect.
    code, report = run_json(
        None, TEST_KEY, "--objects", "customers", "--api-base", "http://127.0.0.1:9"
    )
    assert code == Exit.UNREACHABLE
    assert report["outcome"] == "unreachable"
    assert report["authentication"]["state"] == "unknown"
    assert report["authentication"]["fix"]


def test_a_bad_api_base_is_a_usage_error() -> None:
    result = run(None, TEST_KEY, "--api-base", "localhost:12111")
    assert result.exit_code == Exit.USAGE
    assert "http://127.0.0.1:12111" in result.output


# -- documentation -----------------------------------------------------------------------------


def test_exit_codes_are_in_help_and_readme() -> None:
    help_text = " ".join(
        CliRunner().invoke(app, ["test", "--help"], env={"COLUMNS": "200"}).output.split()
    )
    section = README.split("## Connection test", 1)[1].split("\n## ", 1)[0]
    for code, meaning in EXIT_CODES:
        assert f"{int(code)} {meaning}" in help_text.replace(f"{int(code)}  ", f"{int(code)} ")
        assert re.search(rf"\|\s*`?{int(code)}`?\s*\|", section), f"exit {int(code)} not in README"
    for case in ("Authentication failed", "Missing resources", "No data in one mode"):
        assert case in section


# -- reading the key ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_key_sources_in_order() -> None:
    asked: list[bool] = []

    def prompt() -> str:
        asked.append(True)
        return f"  {LIVE_KEY}\n"

    env = {"FLITCH_STRIPE_KEY": TEST_KEY}
    given = read_key_text(environ=env, stdin=io.StringIO(LIVE_KEY), prompt=prompt)
    assert (given.text, given.source) == (TEST_KEY, KeySource.ENVIRONMENT)
    given = read_key_text(environ={"FLITCH_STRIPE_KEY": " "}, stdin=io.StringIO("x"), prompt=prompt)
    assert given.source is KeySource.STDIN
    given = read_key_text(environ={}, stdin=Terminal(), prompt=prompt)
    assert given.source is KeySource.PROMPT
    assert asked == [True]
    assert read_key(environ={}, stdin=Terminal(), prompt=prompt).secret == LIVE_KEY
    assert LIVE_KEY not in repr(given)


def test_empty_input_says_where_a_key_can_come_from() -> None:
    with pytest.raises(KeyRefused) as caught:
        read_key(environ={}, stdin=io.StringIO(""))
    assert caught.value.reason is Refusal.EMPTY
    assert "standard input" in caught.value.message
    assert "FLITCH_STRIPE_KEY" in caught.value.fix


def test_the_command_takes_no_key_argument() -> None:
    result = CliRunner().invoke(app, ["test", TEST_KEY], env={"FLITCH_STRIPE_KEY": None})
    assert result.exit_code == Exit.USAGE
    assert TEST_KEY not in result.output
