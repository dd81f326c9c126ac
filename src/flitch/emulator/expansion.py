"""Turning stored objects into response bytes: cached JSON, ``expand[]``, includable fields.

Most pages are the store's cached JSON bytes joined together. Two things need more:

- ``expand[]`` replaces ids with the objects they name (``data.customer``), through lists
  (``data.discounts``), lists of hashes (``data.total_discount_amounts.discount``), nested
  list envelopes (``data.items.data.price.product``) and up to four levels. Expanding into an
  object the key may not read is refused with Stripe's 403.
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
        self._expanded: dict[tuple[Any, ...], tuple[bytes, tuple[Dep, ...], bytes]] = {}

    def object_bytes(self, store: ModeStore, obj: Obj) -> bytes:
        """The object's JSON as a list or retrieve answers it when nothing is expanded."""
        raw = store.json(obj)
        hidden = INCLUDABLE.get(obj.get("object", ""))
        if not hidden or obj.keys().isdisjoint(hidden):
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
            json(obj) if obj.keys().isdisjoint(hidden) else self.object_bytes(store, obj)
            for obj in page
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
        """One object with ``expand`` applied (paths relative to the object).

        The result is cached with what it was made from — the object's JSON and every object
        it expanded into — and reused while none of them changed (the key's permissions are
        checked again on every use).
        """
        if not expand:
            return self.object_bytes(store, obj)
        raw = store.json(obj)
        key = (store.livemode, obj["id"], prefix, tuple(tuple(p) for p in expand))
        cached = self._expanded.get(key)
        if cached is not None and cached[0] is raw and _still_valid(store, cached[1], check):
            return cached[2]
        deps: list[Dep] = []

        def recording(object_id: str, target: Obj | None) -> None:
            if target is not None:
                check(str(target.get("object", "")))
                dep_bytes = store.json(target) if "deleted" not in target else None
                deps.append((object_id, target, dep_bytes))
            else:
                deps.append((object_id, None, None))

        out = orjson.dumps(expand_object(store, obj, expand, recording, prefix=prefix))
        self._expanded[key] = (raw, tuple(deps), out)
        return out


#: An object an expansion used: its id, the object (``None``: it did not exist), its JSON.
Dep = tuple[str, Obj | None, bytes | None]
#: Told of every id an expansion looks up, and of what it found; raises to refuse.
Resolver = Callable[[str, Obj | None], None]


def _still_valid(store: ModeStore, deps: Sequence[Dep], check: PermissionCheck) -> bool:
    for object_id, was, was_bytes in deps:
        now = store.get(object_id) or store.tombstones.get(object_id)
        if now is not was:
            return False
        if now is not None:
            if was_bytes is not None and store.json(now) is not was_bytes:
                return False
            check(str(now.get("object", "")))
    return True


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
    if not hidden or obj.keys().isdisjoint(hidden):
        return obj
    return {k: v for k, v in obj.items() if k not in hidden}


def expand_object(
    store: ModeStore,
    obj: Obj,
    expand: Sequence[Sequence[str]],
    check: Resolver,
    *,
    prefix: str = "",
) -> Obj:
    """A copy of ``obj`` with every path in ``expand`` expanded (the stored object is kept)."""
    out: Any = _strip(obj)
    for path in expand:
        out = _expand(store, out, list(path), check, prefix + ".".join(path))
    result: Obj = out
    return result


def _resolve(store: ModeStore, value: Any, check: Resolver) -> Any:
    """An id replaced by the object it names (a deleted customer by its tombstone)."""
    if isinstance(value, str):
        target = store.get(value) or store.tombstones.get(value)
        check(value, target)
        if target is None:
            return value
        return _strip(target)
    if isinstance(value, list):
        return [_resolve(store, v, check) for v in value]
    return value


def _expand(store: ModeStore, value: Any, path: list[str], check: Resolver, full: str) -> Any:
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
    elif head in value and isinstance(value[head], dict | list) and rest and head not in EXPANDABLE:
        # a plain hash on the way (``parent.subscription_details``), or a list of them
        # (``total_discount_amounts.discount``)
        current = value[head]
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
