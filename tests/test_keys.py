"""Parsing, refusing and masking restricted keys; the secret never leaks into any output."""

from __future__ import annotations

import copy
import json
import logging
import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flitch.errors import KeyRejected
from flitch.keys import (
    BODY_MAX,
    BODY_MIN,
    KeyRefused,
    Mode,
    Refusal,
    RestrictedKey,
    mask,
    parse_key,
)

ALNUM = string.ascii_letters + string.digits


def body(n: int = 99, seed: int = 7) -> str:
    """A deterministic key body of ``n`` letters and digits."""
    return "".join(ALNUM[(i * seed + i // 3) % len(ALNUM)] for i in range(n))


LIVE = "rk_live_" + body()
TEST = "rk_test_" + body(24, seed=11)


# -- accepted ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "mode"),
    [
        (LIVE, LIVE, Mode.LIVE),
        (TEST, TEST, Mode.TEST),
        ("rk_live_" + body(BODY_MIN), "rk_live_" + body(BODY_MIN), Mode.LIVE),
        ("rk_test_" + body(BODY_MAX), "rk_test_" + body(BODY_MAX), Mode.TEST),
        (f"  {LIVE}\n", LIVE, Mode.LIVE),
        (f"\t{LIVE}\r\n\r\n", LIVE, Mode.LIVE),
        (f'"{LIVE}"', LIVE, Mode.LIVE),
        (f"'{TEST}'", TEST, Mode.TEST),
        (f"`{TEST}`", TEST, Mode.TEST),
        (f"“{TEST}”", TEST, Mode.TEST),
        (f"Bearer {LIVE}", LIVE, Mode.LIVE),
        (f"bearer  {LIVE}", LIVE, Mode.LIVE),
        (f"BEARER\t{LIVE}", LIVE, Mode.LIVE),
        (f' "Bearer {LIVE}" \n', LIVE, Mode.LIVE),
        (f"Bearer '{LIVE}'", LIVE, Mode.LIVE),
        (f"\ufeff{LIVE}\u200b", LIVE, Mode.LIVE),
    ],
)
def test_accepts_restricted_keys_and_trims_what_is_safe(text: str, secret: str, mode: Mode) -> None:
    key = parse_key(text)
    assert key.secret == secret
    assert key.mode is mode
    assert key.last4 == secret[-4:]
    assert key.masked == f"rk_{mode.value}_…{secret[-4:]}"


def test_a_key_shows_itself_masked() -> None:
    key = parse_key(LIVE)
    assert str(key) == key.masked == f"rk_live_…{LIVE[-4:]}"
    assert f"{key}" == key.masked
    assert repr(key) == f"RestrictedKey('rk_live_…{LIVE[-4:]}', mode='live')"
    assert body()[:20] not in repr([key, {"k": key}])
    assert copy.deepcopy(key) == key
    with pytest.raises(AttributeError):
        key.secret = TEST  # type: ignore[misc]


def test_modes() -> None:
    assert Mode.TEST.other is Mode.LIVE
    assert Mode.LIVE.other is Mode.TEST
    assert Mode.LIVE.key_prefix == "rk_live_"
    assert Mode("test") is Mode.TEST


# -- refused -----------------------------------------------------------------------------------

R = Refusal
MALFORMED: list[tuple[str, str, Refusal]] = [
    ("empty", "", R.EMPTY),
    ("spaces only", "   \n\t ", R.EMPTY),
    ("empty quotes", '""', R.EMPTY),
    ("Bearer alone", "Bearer ", R.EMPTY),
    ("live secret key", "sk_live_" + body(), R.SECRET_KEY),
    ("test secret key", "sk_test_" + body(24), R.SECRET_KEY),
    ("quoted secret key", f'"sk_live_{body()}"', R.SECRET_KEY),
    ("secret key with Bearer", f"Bearer sk_test_{body()}", R.SECRET_KEY),
    ("live publishable key", "pk_live_" + body(), R.PUBLISHABLE_KEY),
    ("test publishable key", "pk_test_" + body(24), R.PUBLISHABLE_KEY),
    ("webhook secret", "whsec_" + body(32), R.WEBHOOK_SECRET),
    ("account id", "acct_1Nv0FGQ9RKHgCVdK", R.ACCOUNT_ID),
    ("customer id", "cus_NffrFeUfNV2Hib", R.OBJECT_ID),
    ("charge id", "ch_3MmlLrLkdIwHu7ix0snN0B15", R.OBJECT_ID),
    ("truncated", "rk_live_" + body(12), R.TOO_SHORT),
    ("one short", "rk_test_" + body(BODY_MIN - 1), R.TOO_SHORT),
    ("prefix only", "rk_live_", R.TOO_SHORT),
    ("too long", "rk_live_" + body(BODY_MAX + 1), R.TOO_LONG),
    ("absurd length", "rk_live_" + "a" * 100_000, R.TOO_LONG),
    ("space inside", f"rk_live_{body(40)} {body(40)}", R.BAD_CHARACTERS),
    ("line break inside", f"rk_live_{body(50)}\n{body(49)}", R.BAD_CHARACTERS),
    ("dash inside", f"rk_live_{body(50)}-{body(49)}", R.BAD_CHARACTERS),
    ("underscore inside", f"rk_test_{body(50)}_{body(49)}", R.BAD_CHARACTERS),
    ("non-ascii letter", f"rk_live_{body(50)}é{body(49)}", R.BAD_CHARACTERS),
    ("full-width digit", f"rk_live_{body(50)}１{body(49)}", R.BAD_CHARACTERS),
    ("trailing punctuation", f"rk_live_{body()}.", R.BAD_CHARACTERS),
    ("unmatched quote", f'"rk_live_{body()}', R.BAD_CHARACTERS),
    ("two keys with space", f"rk_live_{body()} rk_live_{body(30)}", R.SEVERAL_KEYS),
    ("two keys glued", f"rk_live_{body()}rk_test_{body()}", R.SEVERAL_KEYS),
    ("restricted and secret", f"rk_test_{body()}\nsk_test_{body()}", R.SEVERAL_KEYS),
    ("same key twice", LIVE + LIVE, R.SEVERAL_KEYS),
    ("dashboard's masked form", "rk_live_…" + body(4), R.MASKED_COPY),
    ("asterisks", "rk_test_*****************" + body(4), R.MASKED_COPY),
    ("three dots", "rk_live_51H..." + body(4), R.MASKED_COPY),
    ("unknown mode", "rk_prod_" + body(), R.UNKNOWN_MODE),
    ("no mode", "rk_" + body(), R.UNKNOWN_MODE),
    ("upper-case prefix", "RK_LIVE_" + body(), R.NOT_A_KEY),
    ("no prefix", body(), R.NOT_A_KEY),
    ("env assignment", f"STRIPE_KEY={LIVE}", R.BAD_CHARACTERS),
    ("JSON blob", json.dumps({"key": LIVE}), R.BAD_CHARACTERS),
    ("secret key in an assignment", f"STRIPE_KEY=sk_live_{body()}", R.SECRET_KEY),
    ("url", "https://dashboard.stripe.com/apikeys", R.NOT_A_KEY),
    ("openai-style key", "sk-proj-" + body(48), R.NOT_A_KEY),
]


def test_the_corpus_is_large() -> None:
    assert len(MALFORMED) >= 30
    assert {reason for _, _, reason in MALFORMED} == set(Refusal)


@pytest.mark.parametrize(
    ("text", "reason"), [(t, r) for _, t, r in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_refuses_with_the_right_reason_and_a_way_forward(text: str, reason: Refusal) -> None:
    with pytest.raises(KeyRefused) as caught:
        parse_key(text)
    error = caught.value
    assert isinstance(error, KeyRejected)
    assert error.reason is reason
    assert error.fix, "every refusal says what to do next"
    if reason is Refusal.SECRET_KEY:
        assert "secret key with full read and write access" in error.message
        assert "Flitch only accepts read-only restricted keys" in error.message
    if reason in (Refusal.SECRET_KEY, Refusal.PUBLISHABLE_KEY):
        assert "Create restricted key" in error.fix
        assert "Read" in error.fix
        assert "None" in error.fix
    else:
        assert "rk_live_" in error.fix
        assert "rk_test_" in error.fix
        assert f"{BODY_MIN} to {BODY_MAX} letters and digits" in error.fix
    if reason is Refusal.PUBLISHABLE_KEY:
        assert "cannot list" in error.message
    data = error.to_dict()
    assert data["reason"] == reason.value
    assert data["error"] == "KeyRefused"
    json.dumps(data)


# -- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (LIVE, f"rk_live_…{LIVE[-4:]}"),
        ("sk_test_" + body(), f"sk_test_…{body()[-4:]}"),
        ("rk_live_" + body(10), "rk_live_…"),
        ("", "(empty)"),
        ("   ", "(empty)"),
        ("hello", "…"),
        (body(40), f"…{body(40)[-4:]}"),
        (f"rk_live_{body(40)}\n", f"rk_live_…{body(40)[-4:]}"),
        ("rk_live_" + body(30) + "!!!!", "rk_live_…"),
        ("whsec_" + body(32), f"whsec_…{body(32)[-4:]}"),
    ],
)
def test_mask(text: str, shown: str) -> None:
    assert mask(text) == shown


@given(st.text())
def test_mask_shows_at_most_a_known_prefix_and_the_last_four(text: str) -> None:
    shown = mask(text)
    if shown == "(empty)":
        assert not text.strip(" \t\r\n\v\f\ufeff\u200b\u00a0")
        return
    prefix, _, tail = shown.partition("…")
    assert text.strip(" \t\r\n\v\f\ufeff\u200b\u00a0").startswith(prefix)
    assert len(prefix) <= len("rk_live_")
    assert len(tail) <= 4
    assert tail == "" or text.rstrip().endswith(tail)


# -- the secret never leaks --------------------------------------------------------------------

SECRET_BODY = st.text(alphabet=ALNUM, min_size=BODY_MIN, max_size=BODY_MAX)
PREFIX = st.sampled_from(
    ["rk_live_", "rk_test_", "sk_live_", "sk_test_", "pk_live_", "pk_test_", "rk_prod_", "rk_", ""]
)


@st.composite
def pasted(draw: st.DrawFn) -> tuple[str, str]:
    """Something a person might paste around a secret body; returns (text, secret body)."""
    secret = draw(SECRET_BODY)
    key = draw(PREFIX) + secret
    variant = draw(st.integers(0, 8))
    if variant == 1:
        key = key[: draw(st.integers(0, len(key)))]
    elif variant == 2:
        cut = draw(st.integers(0, len(key)))
        key = key[:cut] + draw(st.sampled_from([" ", "\n", "-", "é", "*", "…", "_"])) + key[cut:]
    elif variant == 3:
        key = key + draw(st.sampled_from(["", " ", "\n"])) + key
    elif variant == 4:
        key = key + draw(st.text(alphabet=ALNUM, min_size=BODY_MAX, max_size=BODY_MAX + 20))
    elif variant == 5:
        key = "whsec_" + secret
    elif variant == 6:
        key = f"rk_live_{secret} rk_test_{draw(SECRET_BODY)}"
    left = draw(st.sampled_from(["", " ", "\n", '"', "'", "Bearer ", "bearer '", "“"]))
    right = draw(st.sampled_from(["", " ", "\r\n", '"', "'", "”", "."]))
    return left + key + right, secret


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _outputs(text: str) -> Iterator[str]:
    try:
        key = parse_key(text)
    except KeyRefused as error:
        yield from (str(error), repr(error), error.message, error.fix)
        yield json.dumps(error.to_dict(), ensure_ascii=False)
        yield repr(error.args)
    else:
        yield from (str(key), repr(key), key.masked, f"{key}", repr([key]), repr({"k": key}))
    yield mask(text)


def leaked_runs(secret: str, output: str, longest: int = 4) -> list[str]:
    """Runs of ``secret`` longer than ``longest`` characters found in ``output``."""
    size = longest + 1
    grams = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    return [
        output[i : i + size] for i in range(len(output) - size + 1) if output[i : i + size] in grams
    ]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(pasted())
def test_no_output_or_log_line_holds_a_run_of_the_secret(case: tuple[str, str]) -> None:
    text, secret = case
    capture = _Capture()
    logger = logging.getLogger("flitch")
    old_level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        outputs = list(_outputs(text))
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)
    for output in [*outputs, *capture.lines]:
        assert not leaked_runs(secret, output), output


def test_refusals_are_logged_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flitch")
    with pytest.raises(KeyRefused):
        parse_key("sk_live_" + body())
    assert any("secret_key" in r.getMessage() for r in caplog.records)
    assert all(body()[:10] not in r.getMessage() for r in caplog.records)


def test_restricted_key_can_be_built_directly() -> None:
    key = RestrictedKey(secret=LIVE, mode=Mode.LIVE)
    assert key == parse_key(f" {LIVE} ")
    assert len({key, parse_key(LIVE)}) == 1


def test_the_leak_detector_detects() -> None:
    secret = body(40)
    assert leaked_runs(secret, f"key {secret[10:15]} shown")
    assert not leaked_runs(secret, f"key …{secret[-4:]} shown")
