"""The master key and the sealing of Stripe keys at rest."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from flitch.config import Settings
from flitch.connections.crypto import (
    KEY_FILE,
    SALT_FILE,
    MasterKeyError,
    MasterKeyMismatch,
    generate_secret_key,
    load_master_key,
)

PLAIN = "rk_test_51SomethingSecretThatMustNotLeak000"


def settings(home: Path, secret: str | None = None) -> Settings:
    return Settings(home=home, secret_key=secret)


def test_key_file_is_created_private_on_first_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = os.umask(0o022)
    try:
        master = load_master_key(settings(home))
    finally:
        os.umask(old)
    path = home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert master.source == f"key file {path}"
    # No temporary file is left behind.
    assert sorted(p.name for p in home.iterdir()) == [KEY_FILE]
    # The same key is read back next time.
    assert load_master_key(settings(home)).fingerprint == master.fingerprint


def test_a_readable_key_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    load_master_key(settings(tmp_path))
    path = tmp_path / KEY_FILE
    path.chmod(0o644)
    with pytest.raises(MasterKeyError) as caught:
        load_master_key(settings(tmp_path))
    assert "0644" in caught.value.message
    assert f"chmod 600 {path}" in caught.value.fix
    path.chmod(0o600)
    load_master_key(settings(tmp_path))


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    load_master_key(settings(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / KEY_FILE).symlink_to(tmp_path / "a" / KEY_FILE)
    with pytest.raises(MasterKeyError):
        load_master_key(settings(tmp_path / "b"))


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    fd = os.open(tmp_path / KEY_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key")
    os.close(fd)
    with pytest.raises(MasterKeyError, match="does not hold a valid key"):
        load_master_key(settings(tmp_path))


def test_racing_first_runs_agree_on_one_key_file(tmp_path: Path) -> None:
    prints: list[str] = []

    def load() -> None:
        prints.append(load_master_key(settings(tmp_path)).fingerprint)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(prints)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]


def test_seal_and_open_round_trip_bound_to_the_connection(tmp_path: Path) -> None:
    master = load_master_key(settings(tmp_path))
    blob = master.seal(PLAIN, "conn_a")
    assert PLAIN.encode() not in blob
    assert master.open(blob, "conn_a") == PLAIN
    assert master.seal(PLAIN, "conn_a") != blob  # a fresh nonce every time
    with pytest.raises(MasterKeyMismatch):
        master.open(blob, "conn_b")  # cannot be moved to another connection's row
    damaged = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(MasterKeyMismatch):
        master.open(damaged, "conn_a")


def test_fernet_secret_key_is_used_as_is(tmp_path: Path) -> None:
    secret = generate_secret_key()
    one = load_master_key(settings(tmp_path, secret))
    two = load_master_key(settings(tmp_path / "elsewhere", secret))
    assert one.source == "FLITCH_SECRET_KEY"
    assert one.fingerprint == two.fingerprint
    assert not (tmp_path / KEY_FILE).exists()
    blob = one.seal(PLAIN, "conn_x")
    assert two.open(blob, "conn_x") == PLAIN


def test_passphrase_is_stretched_with_a_stored_salt(tmp_path: Path) -> None:
    phrase = "correct horse battery staple"
    one = load_master_key(settings(tmp_path, phrase))
    salt = tmp_path / SALT_FILE
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600
    assert one.source == "FLITCH_SECRET_KEY (passphrase)"
    assert load_master_key(settings(tmp_path, phrase)).fingerprint == one.fingerprint
    # The same passphrase with another salt is another key.
    assert load_master_key(settings(tmp_path / "other", phrase)).fingerprint != one.fingerprint


def test_short_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="at least 16") as caught:
        load_master_key(settings(tmp_path, "hunter2"))
    assert "Fernet.generate_key" in caught.value.fix


def test_wrong_master_key_says_so_clearly(tmp_path: Path) -> None:
    blob = load_master_key(settings(tmp_path, generate_secret_key())).seal(PLAIN, "conn_a")
    other = load_master_key(settings(tmp_path, generate_secret_key()))
    with pytest.raises(MasterKeyMismatch) as caught:
        other.open(blob, "conn_a")
    assert "another FLITCH_SECRET_KEY" in caught.value.message
    assert "flitch update-key" in caught.value.fix
    assert PLAIN not in str(caught.value)


def test_master_key_never_shows_in_repr(tmp_path: Path) -> None:
    master = load_master_key(settings(tmp_path))
    assert repr(master.key) not in repr(master)
