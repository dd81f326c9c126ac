"""Reading a restricted key in the terminal, without ever putting it on the command line.

A key on the command line ends up in shell history and in ``ps`` output, so no ``flitch``
command takes one as an argument. The key comes from, in order:

1. the ``FLITCH_STRIPE_KEY`` environment variable, when it is set and not empty;
2. standard input, when it is not a terminal (``flitch test < key.txt``, a pipe, a script);
3. a prompt on the terminal that does not echo what is typed or pasted.

The key is never echoed back; messages show it masked.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

import typer

from flitch.keys import INPUT_MAX, KeyRefused, Refusal, RestrictedKey, parse_key

ENV_VAR = "FLITCH_STRIPE_KEY"
PROMPT = "Restricted API key (rk_live_… or rk_test_…; input is hidden)"


class KeySource(StrEnum):
    ENVIRONMENT = "environment"
    STDIN = "stdin"
    PROMPT = "prompt"


@dataclass(frozen=True)
class KeyText:
    """Raw text that should hold a key, and where it came from. Never printed."""

    text: str
    source: KeySource

    def __repr__(self) -> str:
        return f"KeyText(<{len(self.text)} characters>, source={self.source.value!r})"


def hidden_prompt() -> str:
    """Ask on the terminal without echoing (the prompt goes to stderr, keeping stdout clean)."""
    value: str = typer.prompt(PROMPT, hide_input=True, err=True)
    return value


def read_key_text(
    *,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    prompt: Callable[[], str] = hidden_prompt,
) -> KeyText:
    """The text of the key from the environment, standard input, or a hidden prompt."""
    env = os.environ if environ is None else environ
    from_env = env.get(ENV_VAR, "")
    if from_env.strip():
        return KeyText(from_env, KeySource.ENVIRONMENT)
    stream = sys.stdin if stdin is None else stdin
    if stream is not None and not _is_terminal(stream):
        # Read one byte more than is ever inspected, so an absurd input is refused, not cut.
        return KeyText(stream.read(INPUT_MAX + 1), KeySource.STDIN)
    return KeyText(prompt(), KeySource.PROMPT)


def read_key(
    *,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    prompt: Callable[[], str] = hidden_prompt,
) -> RestrictedKey:
    """Read and parse the key; :class:`~flitch.keys.KeyRefused` if it is not a usable one."""
    given = read_key_text(environ=environ, stdin=stdin, prompt=prompt)
    try:
        return parse_key(given.text)
    except KeyRefused as refused:
        if refused.reason is Refusal.EMPTY:
            raise KeyRefused(
                Refusal.EMPTY,
                f"No key was given ({_where(given.source)} was empty).",
                f"Set {ENV_VAR}, pipe the key on standard input, or run the command in a "
                "terminal to be asked for it. " + refused.fix,
            ) from None
        raise


def _where(source: KeySource) -> str:
    return {
        KeySource.ENVIRONMENT: ENV_VAR,
        KeySource.STDIN: "standard input",
        KeySource.PROMPT: "the prompt",
    }[source]


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
