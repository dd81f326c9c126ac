"""Restricted keys: parse what a person pasted, learn its mode, and mask it for display.

Flitch only ever uses a *read-only restricted key* (``rk_live_…`` or ``rk_test_…``). Anything
else is refused before a single request is sent, with a message that says what a valid key looks
like and, for the two keys people most often paste by mistake (secret and publishable keys), why
that key cannot be used.

What a valid key looks like — the bounds checked here:

- the prefix ``rk_live_`` (live-mode data) or ``rk_test_`` (test-mode data), in lower case;
- then the body: ASCII letters and digits only. Keys issued before 2020 have a 24-character body;
  current keys have 99 characters (``rk_live_51…``). Stripe reserves the right to make keys
  longer and tells integrators to store up to 255 characters, so the body may be 24 to 247
  characters (247 = 255 minus the 8-character prefix). Shorter is a truncated copy; longer is
  something else pasted with it.

What is trimmed, because it cannot be part of a key: surrounding whitespace and line breaks
(and a byte-order mark or zero-width space at either end), one pair of matching quotes, and a
leading ``Bearer`` word in any case. Nothing inside the key is ever changed.

A key's secret never appears in a message, a ``repr``, a ``str`` or a log line: only its prefix
and its last four characters do (:func:`mask`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum

from flitch.errors import KeyRejected

log = logging.getLogger(__name__)

#: Shortest body (after ``rk_live_``) Stripe has issued: the pre-2020 24-character keys.
BODY_MIN = 24
#: Longest body accepted: Stripe asks integrators to allow keys of up to 255 characters.
BODY_MAX = 255 - len("rk_live_")
#: Input longer than this is not inspected at all.
INPUT_MAX = 4096

VALID_KEY = (
    "A valid key is a Stripe restricted key: rk_live_ (live data) or rk_test_ (test-mode data) "
    f"followed by {BODY_MIN} to {BODY_MAX} letters and digits, and nothing else."
)
HOW_TO_CREATE = (
    "In Stripe, go to Developers → API keys → Create restricted key, grant Read on the resources "
    "you want, leave every other permission set to None, and paste the key it generates "
    "(it starts with rk_)."
)


class Mode(StrEnum):
    """Which of the account's data a key sees: Stripe keeps test and live data apart."""

    TEST = "test"
    LIVE = "live"

    @property
    def other(self) -> Mode:
        return Mode.LIVE if self is Mode.TEST else Mode.TEST

    @property
    def key_prefix(self) -> str:
        """The restricted-key prefix of this mode: ``rk_test_`` or ``rk_live_``."""
        return f"rk_{self.value}_"

    @property
    def description(self) -> str:
        return "test-mode data" if self is Mode.TEST else "live data"


class Refusal(StrEnum):
    """Why a pasted text is not a usable key (the ``reason`` of a :class:`KeyRefused`)."""

    EMPTY = "empty"
    SECRET_KEY = "secret_key"  # noqa: S105 (a reason, not a password)
    PUBLISHABLE_KEY = "publishable_key"
    WEBHOOK_SECRET = "webhook_secret"  # noqa: S105
    ACCOUNT_ID = "account_id"
    OBJECT_ID = "object_id"
    MASKED_COPY = "masked_copy"
    SEVERAL_KEYS = "several_keys"
    UNKNOWN_MODE = "unknown_mode"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    BAD_CHARACTERS = "bad_characters"
    NOT_A_KEY = "not_a_key"


class KeyRefused(KeyRejected):
    """A :class:`~flitch.errors.KeyRejected` that also says which kind of refusal it is."""

    def __init__(self, reason: Refusal, message: str, fix: str) -> None:
        super().__init__(message, fix)
        self.reason = reason

    def to_dict(self) -> dict[str, str | bool | None]:
        return {**super().to_dict(), "reason": self.reason.value}


@dataclass(frozen=True, slots=True, repr=False)
class RestrictedKey:
    """A syntactically valid restricted key. Shows itself masked: ``rk_live_…wxyz``."""

    secret: str
    mode: Mode

    @property
    def last4(self) -> str:
        return self.secret[-4:]

    @property
    def masked(self) -> str:
        return f"{self.mode.key_prefix}…{self.last4}"

    def __repr__(self) -> str:
        return f"RestrictedKey({self.masked!r}, mode={self.mode.value!r})"

    def __str__(self) -> str:
        return self.masked


_RESTRICTED = re.compile(r"rk_(live|test)_([A-Za-z0-9]*)")
_ANY_KEY = re.compile(r"(rk|sk|pk)_(?:live|test)_")
#: Prefixes mask() may show in full: they identify the kind of text, never its secret.
_SHOWABLE_PREFIXES = (
    "rk_live_",
    "rk_test_",
    "sk_live_",
    "sk_test_",
    "pk_live_",
    "pk_test_",
    "whsec_",
    "acct_",
    "rk_",
    "sk_",
    "pk_",
)
#: mask() shows the last four characters only of a body at least this long.
_MASK_MIN_BODY = 16
_EDGE_JUNK = " \t\r\n\v\f\ufeff\u200b\u00a0"
_QUOTES = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’", "«": "»"}
_BEARER = re.compile(r"bearer(?:\s+|$)", re.IGNORECASE)
#: Ids of Stripe objects people paste by mistake (``cus_…``, ``ch_…``): the part before ``_``.
_OBJECT_ID_PREFIXES = frozenset(
    "cus ch py pi in sub prod price po txn dp du cn pm src card ba evt whm we".split()  # noqa: SIM905
)


def mask(text: str) -> str:
    """A display form of any text that might be a key: a known prefix, ``…``, the last four.

    The last four characters are shown only when they are letters or digits and the part after
    the prefix is long enough that four characters give nothing useful away. Safe for any input.
    """
    cleaned = text.strip(_EDGE_JUNK)
    if not cleaned:
        return "(empty)"
    prefix = next((p for p in _SHOWABLE_PREFIXES if cleaned.startswith(p)), "")
    body = cleaned[len(prefix) :]
    tail = body[-4:]
    if len(body) >= _MASK_MIN_BODY and tail.isascii() and tail.isalnum():
        return f"{prefix}…{tail}"
    return f"{prefix}…"


def trim(text: str) -> str:
    """Remove what cannot belong to a key: edge whitespace, matching quotes, ``Bearer``."""
    previous = None
    current = text
    while current != previous:
        previous = current
        current = current.strip(_EDGE_JUNK)
        if len(current) >= 2 and _QUOTES.get(current[0]) == current[-1]:
            current = current[1:-1]
        bearer = _BEARER.match(current)
        if bearer:
            current = current[bearer.end() :]
    return current


def parse_key(text: str) -> RestrictedKey:
    """The restricted key in ``text``, or :class:`KeyRefused` saying why it is not one."""
    try:
        return _parse(text)
    except KeyRefused as refused:
        log.info("key refused (%s): %s", refused.reason.value, mask(text[:INPUT_MAX]))
        raise


def _parse(text: str) -> RestrictedKey:
    if len(text) > INPUT_MAX:
        raise _refuse(Refusal.TOO_LONG, f"The text pasted is {len(text)} characters long.")
    key = trim(text)
    if not key:
        raise _refuse(Refusal.EMPTY, "No key was given.")
    found = [m.group(1) for m in _ANY_KEY.finditer(key)]
    if len(found) > 1:
        raise _refuse(
            Refusal.SEVERAL_KEYS,
            "The text pasted holds more than one Stripe key.",
            "Paste a single restricted key. ",
        )
    if key.startswith("sk_") or found == ["sk"]:
        raise KeyRefused(
            Refusal.SECRET_KEY,
            f"This ({mask(key)}) is a secret key with full read and write access; Flitch only "
            "accepts read-only restricted keys.",
            f"{HOW_TO_CREATE} Never share a secret key; if it was exposed, roll it in Stripe.",
        )
    if key.startswith("pk_") or found == ["pk"]:
        raise KeyRefused(
            Refusal.PUBLISHABLE_KEY,
            f"This ({mask(key)}) is a publishable key: it is meant for web pages and cannot "
            "list customers, charges or any other data.",
            HOW_TO_CREATE,
        )
    if key.startswith("whsec_"):
        raise _refuse(
            Refusal.WEBHOOK_SECRET,
            "This is a webhook signing secret (whsec_…), not an API key.",
        )
    if key.startswith("acct_"):
        raise _refuse(Refusal.ACCOUNT_ID, "This is a Stripe account id (acct_…), not an API key.")
    if "*" in key or "…" in key or "..." in key:
        raise _refuse(
            Refusal.MASKED_COPY,
            "This looks like the shortened form of a key that Stripe shows in lists "
            "(with … or *), not the key itself.",
            "Copy the whole key from Stripe (Developers → API keys → Reveal key); a live key "
            "is shown only once, so if you no longer have it, create a new restricted key. ",
        )
    head, sep, _ = key.partition("_")
    if sep and head in _OBJECT_ID_PREFIXES:
        raise _refuse(
            Refusal.OBJECT_ID,
            f"This looks like the id of a Stripe object ({head}_…), not an API key.",
        )
    if not key.startswith("rk_"):
        if found == ["rk"]:
            raise _refuse(
                Refusal.BAD_CHARACTERS,
                "The text pasted holds a restricted key with other characters before it.",
                "Paste only the key, from rk_ to its last character. ",
            )
        if key[:3].lower() == "rk_":
            raise _refuse(
                Refusal.NOT_A_KEY, "Stripe key prefixes are in lower case (rk_live_, rk_test_)."
            )
        raise _refuse(Refusal.NOT_A_KEY, "This is not a Stripe restricted key.")
    match = _RESTRICTED.match(key)
    if match is None:
        raise _refuse(
            Refusal.UNKNOWN_MODE,
            "This key starts rk_ but not rk_live_ or rk_test_, so its mode is unknown.",
        )
    body = key[match.start(2) :]
    mode = Mode(match.group(1))
    if len(body) > BODY_MAX:
        raise _refuse(
            Refusal.TOO_LONG,
            f"This key is {len(key)} characters long, more than any Stripe key "
            "(255 at most): something else was pasted with it.",
        )
    if match.end() != len(key):
        spaces = any(ch.isspace() for ch in body)
        raise _refuse(
            Refusal.BAD_CHARACTERS,
            "This key has "
            + ("a space or line break inside it" if spaces else "characters no Stripe key has")
            + ".",
            "Copy the key again in one piece. " if spaces else "",
        )
    if len(body) < BODY_MIN:
        raise _refuse(
            Refusal.TOO_SHORT,
            f"This key is too short ({len(key)} characters): it was probably cut off when "
            "it was copied.",
            "Copy the whole key again. ",
        )
    return RestrictedKey(secret=key, mode=mode)


def _refuse(reason: Refusal, message: str, advice: str = "") -> KeyRefused:
    return KeyRefused(reason, message, f"{advice}{VALID_KEY} {HOW_TO_CREATE}")
