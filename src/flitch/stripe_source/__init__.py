"""Everything that talks to Stripe, and nothing else does.

- :mod:`.client` — the read-only client (official SDK, pinned API version, GET-only seam);
- :mod:`.http` — the GET-only HTTP layer under the SDK (nothing but a GET can be sent);
- :mod:`.failures` — what a failed request means: retry or not, and the error a user reads;
- :mod:`.pacing` — rate limits per key and per endpoint, the in-flight cap, backoff and retries;
- :mod:`.reader` — whole lists read exactly once, in parallel ``created`` slices.
"""

from flitch.stripe_source.client import API_VERSION, KeyLike, SourceClient, open_client
from flitch.stripe_source.http import GetOnlyHTTPClient
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
