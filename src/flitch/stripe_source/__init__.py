"""Everything that talks to Stripe, and nothing else does.

- :mod:`.client` — the read-only client (official SDK, pinned API version, GET-only seam);
- :mod:`.pacing` — rate limits per key and per endpoint, the in-flight cap, backoff and retries;
- :mod:`.reader` — whole lists read exactly once, in parallel ``created`` slices.
"""

from flitch.stripe_source.client import (
    API_VERSION,
    GetOnlyHTTPClient,
    KeyLike,
    SourceClient,
    open_client,
)
from flitch.stripe_source.pacing import Backoff, Pacer, PacerStats, TokenBucket
from flitch.stripe_source.reader import CursorLoop, ReadProgress, read_object, read_objects

__all__ = [
    "API_VERSION",
    "Backoff",
    "CursorLoop",
    "GetOnlyHTTPClient",
    "KeyLike",
    "Pacer",
    "PacerStats",
    "ReadProgress",
    "SourceClient",
    "TokenBucket",
    "open_client",
    "read_object",
    "read_objects",
]
