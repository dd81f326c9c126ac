"""Helpers of the refresh tests: a clock, a connection on an emulator, and the truth to compare.

The truth is read from the emulator over plain HTTP with ``httpx`` (not through Flitch's reader):
every page of each object's list, with the same list parameters a full read uses.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import orjson

from flitch import catalog
from flitch import clock as clocks
from flitch.catalog import ObjectSpec
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.emulator.shapes import new_id
from flitch.emulator.store import ModeStore, Obj
from flitch.emulator.versions import OLD_API_VERSION, render_old
from flitch.refresh.runner import store_for
from flitch.stripe_source.client import API_VERSION


class Clock(clocks.Clock):
    """A frozen clock in Unix seconds, moved by hand (``t``); the emulator's ``now`` follows it."""

    def __init__(self, t: float) -> None:
        super().__init__(frozen_at=t)

    @property
    def t(self) -> float:
        return self.now()

    @t.setter
    def t(self, value: float) -> None:
        self.set(value)


def settings_for(home: Path, emulator: Emulator, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "stripe_api_base": emulator.url,
        "max_retries": 3,
        "request_timeout": 10.0,
        "test_requests_per_second": 10_000.0,
        "live_requests_per_second": 10_000.0,
        "endpoint_requests_per_second": 10_000.0,
    }
    values.update(overrides)
    return Settings(**values)


def stripe_truth(emulator: Emulator, key: str, spec: ObjectSpec) -> dict[str, Any]:
    """Every object of ``spec`` as the emulator lists it: id -> object."""
    found: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {key}", "Stripe-Version": API_VERSION}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=30) as http:
        for variant in spec.list_variants:
            params: dict[str, Any] = {"limit": 100, **variant}
            if spec.expand:
                params["expand[]"] = list(spec.expand)
            while True:
                answer = http.get(spec.list_path, params=params)
                answer.raise_for_status()
                page = answer.json()
                for obj in page["data"]:
                    found[obj["id"]] = obj
                if not page["has_more"]:
                    break
                params["starting_after"] = page["data"][-1]["id"]
    return found


def cached(service: ConnectionService, name: str, spec: ObjectSpec) -> dict[str, Any]:
    """Every row of one dataset in the cache: id -> the raw object."""
    info = service.get(name)
    with store_for(service, info.id).reader() as reader:
        result = reader.query(f'SELECT id, raw FROM "{spec.name}"')
    return {row[0]: row[1] for row in result.rows}


def differences(
    emulator: Emulator, key: str, service: ConnectionService, name: str
) -> dict[str, Any]:
    """Per picked dataset: ids missing from the cache, extra in it, and changed; empty when
    the cache equals what the emulator lists."""
    found: dict[str, Any] = {}
    for spec in (catalog.get(name) for name in service.get(name).objects):
        truth = stripe_truth(emulator, key, spec)
        rows = cached(service, name, spec)
        missing = sorted(set(truth) - set(rows))
        extra = sorted(set(rows) - set(truth))
        changed = sorted(i for i in set(truth) & set(rows) if truth[i] != rows[i])
        if missing or extra or changed:
            found[spec.name] = {"missing": missing, "extra": extra, "changed": changed}
    return found


class StoreSink:
    """Stripe's actions applied to a served mode, the way a running account changes: objects
    are copied before they change, and every change emits its event (optionally in the older
    API version, rendered in the older shape)."""

    def __init__(self, store: ModeStore, now: int, *, seed: int = 7) -> None:
        import random

        self.rng = random.Random(seed)
        self.store = store
        self.livemode = store.livemode
        self.now = now
        self.old_version = False

    def add(self, obj: Obj) -> None:
        self.store.put(obj)

    def edit(self, obj: Obj) -> Obj:
        current = self.store.get(obj["id"]) or obj
        edited: Obj = copy.deepcopy(current)
        return edited

    def save(self, obj: Obj) -> None:
        self.store.put(obj)

    def emit(
        self, type_: str, obj: Obj, t: int, previous: Obj | None = None, *, auto: bool = False
    ) -> None:
        snapshot: Obj = orjson.loads(orjson.dumps(obj))
        version = API_VERSION
        if self.old_version:
            version = OLD_API_VERSION
            snapshot = render_old(snapshot, lambda _invoice: (None, None))
        data: Obj = {"object": snapshot}
        if previous is not None:
            data["previous_attributes"] = previous
        self.store.put(
            {
                "id": new_id(self.rng, "evt_"),
                "object": "event",
                "api_version": version,
                "created": t,
                "data": data,
                "livemode": self.livemode,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": type_,
            }
        )

    # -- a few changes with no operation of their own ------------------------------------------
    def update(self, obj_id: str, event: str, **values: Any) -> Obj:
        obj = self.edit(self.store.get(obj_id) or {})
        previous = {k: obj.get(k) for k in values}
        obj.update(values)
        self.save(obj)
        self.emit(event, obj, self.now, previous)
        return obj

    def delete(self, obj_id: str, event: str) -> None:
        obj = self.store.get(obj_id)
        assert obj is not None
        self.store.delete(obj_id)
        self.emit(event, obj, self.now)
