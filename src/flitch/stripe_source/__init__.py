"""Everything that talks to Stripe, and nothing else does.

- :mod:`.client` — the read-only client (official SDK, pinned API version, GET-only seam);
- :mod:`.pacing` — rate limits per key and per endpoint, the in-flight cap, backoff and retries.
"""

from flitch.stripe_source.client import (
    API_VERSION,
    GetOnlyHTTPClient,
    KeyLike,
    SourceClient,
    open_client,
)
from flitch.stripe_source.pacing import Backoff, Pacer, PacerStats, TokenBucket

__all__ = [
    "API_VERSION",
    "Backoff",
    "GetOnlyHTTPClient",
    "KeyLike",
    "Pacer",
    "PacerStats",
    "SourceClient",
    "TokenBucket",
    "open_client",
]
