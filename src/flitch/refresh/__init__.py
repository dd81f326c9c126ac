"""Refresh: fill a connection's cache, keep it exact incrementally, prove it, on a schedule.

- :mod:`.runner` — one refresh of one connection (:func:`refresh`, :class:`Refresher`);
- :mod:`.plan` — full, events or created: how each dataset is refreshed, and its cursor;
- :mod:`.changes` — the incremental change feed from ``/v1/events``;
- :mod:`.unannounced` — changes with no event of their own, and how each is caught;
- :mod:`.work` — the reads and writes of one refresh inside its store transaction;
- :mod:`.verify` — re-read everything and compare with the cache, then repair it;
- :mod:`.scheduler` — runs refreshes (and a daily check) on each connection's interval, or
  queues them for the workers;
- :mod:`.leader` — the lock that lets exactly one process schedule;
- :mod:`.jobs` — the workers' queue in the metadata database (server mode);
- :mod:`.worker` — ``flitch worker``: runs queued jobs under a lease;
- :mod:`.progress` — what a refresh is doing, for progress displays and ``--json``.
"""

from flitch.refresh.progress import DatasetProgress, Phase, RefreshProgress, Strategy
from flitch.refresh.runner import Refresher, RefreshResult, refresh

__all__ = [
    "DatasetProgress",
    "Phase",
    "RefreshProgress",
    "RefreshResult",
    "Refresher",
    "Strategy",
    "refresh",
]
