"""The metadata database's own error: what the person running Flitch can act on."""

from __future__ import annotations

from flitch.errors import FlitchError


class MetadataError(FlitchError):
    """The metadata database cannot be used as it is."""
