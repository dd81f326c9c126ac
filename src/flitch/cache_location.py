"""Where caches live: ``FLITCH_CACHE_URL`` read into a folder and a layout.

Unset, caches stay where single-machine installs have them: ``FLITCH_HOME/cache``, one
``current.duckdb`` per connection, replaced in place by each refresh. Set to ``file:///PATH``
or a plain path (a folder the processes share: a local disk, NFS and the like), each refresh
publishes an immutable ``v-<n>.duckdb`` in the connection's folder there, and the metadata
database records which version is current (:mod:`flitch.store.versions`).

It lives outside :mod:`flitch.store` so that commands which only read the metadata (listing
connections) do not load DuckDB with the store package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from flitch.errors import InputError

#: The cache folder's name under ``FLITCH_HOME`` (the default location).
CACHE_DIR = "cache"


class CacheLocationError(InputError):
    """``FLITCH_CACHE_URL`` names a place Flitch cannot keep caches in."""


@dataclass(frozen=True)
class CacheLocation:
    """The folder holding every connection's cache folder, and how versions are published."""

    root: Path
    #: True: immutable versions recorded in the metadata (FLITCH_CACHE_URL set); False: one
    #: ``current.duckdb`` per cache, renamed over by each refresh (the default)
    versioned: bool

    @classmethod
    def of(cls, home: Path, url: str | None) -> CacheLocation:
        """The location ``FLITCH_CACHE_URL`` (``url``) names; unset: ``home/cache``."""
        if url is None or not url.strip():
            return cls(Path(home) / CACHE_DIR, versioned=False)
        return cls(_folder(url.strip()), versioned=True)


def _folder(url: str) -> Path:
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise CacheLocationError(
                f"FLITCH_CACHE_URL={url!r} names a file on another host ({parsed.netloc}).",
                "Mount the shared folder on this machine and write file:///PATH to it.",
            )
        path = Path(unquote(parsed.path))
    elif scheme in ("s3", "gs", "gcs", "az", "abfss", "http", "https"):
        raise CacheLocationError(
            f"FLITCH_CACHE_URL={url!r}: caches cannot live in object storage ({scheme}://) yet.",
            "Use a folder every process mounts (NFS and the like): file:///PATH.",
        )
    elif scheme and len(scheme) > 1:
        raise CacheLocationError(
            f"FLITCH_CACHE_URL={url!r} is neither file:///PATH nor a path.",
            "Write the folder that holds the caches, e.g. file:///srv/flitch-cache.",
        )
    else:
        path = Path(url)
    path = path.expanduser()
    if not path.is_absolute():
        raise CacheLocationError(
            f"FLITCH_CACHE_URL={url!r} is a relative path.",
            "Write the whole path (every process must find the same folder), "
            "e.g. file:///srv/flitch-cache.",
        )
    return path
