"""A live read's slices: few, even, and every record still read once (``slice_share``)."""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise
from typing import Any

from flitch import catalog
from flitch.emulator.auth import DEMO_TEST_KEY
from flitch.emulator.store import Account
from flitch.stripe_source.client import SourceClient
from flitch.stripe_source.reader import PAGE_SIZE, _Slice, read_object
from tests.stripe_source.emulated import client_for, collect, put_customers, run, serving

CUSTOMERS = catalog.get("customers")
T0 = 1_700_000_000


def test_even_parts_partition_the_unread_time() -> None:
    for gte in (T0, T0 + 7):
        for oldest in range(gte - 1, gte + 60):
            for parts in (2, 3, 5):
                piece = _Slice(gte=gte, lt=gte + 100)
                older = piece.split_evenly(oldest, seconds_per_record=0.001, parts=parts)
                if not older:
                    assert piece.gte == gte
                    continue
                # [gte, lt) is the parts end to end, newest kept here, and the last second
                # read stays in this slice
                bounds = [(piece.gte, piece.lt)] + [(o.gte, o.lt) for o in older]
                for (low, _), (_, high) in pairwise(bounds):
                    assert low == high
                assert older[-1].gte == gte
                assert gte < piece.gte <= oldest
                assert len(older) <= parts - 1


def test_no_even_part_of_less_than_a_page() -> None:
    # 1,000 s left at 5 s a record: 200 records, two pages at most
    piece = _Slice(gte=T0, lt=T0 + 5000)
    assert len(piece.split_evenly(T0 + 1000, seconds_per_record=5.0, parts=6)) == 1


def read_ids(client: SourceClient, **kw: Any) -> list[str]:
    async def go() -> list[str]:
        async with client:
            return await collect(read_object(client, CUSTOMERS, **kw))

    return run(go)


def test_a_shared_read_of_a_window_costs_a_tenth_more_than_the_fewest() -> None:
    # 3,000 customers over a month, denser at its end, and older ones outside the window
    created = [T0 + (s * s) // 3000 for s in range(3000)]
    created += [T0 - 86_400 * d for d in range(1, 300)]
    account = Account()
    expected = put_customers(account, created)
    by_id = dict(zip(expected, created, strict=True))
    window = (T0, T0 + 3000)
    inside = [i for i in expected if window[0] <= by_id[i] < window[1]]
    with serving(account) as emulator:
        client = client_for(emulator, DEMO_TEST_KEY)
        ids = read_ids(client, created_gte=window[0], created_lt=window[1], slice_share=0.1)
        requests = len(emulator.log.entries)
        emulator.log.clear()
        unlimited = read_ids(
            client_for(emulator, DEMO_TEST_KEY), created_gte=window[0], created_lt=window[1]
        )
        before = len(emulator.log.entries)
    assert Counter(ids) == Counter(inside)
    assert Counter(unlimited) == Counter(inside)
    fewest = -(-len(inside) // PAGE_SIZE)
    # at most three slices (a tenth of 30 pages): two short pages more than the fewest
    assert requests <= fewest + 2 < before


def _window_read(
    created: list[int], window: tuple[int, int], **kw: Any
) -> tuple[Counter[str], Counter[str], int]:
    account = Account()
    expected = put_customers(account, created)
    by_id = dict(zip(expected, created, strict=True))
    inside = Counter(i for i in expected if window[0] <= by_id[i] < window[1])
    with serving(account) as emulator:
        ids = read_ids(
            client_for(emulator, DEMO_TEST_KEY),
            created_gte=window[0],
            created_lt=window[1],
            slice_share=0.1,
            **kw,
        )
        requests = len(emulator.log.entries)
    return Counter(ids), inside, requests


def test_slices_read_from_both_ends_read_each_record_once() -> None:
    # bursts of many records in one second (more than a page), gaps, records at the cuts
    rng = random.Random(7)
    for case in range(12):
        created: list[int] = []
        for _ in range(rng.choice([150, 900, 2500])):
            created.append(T0 + rng.randrange(0, 10_000))
        for _ in range(rng.choice([0, 1, 3])):
            second = T0 + rng.randrange(0, 10_000)
            created += [second] * rng.choice([40, 100, 250])
        created += [T0 - 5, T0 + 10_000, T0 + 10_001]  # just outside
        for expected in (None, len(created) // PAGE_SIZE):
            ids, inside, requests = _window_read(
                created, (T0, T0 + 10_000), expected_pages=expected
            )
            assert ids == inside, (case, expected)
            fewest = -(-sum(inside.values()) // PAGE_SIZE)
            # a cut per tenth of the pages (three at least), each ending on one short page
            assert requests <= fewest + max(3, fewest // 10 + 1) + 1, (case, requests, fewest)


def test_both_ends_are_read_at_once() -> None:
    created = [T0 + i * 3 for i in range(3000)]
    account = Account()
    put_customers(account, created)
    with serving(account) as emulator:
        read_ids(
            client_for(emulator, DEMO_TEST_KEY),
            created_gte=T0,
            created_lt=T0 + 9000,
            slice_share=0.1,
        )
        queries = [e.query for e in emulator.log.entries]
    rising = [q for q in queries if "ending_before" in q]
    assert rising, "no part was read from below"
    assert len(queries) <= 30 + 3


def test_a_whole_read_estimates_its_size_while_it_reads() -> None:
    # 6,000 customers over two years, twice as many a day at the end as at the start, none
    # before: the estimate must find where they start, not guess back to 2010
    span = 2 * 365 * 86_400
    created = [T0 - span + int(span * (i / 6000) ** 0.6) for i in range(6000)]
    account = Account()
    put_customers(account, created)
    seen: list[tuple[int, int | None]] = []

    def progress(p: Any) -> None:
        seen.append((p.records, p.expected_records))

    with serving(account, latency_ms=5) as emulator:
        client = client_for(emulator, DEMO_TEST_KEY)

        async def go() -> list[str]:
            async with client:
                return await collect(
                    read_object(client, CUSTOMERS, slice_share=0.1, progress=progress)
                )

        ids = run(go)
    assert len(ids) == len(set(ids)) == 6000
    assert seen[-1] == (6000, 6000)
    # from a sixth of the way on, every estimate is within a factor of two of the truth
    later = [expected for records, expected in seen if records >= 1000]
    assert later
    assert all(expected is not None and 3000 <= expected <= 12_000 for expected in later), later
