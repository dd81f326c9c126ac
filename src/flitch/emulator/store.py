"""The emulator's account data: every object of one mode, kept in Stripe's list order.

The emulator models Stripe, not Flitch: nothing here imports from ``flitch`` outside
``flitch.emulator``, so a misunderstanding of Stripe in the connector is not copied here.

An ``Account`` holds two ``ModeStore``s (test and live data are separate in Stripe). A
``ModeStore`` keeps, for each object type (``"customer"``, ``"charge"``, …, and ``"event"``), the
objects newest first — Stripe's list order — with an index by id and each object's JSON
serialised once, so serving a page is joining cached bytes.

Order: newest ``created`` first; within one second, by id descending.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

Obj = dict[str, Any]


def _sort_key(obj: Obj) -> tuple[int, str]:
    # Ascending order of this key is Stripe's list order (newest first). Ids compare by their
    # inverted characters so that, within one second, the larger id comes first. A discount has
    # no ``created`` in Stripe; it is kept (for expansion, never listed) by its ``start``.
    created = obj["created"] if "created" in obj else obj["start"]
    return (-int(created), _invert(obj["id"]))


#: Inverts ASCII in one ``str.translate`` (ids are ASCII; anything else takes the slow path).
_INVERT_ASCII = {code: chr(0x10FFFF - code) for code in range(128)}


def _invert(text: str) -> str:
    if text.isascii():
        return text.translate(_INVERT_ASCII)
    return "".join(chr(0x10FFFF - ord(ch)) for ch in text)


@dataclass
class TypeList:
    """Objects of one type, newest first, with their sort keys and cached JSON."""

    keys: list[tuple[int, str]] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.objects)


class ModeStore:
    """All objects of one mode (test or live)."""

    def __init__(self, livemode: bool) -> None:
        self.livemode = livemode
        self._types: dict[str, TypeList] = {}
        self._by_id: dict[str, Obj] = {}
        self._json: dict[str, bytes] = {}
        #: Deleted objects answer retrieve with ``{"id", "object", "deleted": true}``.
        self.tombstones: dict[str, Obj] = {}
        #: Balance transaction id -> the payout that paid it out. Stripe's balance transaction
        #: has no such field, yet ``GET /v1/balance_transactions?payout=po_…`` filters on it.
        self.paid_out_by: dict[str, str] = {}
        self.lock = threading.RLock()

    # -- reading -------------------------------------------------------------------------------
    def types(self) -> list[str]:
        return sorted(self._types)

    def ordered(self, object_type: str) -> TypeList:
        """The objects of a type, newest first (shared; do not mutate)."""
        return self._types.setdefault(object_type, TypeList())

    def count(self, object_type: str) -> int:
        return len(self.ordered(object_type))

    def get(self, object_id: str) -> Obj | None:
        return self._by_id.get(object_id)

    def position(self, object_id: str) -> int | None:
        """Index of an object within its type's list (for ``starting_after``/``ending_before``)."""
        obj = self._by_id.get(object_id)
        if obj is None:
            return None
        tl = self.ordered(obj["object"])
        return bisect.bisect_left(tl.keys, _sort_key(obj))

    def created_range(self, object_type: str, gte: int | None, lt: int | None) -> tuple[int, int]:
        """Index range [start, stop) of the objects whose ``created`` is in [gte, lt)."""
        tl = self.ordered(object_type)
        # keys are (-created, …): created < lt  <=>  -created > -lt
        start = 0 if lt is None else bisect.bisect_right(tl.keys, (-lt, chr(0x10FFFF)))
        stop = len(tl) if gte is None else bisect.bisect_right(tl.keys, (-gte, chr(0x10FFFF)))
        return start, max(start, stop)

    def json(self, obj: Obj) -> bytes:
        """The object's JSON, serialised once and cached until it changes."""
        cached = self._json.get(obj["id"])
        if cached is None:
            cached = orjson.dumps(obj)
            self._json[obj["id"]] = cached
        return cached

    def iter_all(self) -> Iterator[Obj]:
        for tl in self._types.values():
            yield from tl.objects

    # -- writing -------------------------------------------------------------------------------
    def put(self, obj: Obj) -> None:
        """Insert an object, or replace the one with the same id (``created`` never changes)."""
        with self.lock:
            tl = self.ordered(obj["object"])
            old = self._by_id.get(obj["id"])
            key = _sort_key(obj)
            if old is not None:
                index = bisect.bisect_left(tl.keys, _sort_key(old))
                tl.keys.pop(index)
                tl.objects.pop(index)
            index = bisect.bisect_left(tl.keys, key)
            tl.keys.insert(index, key)
            tl.objects.insert(index, obj)
            self._by_id[obj["id"]] = obj
            self._json.pop(obj["id"], None)

    def load_sorted(self, object_type: str, objects: list[Obj]) -> None:
        """Bulk load (generator): sorts once instead of inserting one by one."""
        with self.lock:
            tl = self.ordered(object_type)
            pairs = list(zip(tl.keys, tl.objects, strict=True))
            pairs.extend((_sort_key(o), o) for o in objects)
            # Keys are unique (ids are), so sorting never compares the objects themselves.
            pairs.sort(key=lambda pair: pair[0])
            tl.keys = [k for k, _ in pairs]
            tl.objects = [o for _, o in pairs]
            for o in objects:
                self._by_id[o["id"]] = o

    def delete(self, object_id: str) -> Obj | None:
        """Remove an object from lists; retrieve answers with a tombstone afterwards."""
        with self.lock:
            obj = self._by_id.pop(object_id, None)
            if obj is None:
                return None
            tl = self.ordered(obj["object"])
            index = bisect.bisect_left(tl.keys, _sort_key(obj))
            tl.keys.pop(index)
            tl.objects.pop(index)
            self._json.pop(object_id, None)
            self.tombstones[object_id] = {"id": object_id, "object": obj["object"], "deleted": True}
            return obj


class Account:
    """A Stripe account as the emulator serves it: separate test and live data."""

    def __init__(self, account_id: str = "acct_1FlitchEmulator0") -> None:
        self.id = account_id
        self.test = ModeStore(livemode=False)
        self.live = ModeStore(livemode=True)

    def mode(self, livemode: bool) -> ModeStore:
        return self.live if livemode else self.test
