"""The one-time code that creating the first account asks for.

While no account exists, whoever reaches ``/setup`` first becomes the admin. The page is meant
for the person who started the server, so it asks for a code only they have seen: ``flitch
serve`` prints it on its console (as Jupyter prints its first-run token), with a link that
carries it. A page of another site that reached the server (DNS rebinding, a forged form) has no
way to read that console.

The code is made the first time it is asked for and kept in the metadata database, so every
``flitch serve`` sharing the FLITCH_HOME prints and accepts the same one; creating any account
deletes it, in the same transaction. It is 16 characters from 31 that cannot be mistaken for one
another (about 79 bits): typed by hand if need be, never guessed.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from flitch import clock as clocks
from flitch.metadb import Database, Tx
from flitch.web import userdb
from flitch.web.errors import Forbidden

#: No 0/O, 1/I/L: the code may be read off a screen and typed.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS = 4
GROUP_SIZE = 4


class SetupCodeRefused(Forbidden):
    """The first account was asked for without the code the server printed."""

    def __init__(self) -> None:
        super().__init__(
            "The setup code is missing or not right.",
            "Copy it from the terminal where `flitch serve` runs (the line 'Setup code: …', or "
            "open the link printed beside it). Or create the account from that machine's "
            "terminal instead: `flitch users add NAME --role admin`.",
        )


def new_code() -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_SIZE)) for _ in range(GROUPS))
    return "-".join(groups)


def normalise(text: str) -> str:
    """A code as typed, as stored: upper case, without spaces or dashes."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def issue(path: Database | Path) -> str | None:
    """The setup code while no account exists (made now if there is none yet), else ``None``."""
    with userdb.database(path).write() as conn:
        if conn.execute("SELECT 1 FROM web_users LIMIT 1").fetchone():
            return None
        row = conn.execute("SELECT code FROM web_setup_code").fetchone()
        if row is not None:
            return str(row["code"])
        code = new_code()
        conn.execute(
            "INSERT INTO web_setup_code (id, code, created_at) VALUES (1, ?, ?)",
            (code, clocks.now()),
        )
        return code


def check(conn: Tx, given: str) -> None:
    """``SetupCodeRefused`` unless ``given`` is the stored code (inside the caller's
    transaction, so the account it allows is created under the same lock)."""
    row = conn.execute("SELECT code FROM web_setup_code").fetchone()
    expected = normalise(str(row["code"])) if row is not None else ""
    if not expected or not hmac.compare_digest(expected.encode(), normalise(given).encode()):
        raise SetupCodeRefused()


def forget(conn: Tx) -> None:
    """An account exists now: the code has served (inside the caller's transaction)."""
    conn.execute("DELETE FROM web_setup_code")


def matches(path: Database | Path, given: str) -> bool:
    """Whether ``given`` is the current setup code (for answering early; ``check`` decides)."""
    with userdb.database(path).read() as conn:
        try:
            check(conn, given)
        except SetupCodeRefused:
            return False
    return True
