"""What a list read keeps while it runs: its progress as shown to a person (:class:`ReadProgress`),
and each list's own state (:class:`ListJob`: one object with one parameter set, its slices, and
its density so far), with the parameter sets an object is read with (:func:`list_params`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from flitch.catalog import ObjectSpec
from flitch.errors import PermissionMissing, StripeRequestFailed
from flitch.stripe_source.slices import _Slice

#: Parameters the reader sets itself.
RESERVED_PARAMS = frozenset({"created", "starting_after", "ending_before"})


@dataclass
class ReadProgress:
    """What is known while reading: enough for a progress line (the total is not known)."""

    objects_total: int
    started: float = field(default_factory=time.monotonic)
    records: int = 0
    pages: int = 0
    #: requests sent for this read (retries included), retries, and 429s answered
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    elapsed: float = 0.0
    objects_done: int = 0
    records_by_object: dict[str, int] = field(default_factory=dict)
    #: objects that failed, with the error's message
    failed: dict[str, str] = field(default_factory=dict)
    #: parts of lists being read at once
    slices_active: int = 0
    #: the records the read should hold in all, estimated from what it has seen (None: no
    #: record yet); see ``_Reader.expected_records``
    expected_records: int | None = None

    @property
    def records_per_second(self) -> float:
        return self.records / self.elapsed if self.elapsed > 0 else 0.0


ProgressCallback = Callable[[ReadProgress], None]
ErrorCallback = Callable[[ObjectSpec, StripeRequestFailed | PermissionMissing], None]


@dataclass
class ListJob:
    """One list read: an object with one parameter set."""

    spec: ObjectSpec
    params: dict[str, Any]
    path: str
    active: int = 0
    stopped: bool = False
    # the list's density so far: records read, and the seconds of created time they cover
    records: int = 0
    seconds: int = 0
    reading: dict[int, _Slice] = field(default_factory=dict)
    #: the tasks reading each slice (its fall, and its rise once it has one)
    streams: dict[int, set[asyncio.Task[None]]] = field(default_factory=dict)
    #: the oldest ``created`` read so far
    lowest: int | None = None
    #: read from both ends (a live read of a window); cut once, at its first page or before
    both_ways: bool = False
    cut: bool = False
    #: slices made so far (each ends on a short page: one request more than the fewest)
    spawned: int = 0
    pages: int = 0

    def seconds_per_record(self) -> float:
        return max(1, self.seconds) / max(1, self.records)

    def remaining(self, now: int) -> float:
        """Records left to read, estimated: the unread time of its slices at its density.

        Crude (a slice open below counts back to 2010 until halving finds where its records
        start), but it orders lists by how long they will take, which is what it is for.
        """
        unread = sum(piece.unread(now) for piece in self.reading.values())
        return unread / self.seconds_per_record()


def list_params(spec: ObjectSpec, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The distinct parameter sets to read ``spec`` with: each variant merged with ``params``."""
    extra = dict(params or {})
    clash = sorted(RESERVED_PARAMS & extra.keys())
    if clash:
        raise ValueError(
            f"{', '.join(clash)} cannot be passed to a read: use created_gte/created_lt; "
            "the reader sets cursors itself"
        )
    seen: set[bytes] = set()
    result: list[dict[str, Any]] = []
    for variant in spec.list_variants:
        merged: dict[str, Any] = {**variant, **extra}
        if spec.expand and "expand" not in merged:
            merged["expand"] = list(spec.expand)
        key = orjson.dumps(merged, option=orjson.OPT_SORT_KEYS)
        if key not in seen:
            seen.add(key)
            result.append(merged)
    return result
