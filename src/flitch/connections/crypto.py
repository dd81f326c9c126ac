"""The master key, and the encryption of Stripe keys at rest.

How a Stripe key is kept: AES-256-GCM (authenticated encryption, from ``cryptography``) with a
fresh random 96-bit nonce for every seal, and the connection's id as associated data, so a sealed
key cannot be moved onto another connection's row. A sealed blob is ``b"\\x01" + nonce +
ciphertext-and-tag``. Next to each blob the metadata keeps the master key's *fingerprint* (an
HMAC of a fixed label under the master key: it reveals nothing about the key), which tells "this
was sealed under another master key" apart from "this blob was damaged".

Where the 32-byte master key comes from, in order:

1. ``FLITCH_SECRET_KEY`` holding a Fernet-format key (URL-safe base64 of 32 random bytes, as
   ``Fernet.generate_key()`` prints): its bytes are the key.
2. ``FLITCH_SECRET_KEY`` holding anything else of at least 16 characters: a passphrase. The key is
   derived from it with scrypt (n=2**15, r=8, p=1) and a random 16-byte salt kept in
   ``FLITCH_HOME/secret.salt`` (created on first use). Losing the salt loses the keys, exactly as
   losing the passphrase does.
3. Neither: the key file ``FLITCH_HOME/secret.key``, created on first run with mode 0600 (written
   to a private temporary file opened with ``os.open(..., 0o600)`` and linked into place, so no
   other process ever sees a partial or readable file). A key file that group or others can read
   is refused, with the ``chmod`` that fixes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flitch.config import Settings
from flitch.errors import FlitchError
from flitch.private import private_dir

KEY_FILE = "secret.key"
SALT_FILE = "secret.salt"
PASSPHRASE_MIN = 16
_BLOB_VERSION = b"\x01"
_NONCE_BYTES = 12
_AAD_PREFIX = b"flitch/stripe-key/v1/"
_FINGERPRINT_LABEL = b"flitch master key fingerprint v1"
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1
GENERATE_HINT = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class MasterKeyError(FlitchError):
    """The master key cannot be loaded or used: it is missing, unsafe, malformed or wrong."""


class MasterKeyMismatch(MasterKeyError):
    """A saved key was encrypted under another master key than the one in use now."""


@dataclass(frozen=True)
class MasterKey:
    """The 32-byte key that seals Stripe keys; ``source`` says where it came from."""

    key: bytes = field(repr=False)
    source: str

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ValueError("a master key is 32 bytes")

    @property
    def fingerprint(self) -> str:
        """A short public tag of this key: equal tags mean the same master key."""
        return hmac.new(self.key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt ``plaintext``, bound to ``context`` (the connection id)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, plaintext.encode(), _AAD_PREFIX + context.encode())
        return _BLOB_VERSION + nonce + sealed

    def open(self, blob: bytes, context: str) -> str:
        """Decrypt a blob sealed for ``context``, or :class:`MasterKeyMismatch`."""
        if blob[:1] != _BLOB_VERSION or len(blob) < 1 + _NONCE_BYTES + 16:
            raise MasterKeyError(
                "A saved key is not in a format this version of Flitch can read.",
                "Paste the key again with `flitch update-key NAME`.",
            )
        nonce = blob[1 : 1 + _NONCE_BYTES]
        try:
            plain = AESGCM(self.key).decrypt(
                nonce, blob[1 + _NONCE_BYTES :], _AAD_PREFIX + context.encode()
            )
        except InvalidTag:
            raise mismatch(self) from None
        return plain.decode()


def mismatch(master: MasterKey, connection: str | None = None) -> MasterKeyMismatch:
    """The error for a key sealed under another master key than ``master``."""
    whose = f"of connection {connection!r} " if connection else ""
    return MasterKeyMismatch(
        f"The saved Stripe key {whose}cannot be decrypted: the keys were encrypted with another "
        f"FLITCH_SECRET_KEY (or another key file) than the one in use now ({master.source}).",
        "Set FLITCH_SECRET_KEY to the value used when the connection was saved (or put the "
        "original secret.key back in FLITCH_HOME), or paste the key again with "
        "`flitch update-key NAME`.",
    )


def generate_secret_key() -> str:
    """A new random master key in Fernet format, suitable for ``FLITCH_SECRET_KEY``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def load_master_key(settings: Settings) -> MasterKey:
    """The master key from ``FLITCH_SECRET_KEY`` or the key file (created when missing)."""
    home = Path(settings.home)
    if settings.secret_key is not None and settings.secret_key.strip():
        secret = settings.secret_key.strip()
        raw = _fernet_bytes(secret)
        if raw is not None:
            return MasterKey(raw, "FLITCH_SECRET_KEY")
        if len(secret) < PASSPHRASE_MIN:
            raise MasterKeyError(
                f"FLITCH_SECRET_KEY is neither a Fernet key nor a passphrase of at least "
                f"{PASSPHRASE_MIN} characters.",
                f"Use a longer passphrase, or a random key made with: {GENERATE_HINT}",
            )
        salt = _read_or_create(home / SALT_FILE, lambda: secrets.token_bytes(16).hex().encode())
        derived = hashlib.scrypt(
            secret.encode(),
            salt=bytes.fromhex(salt.decode().strip()),
            n=_SCRYPT_N,
            r=_SCRYPT_R,
            p=_SCRYPT_P,
            maxmem=128 * _SCRYPT_R * _SCRYPT_N * 2,
            dklen=32,
        )
        return MasterKey(derived, "FLITCH_SECRET_KEY (passphrase)")
    path = home / KEY_FILE
    content = _read_or_create(path, lambda: generate_secret_key().encode())
    raw = _fernet_bytes(content.decode(errors="replace").strip())
    if raw is None:
        raise MasterKeyError(
            f"The key file {path} does not hold a valid key.",
            "Restore it from your backup. If it is lost, delete it, and paste each "
            "connection's key again with `flitch update-key NAME`.",
        )
    return MasterKey(raw, f"key file {path}")


def _fernet_bytes(text: str) -> bytes | None:
    if len(text) != 44:
        return None
    try:
        raw = base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """A private file's content, creating it atomically with mode 0600 if it is missing."""
    content = _read_private(path)
    if content is not None:
        return content
    ensure_home(path.parent)
    _create_exclusive(path, make())
    content = _read_private(path)
    if content is None:  # pragma: no cover - removed by someone between two lines
        raise MasterKeyError(f"{path} vanished while it was being created.", "Try again.")
    return content


def _read_private(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MasterKeyError(
            f"{path} cannot be opened ({exc.strerror}).",
            f"Make it a regular file readable only by the user running Flitch: chmod 600 {path}",
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MasterKeyError(
                f"{path} is not a regular file.", f"Remove it and try again: {path}"
            )
        if info.st_mode & 0o077:
            raise MasterKeyError(
                f"The key file {path} can be read by other users "
                f"(mode {stat.S_IMODE(info.st_mode):04o}), so Flitch refuses to use it.",
                f"Make it private with `chmod 600 {path}`; if others may have read it, set a new "
                "master key and paste each connection's key again with `flitch update-key`.",
            )
        chunks = []
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _create_exclusive(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it exists; no one ever sees it partial or readable."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        created = False  # another process made it first: use theirs
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)
    return created


def ensure_home(home: Path) -> None:
    """Create the data directory, 0700 whatever the umask, if it is missing (an existing one
    keeps its mode: ``flitch.private.home_warning`` says when others can read it)."""
    private_dir(home, existing=False)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
