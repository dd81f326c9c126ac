"""Files and folders only their owner can open: everything Flitch writes.

The cache is a copy of the account's data and the metadata holds the sealed keys, so every
folder Flitch makes is 0700 and every file 0600, set explicitly: a mode passed to ``mkdir`` or
``open`` is narrowed by the umask, never widened, a folder that already exists keeps whatever
mode it has, and DuckDB creates its own files with the umask's mode. ``FLITCH_HOME`` itself may
have been made by someone else (an installer, ``mkdir``): Flitch does not change its mode but
says when others can read it (:func:`home_warning`), with the command that fixes it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path, *, existing: bool = True) -> Path:
    """Make ``path`` a folder only its owner can open, creating it and any missing parent
    as 0700; an existing ``path`` is made 0700 too unless ``existing`` is False."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            folder.mkdir(mode=PRIVATE_DIR)
            os.chmod(folder, PRIVATE_DIR)
    if existing and not missing and stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> None:
    """Make a file another library created (DuckDB, SQLite) 0600, if it exists."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(os.stat(path).st_mode) != PRIVATE_FILE:
            os.chmod(path, PRIVATE_FILE)


def home_warning(home: Path) -> str | None:
    """A warning if group or others may read or enter ``home`` (None when it is private or
    does not exist yet, in which case Flitch creates it 0700)."""
    try:
        mode = stat.S_IMODE(Path(home).stat().st_mode)
    except FileNotFoundError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"Warning: FLITCH_HOME ({home}) has mode {mode:04o}: other users of this machine may "
        "list it and open what a file's own mode allows (Flitch makes its files 0600 and "
        f"its folders 0700). Make it private: chmod 700 {home}"
    )
