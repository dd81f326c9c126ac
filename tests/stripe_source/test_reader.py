"""The reader: every record exactly once, over real HTTP against the emulator."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flitch import catalog
from flitch.config import Settings
from flitch.emulator.auth import DEMO_LIMITED_KEY, DEMO_LIVE_KEY, DEMO_TEST_KEY
from flitch.emulator.store import Account
from flitch.errors import PermissionMissing, StripeRequestFailed
from flitch.keys import parse_key
from flitch.stripe_source.client import SourceClient, open_client
from flitch.stripe_source.pages import ListPage
from flitch.stripe_source.reader import (
    PAGE_SIZE,
    STRIPE_EPOCH,
    CursorLoop,
    ListJob,
    ReadProgress,
    _Slice,
    list_params,
    read_object,
    read_objects,
)
from tests.stripe_source.emulated import client_for, collect, put_customers, run, serving

CUSTOMERS = catalog.get("customers")
T0 = 1_700_000_000


# -- slices, without a server ------------------------------------------------------------------
def test_split_gives_away_the_older_half_of_the_unread_time() -> None:
    piece = _Slice(gte=T0, lt=T0 + 10_000)
    older = piece.split(oldest=T0 + 1000, seconds_per_record=1.0)
    assert older is not None
    assert (older.gte, older.lt) == (T0, T0 + 500)
    assert (piece.gte, piece.lt) == (T0 + 500, T0 + 10_000)


def test_the_oldest_slice_stays_open_below() -> None:
    piece = _Slice(gte=None, lt=None)
    older = piece.split(oldest=T0, seconds_per_record=1.0)
    assert older is not None
    assert older.gte is None  # nothing older than 2010 is ever missed
    assert older.lt == piece.gte == T0 - (T0 - STRIPE_EPOCH) // 2
    assert piece.lt is None


def test_split_ranges_always_partition_the_slice() -> None:
    for gte in (T0, T0 + 7):
        for oldest in range(gte - 1, gte + 40):
            for density in (0.01, 0.2, 1.0):
                piece = _Slice(gte=gte, lt=gte + 100)
                older = piece.split(oldest=oldest, seconds_per_record=density)
                if older is None:
                    assert piece.gte == gte
                    continue
                # [gte, cut) + [cut, lt) == [gte, lt), and the last second read stays here
                assert older.gte == gte
                assert older.lt == piece.gte
                assert gte < piece.gte <= oldest


def test_no_split_of_what_should_hold_less_than_a_page() -> None:
    assert _Slice(gte=T0, lt=None).split(oldest=T0, seconds_per_record=0.001) is None
    # 500 s left at 10 s per record: about 50 records, not worth a request
    assert _Slice(gte=T0, lt=None).split(oldest=T0 + 500, seconds_per_record=10.0) is None
    assert _Slice(gte=None, lt=None).split(oldest=STRIPE_EPOCH, seconds_per_record=1.0) is None


def test_remaining_estimate_orders_lists_by_what_is_left() -> None:
    dense = ListJob(CUSTOMERS, {}, "/v1/customers", records=1000, seconds=1000)  # 1 s per record
    sparse = ListJob(CUSTOMERS, {}, "/v1/customers", records=100, seconds=1000)  # 10 s per record
    for job in (dense, sparse):
        piece = _Slice(gte=T0, lt=T0 + 5000)
        piece.last_created = T0 + 2000  # 2,000 s of its range left to read
        job.reading[1] = piece
    assert dense.remaining(T0 + 9999) == pytest.approx(2000)
    assert sparse.remaining(T0 + 9999) == pytest.approx(200)
    # a slice not started yet counts its whole range
    dense.reading[2] = _Slice(gte=T0 + 6000, lt=T0 + 7000)
    assert dense.remaining(T0 + 9999) == pytest.approx(3000)


def records(*pairs: tuple[str, int], has_more: bool = False) -> ListPage:
    return ListPage.of([{"id": i, "created": c} for i, c in pairs], has_more)


def test_guard_accepts_a_list_that_advances() -> None:
    piece = _Slice(gte=T0, lt=T0 + 100)
    piece.check(CUSTOMERS, records(("a", T0 + 9), ("b", T0 + 9), ("c", T0 + 5), has_more=True))
    piece.check(CUSTOMERS, records(("d", T0 + 5), ("e", T0)))


@pytest.mark.parametrize(
    ("first", "second", "has_more"),
    [
        # the same page again (a cursor that did not advance)
        ((("a", T0 + 9), ("b", T0 + 8)), (("a", T0 + 9), ("b", T0 + 8)), True),
        # an id seen before within the same second
        ((("a", T0 + 9), ("b", T0 + 8)), (("c", T0 + 8), ("b", T0 + 8)), True),
        # newer records after older ones
        ((("a", T0 + 9), ("b", T0 + 8)), (("c", T0 + 9),), True),
        # a record outside the range asked for
        ((("a", T0 + 9),), (("x", T0 + 100),), True),
        ((("a", T0 + 9),), (("x", T0 - 1),), True),
        # an empty page that says there is more
        ((("a", T0 + 9),), (), True),
    ],
)
def test_guard_stops_a_list_that_does_not_advance(
    first: tuple[tuple[str, int], ...], second: tuple[tuple[str, int], ...], has_more: bool
) -> None:
    piece = _Slice(gte=T0, lt=T0 + 100)
    piece.check(CUSTOMERS, records(*first, has_more=True))
    with pytest.raises(CursorLoop) as info:
        piece.check(CUSTOMERS, records(*second, has_more=has_more))
    assert "Customers" in info.value.message
    assert info.value.fix


def test_list_params_cover_every_variant_once() -> None:
    prices = catalog.get("prices")
    assert [p["active"] for p in list_params(prices, None)] == ["true", "false"]
    assert all(p["expand"] == list(prices.expand) for p in list_params(prices, None))
    # a filter that pins the variant's parameter leaves one read, not two identical ones
    assert len(list_params(prices, {"active": "true"})) == 1
    subs = catalog.get("subscriptions")
    assert list_params(subs, None)[0]["status"] == "all"
    assert list_params(subs, {"customer": "cus_1"})[0] == {
        "status": "all",
        "customer": "cus_1",
        "expand": list(subs.expand),
    }
    with pytest.raises(ValueError):
        list_params(CUSTOMERS, {"created": {"gte": 1}})
    with pytest.raises(ValueError):
        list_params(CUSTOMERS, {"starting_after": "cus_1"})


# -- exactly once, over HTTP -------------------------------------------------------------------
def read_ids(client: SourceClient, **kw: Any) -> list[str]:
    async def go() -> list[str]:
        async with client:
            return await collect(read_object(client, CUSTOMERS, **kw))

    return run(go)


def test_records_sharing_one_second_across_split_boundaries() -> None:
    # 2,000 customers in one second, with dense seconds around it and a sparse history before:
    # slices split right through the crowded seconds.
    created = [T0 + 5] * 2000 + [T0 + 4] * 350 + [T0 + 6] * 250
    created += [T0 - 86_400 * d for d in range(1, 400)]
    created += [T0 + 7 + s // 3 for s in range(900)]
    account = Account()
    expected = put_customers(account, created)
    with serving(account) as emulator:
        client = client_for(emulator, DEMO_TEST_KEY)
        ids = read_ids(client)
        log = emulator.log.entries
    assert Counter(ids) == Counter(expected)
    splits = {r.query for r in log if "created" in r.query}
    assert len(splits) > 1  # it did read in several slices
    pages = -(-len(expected) // PAGE_SIZE)
    assert len(log) <= pages + 12  # and slicing cost only a few extra requests


def test_a_created_range_reads_exactly_that_range() -> None:
    created = [T0 + s for s in range(0, 3000, 2)] + [T0 + 1000] * 300
    account = Account()
    expected = put_customers(account, created)
    by_id = dict(zip(expected, created, strict=True))
    with serving(account) as emulator:
        ids = read_ids(
            client_for(emulator, DEMO_TEST_KEY), created_gte=T0 + 1000, created_lt=T0 + 2001
        )
    assert Counter(ids) == Counter(i for i in expected if T0 + 1000 <= by_id[i] < T0 + 2001)


def test_an_empty_list_costs_one_request() -> None:
    with serving(Account()) as emulator:
        assert read_ids(client_for(emulator, DEMO_TEST_KEY)) == []
        assert len(emulator.log.entries) == 1


def test_every_record_once_despite_faults() -> None:
    created = [T0 - 37 * i for i in range(3000)] + [T0 - 3700] * 150
    account = Account()
    expected = put_customers(account, created)
    with serving(account, fault_rate=0.1, seed=11) as emulator:
        ids = read_ids(client_for(emulator, DEMO_TEST_KEY, max_retries=8))
        notes = Counter(r.note for r in emulator.log.entries)
    assert Counter(ids) == Counter(expected)
    assert notes["fault:error"] + notes["fault:drop"] > 0  # faults did happen


def test_pacing_under_a_low_limit_loses_nothing_and_stays_under_it() -> None:
    account = Account()
    expected = put_customers(account, [T0 - 11 * i for i in range(900)])
    expected += put_customers(account, [T0 - 13 * i for i in range(400)], live=True)
    with serving(account, test_rps=5, endpoint_rps=3) as emulator:
        client = client_for(
            emulator, DEMO_TEST_KEY, test_requests_per_second=5, endpoint_requests_per_second=3
        )
        ids = read_ids(client)
        log = emulator.log.entries
    assert Counter(ids) == Counter(expected[:900])
    assert [r for r in log if r.status == 429] == []
    times = sorted(r.time for r in log)
    for start in times:  # never more than one second's bucket plus the rate, in any second
        assert sum(1 for t in times if start <= t < start + 1.0) <= 3 + 3


def test_a_lower_real_limit_than_configured_is_survived() -> None:
    account = Account()
    expected = put_customers(account, [T0 - 7 * i for i in range(1200)])
    with serving(account, test_rps=4, endpoint_rps=4) as emulator:
        # configured for 25/s, the "account" allows 4/s: 429s, slow-down, retries, all records
        ids = read_ids(client_for(emulator, DEMO_TEST_KEY, max_retries=10))
        limited = sum(1 for r in emulator.log.entries if r.status == 429)
    assert Counter(ids) == Counter(expected)
    assert limited > 0


def test_progress_reports_what_is_known() -> None:
    account = Account()
    expected = put_customers(account, [T0 - 5 * i for i in range(750)])
    seen: list[ReadProgress] = []
    with serving(account) as emulator:
        ids = read_ids(client_for(emulator, DEMO_TEST_KEY), progress=seen.append)
    assert len(ids) == len(expected)
    last = seen[-1]
    assert last.records == 750
    assert last.records_by_object == {"customers": 750}
    assert last.pages >= 8
    assert last.requests >= last.pages
    assert last.objects_done == last.objects_total == 1
    assert last.elapsed > 0
    assert last.records_per_second > 0
    assert [p.records for p in seen] == sorted(p.records for p in seen)


def test_live_and_test_keys_each_read_their_own_mode() -> None:
    account = Account()
    test_ids = put_customers(account, [T0 - 3 * i for i in range(500)])
    live_ids = put_customers(account, [T0 - 2 * i for i in range(700)], live=True)
    with serving(account) as emulator:
        assert Counter(read_ids(client_for(emulator, DEMO_TEST_KEY))) == Counter(test_ids)
        assert Counter(read_ids(client_for(emulator, DEMO_LIVE_KEY))) == Counter(live_ids)


# -- several objects ---------------------------------------------------------------------------
def test_read_objects_continues_past_an_object_the_key_cannot_read() -> None:
    account = Account()
    customers = put_customers(account, [T0 - i for i in range(250)])
    for i in range(30):
        account.test.put({"id": f"sub_{i}", "object": "subscription", "created": T0 - i})
        account.test.put({"id": f"cpn_{i}", "object": "coupon", "created": T0 - i})
    specs = [CUSTOMERS, catalog.get("subscriptions"), catalog.get("coupons")]
    failures: list[tuple[str, Exception]] = []
    got: dict[str, list[str]] = {}

    async def go(client: SourceClient) -> None:
        async with client:
            async for spec, page in read_objects(
                client, specs, on_error=lambda s, e: failures.append((s.name, e))
            ):
                got.setdefault(spec.name, []).extend(o["id"] for o in page)

    with serving(account) as emulator:
        run(lambda: go(client_for(emulator, DEMO_LIMITED_KEY)))
    assert Counter(got["customers"]) == Counter(customers)
    assert sorted(got["coupons"]) == sorted(f"cpn_{i}" for i in range(30))
    assert "subscriptions" not in got
    [(name, error)] = failures
    assert name == "subscriptions"
    assert isinstance(error, PermissionMissing)
    assert "Read Subscriptions" in error.fix


def test_read_objects_without_a_callback_raises_after_the_others() -> None:
    account = Account()
    put_customers(account, [T0 - i for i in range(120)])
    specs = [catalog.get("subscriptions"), CUSTOMERS]
    got: list[str] = []

    async def go(client: SourceClient) -> None:
        async with client:
            async for _, page in read_objects(client, specs):
                got.extend(o["id"] for o in page)

    with serving(account) as emulator, pytest.raises(PermissionMissing):
        run(lambda: go(client_for(emulator, DEMO_LIMITED_KEY)))
    assert len(got) == 120


# -- a server whose cursor never advances ------------------------------------------------------
class _StuckHandler(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:  # always the same page, always "has more"
        type(self).requests += 1
        body = json.dumps(
            {
                "object": "list",
                "url": "/v1/customers",
                "has_more": True,
                "data": [{"id": f"cus_{i}", "object": "customer", "created": T0} for i in range(3)],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stuck_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StuckHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_cursor_that_never_advances_stops_with_a_clear_error(stuck_server: str) -> None:
    _StuckHandler.requests = 0
    client = open_client(parse_key(DEMO_TEST_KEY), Settings(stripe_api_base=stuck_server))
    with pytest.raises(CursorLoop) as info:
        read_ids(client)
    assert isinstance(info.value, StripeRequestFailed)
    assert "second time" in info.value.message
    assert _StuckHandler.requests == 2


# -- the generated account, whole --------------------------------------------------------------
def listed(account: Account, live: bool, spec: catalog.ObjectSpec) -> Counter[str]:
    """What Stripe lists of an object with the catalog's variants: all but the customers and
    subscriptions on test clocks (Stripe lists those only when asked for their clock; deleted
    objects are gone from the store already)."""
    hides_clocks = spec.name in {"customers", "subscriptions"}
    return Counter(
        o["id"]
        for o in account.mode(live).ordered(spec.object_type).objects
        if not (hides_clocks and o.get("test_clock"))
    )


@pytest.mark.parametrize("key", [DEMO_TEST_KEY, DEMO_LIVE_KEY])
def test_every_object_of_the_account_is_read_exactly(
    emulator: Any, account: Account, key: str
) -> None:
    got: dict[str, Counter[str]] = {spec.name: Counter() for spec in catalog.OBJECTS}
    live = key == DEMO_LIVE_KEY

    async def go() -> None:
        async with client_for(emulator, key) as client:
            async for spec, page in read_objects(client, catalog.OBJECTS):
                assert all(o["object"] == spec.object_type for o in page)
                assert all(o.get("livemode", live) is live for o in page)  # not on balance txns
                got[spec.name].update(o["id"] for o in page)

    run(go)
    for spec in catalog.OBJECTS:
        expected = listed(account, live, spec)
        assert got[spec.name] == expected, spec.name
        assert max(got[spec.name].values(), default=1) == 1
    assert sum(sum(c.values()) for c in got.values()) > 1000
    assert emulator.log.methods() == {"GET"}
