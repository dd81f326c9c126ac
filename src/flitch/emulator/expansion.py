"""Turning stored objects into response bytes: cached JSON, ``expand[]``, includable fields.

Most pages are the store's cached JSON bytes joined together. Two things need more:

- ``expand[]`` replaces ids with the objects they name (``data.customer``), through lists
  (``data.discounts``), nested list envelopes (``data.items.data.price.product``) and up to
  four levels. Expanding into an object the key may not read is refused with Stripe's 403.
- Some fields are left out unless expanded (price ``tiers``; ``INCLUDABLE``). An object that
  carries one is re-serialised once without it and cached until the object changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from flitch.emulator.listing import EXPANDABLE, INCLUDABLE, cannot_expand
from flitch.emulator.store import ModeStore, Obj

#: Called with an object type before expanding into it; raises to refuse (a 403).
PermissionCheck = Callable[[str], None]


class Renderer:
    """Serialises objects for responses, caching what it had to re-serialise."""

    def __init__(self) -> None:
        self._stripped: dict[tuple[bool, str], tuple[bytes, bytes]] = {}

    def object_bytes(self, store: ModeStore, obj: Obj) -> bytes:
        """The object's JSON as a list or retrieve answers it when nothing is expanded."""
        raw = store.json(obj)
        hidden = INCLUDABLE.get(obj.get("object", ""))
        if not hidden or hidden.isdisjoint(obj):
            return raw
        key = (store.livemode, obj["id"])
        cached = self._stripped.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        out = orjson.dumps(_strip(obj))
        self._stripped[key] = (raw, out)
        return out

    def page_bytes(self, store: ModeStore, object_type: str, page: Sequence[Obj]) -> list[bytes]:
        """A page of objects of one type, nothing expanded: mostly the store's cached bytes."""
        json = store.json
        hidden = INCLUDABLE.get(object_type)
        if hidden is None:
            return [json(obj) for obj in page]
        return [
            json(obj) if hidden.isdisjoint(obj) else self.object_bytes(store, obj) for obj in page
        ]

    def render(
        self,
        store: ModeStore,
        obj: Obj,
        expand: Sequence[Sequence[str]],
        check: PermissionCheck,
        *,
        prefix: str = "",
    ) -> bytes:
        """One object with ``expand`` applied (paths relative to the object)."""
        if not expand:
            return self.object_bytes(store, obj)
        return orjson.dumps(expand_object(store, obj, expand, check, prefix=prefix))


def list_body(path: str, chunks: Sequence[bytes], has_more: bool) -> bytes:
    """Stripe's list envelope around already-serialised objects (one copy of the bytes)."""
    parts = [b'{"object":"list","data":[']
    for chunk in chunks:
        parts.append(chunk)
        parts.append(b",")
    if chunks:
        parts.pop()
    parts.append(b'],"has_more":true,"url":"' if has_more else b'],"has_more":false,"url":"')
    parts.append(path.encode())
    parts.append(b'"}')
    return b"".join(parts)


def _strip(obj: Obj) -> Obj:
    hidden = INCLUDABLE.get(obj.get("object", ""))
    if not hidden or hidden.isdisjoint(obj):
        return obj
    return {k: v for k, v in obj.items() if k not in hidden}


def expand_object(
    store: ModeStore,
    obj: Obj,
    expand: Sequence[Sequence[str]],
    check: PermissionCheck,
    *,
    prefix: str = "",
) -> Obj:
    """A copy of ``obj`` with every path in ``expand`` expanded (the stored object is kept)."""
    out: Any = _strip(obj)
    for path in expand:
        out = _expand(store, out, list(path), check, prefix + ".".join(path))
    result: Obj = out
    return result


def _resolve(store: ModeStore, value: Any, check: PermissionCheck) -> Any:
    """An id replaced by the object it names (a deleted customer by its tombstone)."""
    if isinstance(value, str):
        target = store.get(value) or store.tombstones.get(value)
        if target is None:
            return value
        check(str(target.get("object", "")))
        return _strip(target)
    if isinstance(value, list):
        return [_resolve(store, v, check) for v in value]
    return value


def _expand(
    store: ModeStore, value: Any, path: list[str], check: PermissionCheck, full: str
) -> Any:
    if isinstance(value, list):
        return [_expand(store, v, path, check, full) for v in value]
    if not isinstance(value, dict):
        return value
    head, rest = path[0], path[1:]
    if head == "data" and value.get("object") == "list" and isinstance(value.get("data"), list):
        if not rest:
            return value
        copy = dict(value)
        copy["data"] = [_expand(store, v, rest, check, full) for v in value["data"]]
        return copy
    obj_type = str(value.get("object", ""))
    copy = dict(value)
    if head in INCLUDABLE.get(obj_type, frozenset()):
        original = store.get(str(value.get("id")))
        included = (original or {}).get(head)
        copy[head] = included
        current: Any = included
    elif head in value and isinstance(value[head], dict) and rest and head not in EXPANDABLE:
        current = value[head]  # a plain hash on the way (``parent.subscription_details``)
    elif head in value and (
        head in EXPANDABLE or (isinstance(value[head], str) and store.get(value[head]) is not None)
    ):
        current = _resolve(store, value.get(head), check)
        copy[head] = current
    else:
        raise cannot_expand(full)
    if rest:
        copy[head] = _expand(store, current, rest, check, full)
    return copy
