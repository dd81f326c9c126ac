"""The generator's working state: where objects and events collect while history is written.

``GenSink`` is the generator's ``Sink``: objects are appended to one list per type (loaded into
the store in one sorted pass at the end) and changed in place as their history unfolds — but
only at the top level: a nested value is always replaced, never edited, so a shallow copy is a
faithful snapshot. Only events from the last 30 days are kept, each with a snapshot of the
object at that moment; events older than the account's API upgrade carry the older shape.

``World`` holds one mode's generation: the sink, the catalog, the clock, when people sign up
(``growth``) and the coverage quotas that make sure every status shows up even in a small
account.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson

from flitch.emulator import shapes_money as money
from flitch.emulator.catalog_seed import Catalog
from flitch.emulator.growth import SignupCurve
from flitch.emulator.operations import DAY
from flitch.emulator.shapes import API_VERSION, Obj, new_id
from flitch.emulator.versions import OLD_API_VERSION, render_old

#: Events are kept for this many days (Stripe's retention).
EVENT_DAYS = 30
#: The account moved its default API version to the pinned one this many days ago: events
#: created before that carry ``OLD_API_VERSION`` and the old shapes.
UPGRADED_DAYS_AGO = 24

#: A step of history: a generator that yields the time of its next step and does it when
#: resumed. The driver runs the steps of one customer's tasks in time order.
Task = Iterator[int]


def _copy(obj: Obj) -> Obj:
    copied: Obj = orjson.loads(orjson.dumps(obj))
    return copied


class GenSink:
    """Collects a mode's objects for a bulk load; keeps the last 30 days of events."""

    def __init__(self, rng: random.Random, livemode: bool, now: int) -> None:
        self.rng = rng
        self.livemode = livemode
        self.now = now
        self.cutoff = now - EVENT_DAYS * DAY
        self.upgraded_at = now - UPGRADED_DAYS_AGO * DAY
        self.objects: dict[str, list[Obj]] = {}
        self.events: list[Obj] = []
        #: invoice id -> its payment intent (to render old-version invoices).
        self._invoice_pi: dict[str, Obj] = {}
        self._intents: dict[str, Obj] = {}

    def add(self, obj: Obj) -> None:
        kind = obj["object"]
        bucket = self.objects.get(kind)
        if bucket is None:
            bucket = self.objects[kind] = []
        bucket.append(obj)
        if kind == "payment_intent":
            self._intents[obj["id"]] = obj
        elif kind == "invoice_payment":
            pi = self._intents.get(obj["payment"]["payment_intent"])
            if pi is not None:
                self._invoice_pi[obj["invoice"]] = pi

    def edit(self, obj: Obj) -> Obj:
        return obj

    def save(self, obj: Obj) -> None:
        return None

    def emit(
        self, type_: str, obj: Obj, t: int, previous: Obj | None = None, *, auto: bool = False
    ) -> None:
        if t < self.cutoff or t > self.now:
            return
        # The generator never changes a nested value in place (it replaces it), so a shallow
        # copy is a faithful snapshot; the old-version renderer edits nested values: deep copy.
        snapshot = dict(obj)
        version = API_VERSION
        if t < self.upgraded_at:
            version = OLD_API_VERSION
            snapshot = render_old(_copy(obj), self._payments)
        self.events.append(
            money.event(
                id=new_id(self.rng, "evt_"),
                created=t,
                livemode=self.livemode,
                type=type_,
                obj=snapshot,
                previous=None if previous is None else dict(previous),
                request_id=None if auto else new_id(self.rng, "req_", 14),
                api_version=version,
            )
        )

    def _payments(self, invoice_id: str) -> tuple[str | None, str | None]:
        pi = self._invoice_pi.get(invoice_id)
        if pi is None:
            return None, None
        return pi["id"], pi["latest_charge"]


@dataclass
class Customer:
    """One customer's generation state: the object, when its history stops, its tasks."""

    obj: Obj
    #: History stops here: ``now``, or when the customer is deleted.
    horizon: int
    deleted_at: int | None
    on_clock: bool
    #: The currency the customer pays in (``obj["currency"]`` is set at the first invoice).
    currency: str
    _heap: list[tuple[int, int, int, Task]] = field(default_factory=list)
    _seq: int = 0

    def spawn(self, task: Task, *, last: bool = False) -> None:
        """Schedule a task; ``last``: after every other step at the same second."""
        first = next(task, None)
        if first is not None:
            self._seq += 1
            heapq.heappush(self._heap, (first, 1 if last else 0, self._seq, task))

    def run(self) -> None:
        heap = self._heap
        while heap:
            _t, last, seq, task = heapq.heappop(heap)
            following = next(task, None)
            if following is not None:
                heapq.heappush(heap, (following, last, seq, task))


@dataclass
class World:
    """One mode's generation."""

    sink: GenSink
    catalog: Catalog
    now: int
    #: What each quota still waits to see, e.g. ``{"subscription": ["paused", …]}``.
    quotas: dict[str, list[str]]
    #: Customers to delete from the store after loading (tombstones).
    deleted: list[str] = field(default_factory=list)
    #: When people sign up (set by the generator; ``None``: evenly over the history).
    signups: SignupCurve | None = None

    @property
    def rng(self) -> random.Random:
        return self.sink.rng

    def pick(
        self,
        quota: str,
        weights: dict[str, float],
        feasible: Callable[[str], bool] = lambda _option: True,
        *,
        use_quota: bool = True,
        drawn: Callable[[str], bool] | None = None,
    ) -> str | None:
        """An option still missing from ``quota`` if one is feasible, else a weighted draw
        among the feasible ones (``None`` if none is). ``drawn``, when given, says which
        options the draw may give instead: a quota may place an option where it can happen
        (a trial started days ago), a draw only where things led there of their own accord."""
        wanted = self.quotas.get(quota, [])
        if use_quota:
            for option in wanted:
                if feasible(option):
                    wanted.remove(option)
                    return option
        allowed = feasible if drawn is None else drawn
        options = [o for o in weights if allowed(o)]
        if not options:
            return None
        choice = self.rng.choices(options, [weights[o] for o in options])[0]
        if choice in wanted:
            wanted.remove(choice)
        return choice

    def between(self, low: int, high: int) -> int:
        """A random second in [low, high] (``low`` if the range is empty)."""
        return low if high <= low else self.rng.randint(low, high)
