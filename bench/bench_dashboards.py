"""Dashboards: server time from the cache on a large account, and Stripe requests live.

1. **Cached.** A seeded account is written straight into a connection's DuckDB store (through
   the store's own writer, as a refresh would): ≥ 1,000,000 charges, ≥ 100,000 subscriptions,
   their invoices, balance transactions, payouts, customers, prices, coupons, disputes, credit
   notes, in four currencies (JPY among them), shaped like Stripe's objects. Each built-in
   dashboard is then evaluated for the last 30 days from the cache, ``--runs`` times: median and
   p95 server time (``evaluate`` end to end: checked SQL, result conversion, JSON assembly;
   charts ``--workers`` at a time, as the product does). Baselines, in the same process and
   interleaved with ours: the very statements that evaluation ran (recorded), executed directly
   on a DuckDB connection to the same file, one after the other (1×) and ``--workers`` at a time
   (a cursor each). Ratio = ours ÷ baseline (target ≤ 1.5×; p95 target < 300 ms).
2. **Live.** The emulator serving a generated account (its clock at the real time), a
   connection with refresh off, and each built-in dashboard for the last 30 days (Payments is
   the issue's figure): the Stripe requests the load made, against the fewest that could fetch
   what it needs (each list read once, 100 objects a page, only the records in the range), and
   the load's time, of which evaluating the SQL (derived tables computed inline, as live).

    .venv/bin/python bench/bench_dashboards.py [--charges 1000000 --subscriptions 100000]
        [--runs 15] [--store DIR] [--customers 300] [--statements 5] [--workers N] [--skip-live]

The generated store is kept in ``--store`` (default: a directory under the system temp dir)
and reused when it was made with the same sizes and every dataset is in the catalog's current
layout (a store written before a layout change, e.g. new child tables, is written again).
``--statements N`` also lists each dashboard's N slowest statements (direct DuckDB time, the
metric or chart each one computes), to see where a dashboard's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import logging
import math
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from flitch import catalog
from flitch.config import Settings
from flitch.dashboards import BUILTIN, Period, evaluate, plan_reads
from flitch.dashboards.evaluate import WORKERS
from flitch.metrics.derived import DERIVED
from flitch.store import DuckDBStore, QueryResult

NOW = 1_793_491_200  # 2026-11-01
DAY = 86_400
YEARS = 2
PAGE = 2_000
CURRENCIES = (("usd", 0.70, 1.0), ("eur", 0.15, 0.92), ("gbp", 0.08, 0.79), ("jpy", 0.07, 1.5))
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#: Changes when the seeded account does (2: every billed period has its invoice; 3: drawn as
#: streams, so that 10 M charges fit in memory).
GENERATOR = 3


# -- the seeded account ---------------------------------------------------------------------------
class Seed:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n:010d}{''.join(self.rng.choices(ID_CHARS, k=8))}"

    def currency(self) -> tuple[str, float]:
        r, acc = self.rng.random(), 0.0
        for code, share, rate in CURRENCIES:
            acc += share
            if r < acc:
                return code, rate
        return "usd", 1.0

    def when(self, lo: int, hi: int, growth: float = 1.5) -> int:
        """A time in [lo, hi), denser towards hi (a growing business)."""
        return lo + int((hi - lo) * self.rng.random() ** (1 / growth))

    def times(self, n: int, growth: float = 1.5) -> Iterator[int]:
        """``n`` creation times over the history, newest first: the order Stripe lists objects
        in, and so the order a refresh writes them (the cache's zone maps follow from it).

        Drawn already in order (each the previous one times a uniform to the power 1/k: the
        order statistics of ``n`` uniforms, from the largest down), so that 10 M of them take
        no memory; denser towards now, as ``when``."""
        start = NOW - YEARS * 365 * DAY
        u = 1.0
        for k in range(n, 0, -1):
            u *= self.rng.random() ** (1 / k)
            yield start + int((NOW - start) * u ** (1 / growth))


def _base(kind: str, id_: str, created: int) -> dict[str, Any]:
    return {"id": id_, "object": kind, "created": created, "livemode": False, "metadata": {}}


def prices() -> list[dict[str, Any]]:
    out = []
    plans = [
        ("basic", "month", 1, 900),
        ("pro", "month", 1, 2900),
        ("team", "month", 1, 9900),
        ("pro_year", "year", 1, 29000),
        ("weekly", "week", 1, 500),
        ("quarter", "month", 3, 7500),
        ("usage", "month", 1, 5),
        ("seats", "month", 1, 1200),
    ]
    for code, _, rate in CURRENCIES:
        for name, interval, count, usd in plans:
            amount = round(usd * rate)
            out.append(
                {
                    **_base("price", f"price_{name}_{code}", NOW - YEARS * 365 * DAY),
                    "active": True,
                    "currency": code,
                    "unit_amount": amount,
                    "type": "recurring",
                    "billing_scheme": "per_unit",
                    "product": f"prod_{name}",
                    "nickname": name,
                    "recurring": {
                        "interval": interval,
                        "interval_count": count,
                        "usage_type": "metered" if name == "usage" else "licensed",
                    },
                    "tiers_mode": None,
                    "tiers": None,
                }
            )
    return out


COUPONS = [
    ("loyal20", "forever", 20.0, None, None),
    ("partner10", "forever", 10.0, None, None),
    ("first50", "once", 50.0, None, None),
    ("spring25", "repeating", 25.0, None, None),
    ("usd5", "forever", None, 500, "usd"),
    ("jpy1000", "forever", None, 1000, "jpy"),
]


def coupons(redeemed: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            **_base("coupon", c, NOW - YEARS * 365 * DAY),
            "name": c,
            "duration": d,
            "percent_off": p,
            "amount_off": a,
            "currency": cur,
            "duration_in_months": 3 if d == "repeating" else None,
            "valid": True,
            "times_redeemed": redeemed.get(c, 0),
        }
        for c, d, p, a, cur in COUPONS
    ]


def customers(s: Seed, n: int) -> Iterator[list[dict[str, Any]]]:
    page = []
    for i, created in enumerate(s.times(n)):
        code, _ = s.currency()
        page.append(
            {
                **_base("customer", f"cus_{i:09d}", created),
                "email": f"person{i}@example.com",
                "name": f"Person {i}",
                "balance": 0,
                "currency": code,
                "delinquent": False,
            }
        )
        if len(page) == PAGE:
            yield page
            page = []
    yield page


Charge = tuple[str, int, int, str, int, bool, str, str]


def charge_rows(seed: int, n: int, n_customers: int) -> Iterator[Charge]:
    """Each charge's id, created, amount, status, refunded amount, disputed, customer and
    currency, newest first. Drawn from a generator of their own, so the balance transactions
    and disputes that follow from them are drawn again from the same seed instead of being
    kept (10 M charges would hold gigabytes)."""
    s = Seed(seed)
    for created in s.times(n):
        code, rate = s.currency()
        amount = max(50, int(s.rng.lognormvariate(7.6, 0.9) * rate))
        r = s.rng.random()
        status = "succeeded" if r < 0.92 else ("failed" if r < 0.99 else "pending")
        refunded = 0
        if status == "succeeded" and s.rng.random() < 0.03:
            refunded = amount if s.rng.random() < 0.6 else amount // 2
        cid = s.id("ch_")
        cus = f"cus_{s.rng.randrange(n_customers):09d}"
        disputed = status == "succeeded" and s.rng.random() < 0.005
        yield cid, created, amount, status, refunded, disputed, cus, code


def charges(rows: Iterator[Charge]) -> Iterator[list[Any]]:
    page = []
    for cid, created, amount, status, refunded, disputed, cus, code in rows:
        page.append(
            {
                **_base("charge", cid, created),
                "amount": amount,
                "amount_captured": amount if status == "succeeded" else 0,
                "amount_refunded": refunded,
                "currency": code,
                "status": status,
                "paid": status == "succeeded",
                "captured": status == "succeeded",
                "refunded": refunded == amount,
                "disputed": disputed,
                "customer": cus,
                "payment_intent": "pi_" + cid[3:],
                "balance_transaction": "txn_" + cid[3:] if status == "succeeded" else None,
                "failure_code": "card_declined" if status == "failed" else None,
                "billing_details": {"email": None, "name": None, "address": {"country": "US"}},
                "outcome": {"network_status": "approved_by_network", "risk_level": "normal"},
                "payment_method_details": {
                    "type": "card",
                    "card": {"brand": "visa", "last4": "4242", "exp_month": 12},
                },
                "description": None,
            }
        )
        if len(page) == PAGE:
            yield page
            page = []
    yield page


def subscriptions(
    s: Seed,
    n: int,
    n_customers: int,
    price_list: list[dict[str, Any]],
    bills: list[Any],
    redeemed: dict[str, int],
) -> Iterator[list[dict[str, Any]]]:
    """Subscriptions; what each billed (for its invoices) is noted in ``bills``."""
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for p in price_list:
        by_currency.setdefault(p["currency"], []).append(p)
    weights = [30, 30, 10, 12, 1, 5, 4, 8]
    page = []
    for created in s.times(n):
        code, _ = s.currency()
        plan = s.rng.choices(by_currency[code], weights)[0]
        qty = s.rng.randint(2, 20) if "seats" in plan["id"] else 1
        trial = created + 14 * DAY if s.rng.random() < 0.3 else None
        r = s.rng.random()
        ended = None
        if trial and trial > NOW:
            status = "trialing"
        elif r < 0.32:
            status, ended = "canceled", s.when(trial or created, NOW, 1.0)
        elif r < 0.35:
            status = "past_due"
        elif r < 0.37:
            status = "unpaid"
        elif r < 0.39:
            status = "incomplete_expired"
        elif r < 0.395:
            status = "paused"
        else:
            status = "active"
        sid = s.id("sub_")
        rec = plan["recurring"]
        period_start = trial or created
        while _step(period_start, rec["interval"], rec["interval_count"]) <= min(ended or NOW, NOW):
            period_start = _step(period_start, rec["interval"], rec["interval_count"])
        period_end = _step(period_start, rec["interval"], rec["interval_count"])
        discounts = []
        if s.rng.random() < 0.12:
            coupon = s.rng.choice(COUPONS)
            if coupon[4] in (None, code):
                redeemed[coupon[0]] = redeemed.get(coupon[0], 0) + 1
                discounts = [
                    {
                        "id": "di_" + sid[4:],
                        "object": "discount",
                        "source": {"type": "coupon", "coupon": coupon[0]},
                        "start": created,
                    }
                ]
        page.append(
            {
                **_base("subscription", sid, created),
                "status": status,
                "customer": f"cus_{s.rng.randrange(n_customers):09d}",
                "currency": code,
                "start_date": created,
                "trial_start": created if trial else None,
                "trial_end": trial,
                "ended_at": ended,
                "canceled_at": ended,
                "cancel_at_period_end": False,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": "si_" + sid[4:],
                            "object": "subscription_item",
                            "price": plan,
                            "quantity": qty,
                            "current_period_start": period_start,
                            "current_period_end": period_end,
                        }
                    ],
                },
                "discounts": discounts,
            }
        )
        if status not in ("incomplete_expired", "trialing"):
            bills.append((sid, page[-1]["customer"], plan, qty, trial or created, ended, status))
        if len(page) == PAGE:
            yield page
            page = []
    yield page


def _step(t: int, interval: str, count: int) -> int:
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[interval] * count
    return t + days * DAY


def _billed(bills: list[Any]) -> Iterator[tuple[int, int, int]]:
    """Every period a subscription was billed for (start, end, which), newest first: a heap
    holding each subscription's latest period not given yet, not a list of all of them."""
    heap: list[tuple[int, int, int]] = []
    for n, (_, _, plan, _, begin, ended, _) in enumerate(bills):
        length = _step(0, plan["recurring"]["interval"], plan["recurring"]["interval_count"])
        stop = min(ended or NOW, NOW)
        if stop > begin:
            last = (stop - begin - 1) // length
            heapq.heappush(heap, (-(begin + last * length), n, length))
    while heap:
        t, n, length = heapq.heappop(heap)
        yield -t, -t + length, n
        if -t - length >= bills[n][4]:
            heapq.heappush(heap, (t + length, n, length))


def invoices(s: Seed, bills: list[Any]) -> Iterator[list[dict[str, Any]]]:
    """Each subscription's invoices, one per period it was billed for, newest first."""
    page = []
    for t, nxt, n in _billed(bills):
        sid, cus, plan, qty, _, ended, status = bills[n]
        amount = (
            plan["unit_amount"] * qty if plan["recurring"]["usage_type"] == "licensed" else 1234
        )
        last = nxt >= min(ended or NOW, NOW)
        st = "open" if last and status in ("past_due", "unpaid") else "paid"
        iid = s.id("in_")
        page.append(
            {
                **_base("invoice", iid, t),
                "customer": cus,
                "currency": plan["currency"],
                "status": st,
                "total": amount,
                "subtotal": amount,
                "amount_due": amount,
                "amount_paid": amount if st == "paid" else 0,
                "amount_remaining": 0 if st == "paid" else amount,
                "billing_reason": "subscription_cycle",
                "attempted": True,
                "period_start": t,
                "period_end": nxt,
                "parent": {"subscription_details": {"subscription": sid}},
                "status_transitions": {"finalized_at": t, "paid_at": t if st == "paid" else None},
                "lines": {
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {
                            "id": "il_" + iid[3:],
                            "object": "line_item",
                            "amount": amount,
                            "currency": plan["currency"],
                            "quantity": qty,
                            "period": {"start": t, "end": nxt},
                            "pricing": {"price_details": {"price": plan["id"]}},
                            "parent": {"subscription_item_details": {"proration": False}},
                        }
                    ],
                },
                "total_discount_amounts": [],
            }
        )
        if len(page) == PAGE:
            yield page
            page = []
    yield page


def balance(rows: Iterator[Charge], payouts_out: list[Any]) -> Iterator[list[dict[str, Any]]]:
    """Charge, refund and dispute transactions, then a daily payout per currency of the day's
    net (so the balance bridge ends near zero); the payouts are put in ``payouts_out``."""
    page: list[dict[str, Any]] = []
    daily: dict[tuple[str, int], int] = {}

    def add(id_: str, t: int, amount: int, fee: int, cat: str, cur: str) -> None:
        page.append(
            {
                **_base("balance_transaction", id_, t),
                "amount": amount,
                "fee": fee,
                "net": amount - fee,
                "currency": cur,
                "type": cat if cat != "dispute" else "adjustment",
                "reporting_category": cat,
                "status": "available",
                "available_on": t + 2 * DAY,
                "source": id_.replace("txn_", "ch_"),
            }
        )
        day = t // DAY
        daily[(cur, day)] = daily.get((cur, day), 0) + amount - fee

    for cid, t, amount, status, refunded, disputed, _, cur in rows:
        if status != "succeeded":
            continue
        add(
            "txn_" + cid[3:],
            t,
            amount,
            int(amount * 0.029) + (30 if cur != "jpy" else 0),
            "charge",
            cur,
        )
        if refunded:
            add("txn_r" + cid[3:], t + DAY, -refunded, 0, "refund", cur)
        if disputed:
            add("txn_d" + cid[3:], t + 3 * DAY, -amount, 1500, "dispute", cur)
        if len(page) >= PAGE:
            yield page
            page = []
    for (cur, day), net in sorted(daily.items()):
        if net <= 0:
            continue
        t = (day + 2) * DAY
        pid = f"po_{cur}_{day}"
        page.append(
            {
                **_base("balance_transaction", f"txn_{pid}", t),
                "amount": -net,
                "fee": 0,
                "net": -net,
                "currency": cur,
                "type": "payout",
                "reporting_category": "payout",
                "status": "available",
                "source": pid,
            }
        )
        payouts_out.append(
            {
                **_base("payout", pid, t),
                "amount": net,
                "currency": cur,
                "status": "paid" if t + 2 * DAY < NOW else "in_transit",
                "arrival_date": t + 2 * DAY,
                "automatic": True,
                "method": "standard",
            }
        )
        if len(page) >= PAGE:
            yield page
            page = []
    yield page


def build(store: DuckDBStore, n_charges: int, n_subs: int, seed: int = 7) -> dict[str, int]:
    s = Seed(seed)
    n_customers = max(1000, n_subs * 3 // 2)
    price_list = prices()
    payouts_out: list[Any] = []
    bills: list[Any] = []
    counts: dict[str, int] = {}
    txn = store.begin_refresh(full=True)
    try:

        def write(name: str, pages: Iterator[list[dict[str, Any]]] | list[Any]) -> None:
            t = time.perf_counter()
            with txn.replace_dataset(catalog.get(name)) as writer:
                for page in pages if not isinstance(pages, list) else [pages]:
                    writer.add_page(page)
            counts[name] = writer.rows_written
            print(
                f"  {name}: {counts[name]:,} rows in {time.perf_counter() - t:.0f} s "
                f"(peak RSS so far {peak_rss_mb():,.0f} MB)",
                file=sys.stderr,
                flush=True,
            )

        write("prices", price_list)
        write("customers", customers(s, n_customers))
        redeemed: dict[str, int] = {}
        write("subscriptions", subscriptions(s, n_subs, n_customers, price_list, bills, redeemed))
        write("coupons", coupons(redeemed))
        write("invoices", invoices(s, bills))
        bills.clear()
        charge_seed = seed * 1000 + 1
        write("charges", charges(charge_rows(charge_seed, n_charges, n_customers)))
        disputes = [
            {
                **_base("dispute", "dp_" + cid[3:], t + 3 * DAY),
                "amount": amount,
                "currency": cur,
                "charge": cid,
                "status": "needs_response",
                "reason": "fraudulent",
            }
            for cid, t, amount, _, _, disputed, _, cur in charge_rows(
                charge_seed, n_charges, n_customers
            )
            if disputed
        ]
        write("disputes", disputes)
        rows = charge_rows(charge_seed, n_charges, n_customers)
        write("balance_transactions", balance(rows, payouts_out))
        write("payouts", payouts_out)
        for name in ("products", "payment_intents", "credit_notes"):
            write(name, [])
        t = time.perf_counter()
        txn.commit()
        print(
            f"  published in {time.perf_counter() - t:.0f} s (derived tables built, file "
            f"checkpointed); peak RSS {peak_rss_mb():,.0f} MB, DuckDB's memory limit "
            f"{store.memory_limit / 2**20:,.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
    except BaseException:
        txn.abort()
        raise
    return counts


# -- measuring ------------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Recorder:
    """Passes queries through to a source and remembers them (the baseline replays them)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.seen: list[tuple[str, Any]] = []

    def query(self, sql: str, params: Any = None, *, max_rows: int | None = None) -> QueryResult:
        self.seen.append((sql, params))
        result: QueryResult = self.source.query(sql, params, max_rows=max_rows)
        return result

    def has_table(self, name: str) -> bool:
        found: bool = self.source.has_table(name)
        return found


def _has(store: DuckDBStore, table: str) -> bool:
    with store.reader() as reader:
        return reader.has_table(table)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1)]


def _labels() -> dict[str, str]:
    """What each registry statement computes, by its SQL text."""
    from flitch.metrics import METRICS, REPORTS

    out: dict[str, str] = {}
    for m in METRICS:
        out[m.sql] = m.name
        if m.series:
            out[m.series] = f"{m.name} (series)"
        if m.family is not None:
            out[m.family.sql] = f"{m.family.name} family"
    for r in REPORTS:
        out[r.sql] = r.name
    return out


def label(sql: str, labels: dict[str, str]) -> str:
    if sql in labels:
        return labels[sql]
    found = re.search(r'FROM\s+"?(\w+)"?', sql)
    return f"chart over {found.group(1)}" if found else " ".join(sql.split())[:40]


def slowest(
    raw: duckdb.DuckDBPyConnection, seen: list[tuple[str, Any]], n: int, runs: int = 3
) -> None:
    """The ``n`` statements taking longest, run straight on DuckDB (median of ``runs``)."""
    labels = _labels()
    timed = []
    for sql, params in seen:
        took = []
        for _ in range(runs):
            t = time.perf_counter()
            raw.execute(sql, params).fetchall()
            took.append((time.perf_counter() - t) * 1000)
        timed.append((statistics.median(took), label(sql, labels)))
    for ms, what in sorted(timed, reverse=True)[:n]:
        print(f"    {ms:8.1f} ms  {what}")


def run_direct(raw: duckdb.DuckDBPyConnection, seen: list[tuple[str, Any]], workers: int) -> None:
    """The recorded statements straight on DuckDB: one after the other, or ``workers`` at once
    (a cursor of the same connection per statement, as the cache's reader does)."""
    if workers <= 1:
        for sql, params in seen:
            raw.execute(sql, params).fetchall()
        return

    def one(item: tuple[str, Any]) -> None:
        cur = raw.cursor()
        try:
            cur.execute("USE flitch")
            cur.execute(item[0], item[1]).fetchall()
        finally:
            cur.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, seen))


def bench_cached(
    store: DuckDBStore, runs: int, statements: int = 0, workers: int = WORKERS
) -> None:
    period = Period(NOW - 30 * DAY, NOW + DAY, "30d")
    reader = store.reader(follow=False)
    raw = duckdb.connect(":memory:")
    raw.execute("SET TimeZone = 'UTC'")
    # DuckDB configured as the cache's reader is (store.results.ASOF_LOOP_ROWS)
    raw.execute("SET asof_loop_join_threshold = 0")
    raw.execute(f"ATTACH '{store.current_path}' AS flitch (READ_ONLY)")
    raw.execute("USE flitch")
    print(
        f"\nCached: each built-in dashboard, {period.to_dict()['start'][:10]} to "
        f"{period.to_dict()['end'][:10]} (the last 30 days), from the DuckDB cache"
    )
    print(
        f"Charts evaluated {workers} at a time; direct: the same statements one after the other "
        f"(1×) and {workers} at a time ({workers}×), medians; ratio: ours ÷ direct"
    )
    print(
        f"{'dashboard':<10} {'median ms':>10} {'p95 ms':>8} {'direct 1×':>10} {'ratio':>6} "
        f"{f'direct {workers}×':>10} {'ratio':>6} queries"
    )
    for name, board in BUILTIN.items():
        recorder = Recorder(reader)
        evaluate(recorder, board, period, workers=workers)  # warm up, record the statements
        ours, direct, side = [], [], []
        # interleaved, so that a busy moment of the machine weighs on all three alike
        for _ in range(runs):
            t = time.perf_counter()
            evaluate(reader, board, period, workers=workers)
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            run_direct(raw, recorder.seen, 1)
            direct.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            run_direct(raw, recorder.seen, workers)
            side.append((time.perf_counter() - t) * 1000)
        med, base, base_n = (statistics.median(x) for x in (ours, direct, side))
        print(
            f"{name:<10} {med:>10.1f} {pct(ours, 0.95):>8.1f} {base:>10.1f} {med / base:>6.2f} "
            f"{base_n:>10.1f} {med / base_n:>6.2f} {len(recorder.seen)}"
        )
        if statements:
            slowest(raw, recorder.seen, statements)
    reader.close()
    raw.close()


#: The splits timed against MRR alone (the bench's customers carry no metadata: every one is
#: in the split's "no value" row, which still reads and joins every customer).
SEGMENTS = ("product", "price", "interval", "country", "metadata.plan_tier")


def bench_segments(store: DuckDBStore, runs: int) -> None:
    """MRR split by each segment against MRR alone (issue 14: a split adds under 50 % to the
    chart it splits): one chart each, evaluated as a dashboard is, in turn in every run."""
    from flitch.dashboards.model import Chart, ChartType, Dashboard, Grouping

    period = Period(NOW - 30 * DAY, NOW + DAY, "30d")
    plain = Chart(title="MRR", type=ChartType.NUMBER, metric="mrr")
    boards = {"MRR alone": Dashboard(name="plain", title="MRR", charts=(plain,)).check()}
    for kind in SEGMENTS:
        chart = Chart(
            title=f"MRR by {kind}",
            type=ChartType.TABLE,
            metric="mrr",
            group=Grouping(segment=kind),
        )
        boards[kind] = Dashboard(name="split", title=kind, charts=(chart,)).check()
    reader = store.reader(follow=False)
    took: dict[str, list[float]] = {name: [] for name in boards}
    try:
        for board in boards.values():
            evaluate(reader, board, period, workers=1)
        for _ in range(runs):
            for name, board in boards.items():
                t = time.perf_counter()
                evaluate(reader, board, period, workers=1)
                took[name].append((time.perf_counter() - t) * 1000)
    finally:
        reader.close()
    base = statistics.median(took["MRR alone"])
    print(f"\nSegments: MRR split by each, last 30 days, {runs} runs in turn (ratio: ÷ MRR alone)")
    for name, values in took.items():
        med = statistics.median(values)
        print(
            f"  {name:<20} median {med:7.1f} ms  p95 {pct(values, 0.95):7.1f} ms  {med / base:.2f}×"
        )


def check_cohorts(store: DuckDBStore) -> None:
    """The cohort table against MRR movements on the bench account: each month's MRR summed
    over the cohorts is the MRR snapshot at that month's end (``metrics.checks``)."""
    from flitch.metrics.checks import cohorts_against_mrr

    reader = store.reader(follow=False)
    t = time.perf_counter()
    try:
        check = cohorts_against_mrr(reader, int(NOW))
    finally:
        reader.close()
    bad = check.mismatches
    print(
        f"\nCohorts against MRR, every month since the first subscriber: {len(check.cells)} "
        f"month ends (per currency), largest difference {check.worst} minor units (rounding "
        f"allows {check.slack:.1f}), {len(bad)} mismatched; {time.perf_counter() - t:.1f} s"
    )
    for key, total, snapshot in bad[:5]:
        print(f"    {key}: cohorts {total:,}, MRR {snapshot:,}")


def bench_live(customers_n: int) -> None:
    from flitch.connections.service import ConnectionService
    from flitch.dashboards import load_dashboard, preset
    from flitch.emulator.auth import DEMO_TEST_KEY
    from flitch.emulator.generator import generate_account
    from flitch.emulator.server import Emulator, EmulatorConfig
    from flitch.query.engine import QueryEngine

    now = time.time()
    account = generate_account(seed=42, customers=customers_n, now=int(now))
    period = preset("30d", now)
    print(f"\nLive: each built-in dashboard, last 30 days, {customers_n} customers (emulator)")
    with (
        Emulator(account, EmulatorConfig(live_rps=None, test_rps=None, endpoint_rps=None)) as emu,
        tempfile.TemporaryDirectory() as home,
    ):
        settings = Settings(
            home=Path(home),
            stripe_api_base=emu.url,
            test_requests_per_second=1000.0,
            endpoint_requests_per_second=1000.0,
        )
        with ConnectionService(settings) as service:
            service.create("shop", DEMO_TEST_KEY)
            for name, board in BUILTIN.items():
                emu.log.clear()

                async def go(board: Any = board) -> dict[str, Any]:
                    engine = QueryEngine(settings, service)
                    try:
                        return await load_dashboard(engine, "shop", board, period)
                    finally:
                        await engine.aclose()

                t = time.perf_counter()
                data = asyncio.run(go())
                took = time.perf_counter() - t
                minimum = 0
                for read in plan_reads(board.charts, period):
                    objects = account.test.ordered(read.spec.object_type).objects
                    n = sum(
                        1
                        for o in objects
                        if (read.created_gte is None or o["created"] >= read.created_gte)
                        and (read.created_lt is None or o["created"] < read.created_lt)
                        and not o.get("deleted")
                        and not o.get("test_clock")
                    )
                    minimum += max(1, math.ceil(n / 100)) * len(read.spec.list_variants)
                made = data["data"]["requests"]
                logged = len(emu.log.entries)
                print(f"  {name}: reads: {'; '.join(data['data']['reads'])}")
                print(
                    f"    Stripe requests made {made} (emulator saw {logged}), minimum needed "
                    f"{minimum}, ratio {made / minimum:.2f}; load {took * 1000:.0f} ms, of which "
                    f"evaluating {data['elapsed_ms']:.0f} ms"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--charges", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--customers", type=int, default=300, help="live: emulator account size")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=WORKERS, help="charts evaluated at once (1: in turn)"
    )
    parser.add_argument(
        "--statements", type=int, default=0, help="list each dashboard's N slowest statements"
    )
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="DuckDB's memory while writing (default: FLITCH_MEMORY_LIMIT, or its default)",
    )
    args = parser.parse_args()
    derived_log = logging.getLogger("flitch.store.derived")
    derived_log.setLevel(logging.INFO)
    derived_log.addHandler(logging.StreamHandler(sys.stderr))
    where = args.store or Path(tempfile.gettempdir()) / "flitch-bench-dashboards"
    # the generator's version is part of the name: a store made by an older one is made again
    marker = where / f"made-{GENERATOR}-{args.charges}-{args.subscriptions}.txt"
    limit = args.memory_limit or Settings.from_env().memory_limit
    store = DuckDBStore(where, derived=DERIVED, memory_limit=limit)
    current = marker.exists() and all(d.schema_current for d in store.datasets())
    if current and not all(_has(store, d.table) for d in DERIVED):
        # a store written before the derived tables: a refresh that reads nothing adds them
        t = time.perf_counter()
        with store.begin_refresh(full=False) as txn:
            txn.commit()
        print(f"Derived tables built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if not current:
        print(f"Writing the seeded account into {where} …", file=sys.stderr)
        t = time.perf_counter()
        for old in where.glob("made-*.txt"):
            old.unlink()
        counts = build(store, args.charges, args.subscriptions)
        marker.write_text(json.dumps(counts))
        print(f"  written in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    counts = json.loads(marker.read_text())
    print("Account: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v))
    bench_cached(store, args.runs, args.statements, args.workers)
    bench_segments(store, args.runs)
    check_cohorts(store)
    if not args.skip_live:
        bench_live(args.customers)


if __name__ == "__main__":
    main()
