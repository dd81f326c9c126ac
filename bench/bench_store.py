"""Dataset store: bulk load rate, memory flatness, and the fraction of DuckDB's own bulk speed.

For two sizes ten times apart (default 50,000 and 500,000 charges-like objects), each in a fresh
subprocess so that peak RSS belongs to one run:

- load: a full refresh through ``DuckDBStore`` — pages of 100 Stripe objects into
  ``replace_dataset(...).add_page``, commit (checkpoint, fsync, rename). Time spent generating the
  objects is measured and left out. Reports rows/s and peak RSS.
- convert: the Python half alone (objects → their JSON text → an Arrow column), no DuckDB;
  DuckDB flattens that text into the typed columns (``flitch.store.flatten``).
- incremental: ``begin_refresh(full=False)`` (copies ``current.duckdb``), upsert 1,000 changed
  objects, commit. Reports the copy's cost.
- baseline: the same rows prebuilt as one Arrow table in memory, then a plain
  ``INSERT INTO charges SELECT * FROM arrow_table`` into an empty file with the same DDL.

Ratios printed: peak RSS of the large run over the small one (target < 1.5), and our rows/s over
the baseline's rows/s (what fraction of DuckDB's own bulk speed the full path reaches).

    .venv/bin/python bench/bench_store.py [--sizes 50000 500000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flitch.store.loading import DEFAULT_BATCH_ROWS, DEFAULT_COMMIT_ROWS

PAGE = 100
BASE_TIME = 1_600_000_000


def _rand_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(string.ascii_letters + string.digits, k=24))


def charge(rng: random.Random, i: int) -> dict[str, Any]:
    """A charge shaped like Stripe's (about 2 KB of JSON)."""
    amount = rng.choice([500, 1200, 2500, 4900, 9900, 19900]) + rng.randint(0, 99)
    refunded = amount if rng.random() < 0.03 else (amount // 2 if rng.random() < 0.05 else 0)
    failed = rng.random() < 0.08
    created = BASE_TIME + i * 17
    return {
        "id": _rand_id(rng, "ch_3"),
        "object": "charge",
        "amount": amount,
        "amount_captured": 0 if failed else amount,
        "amount_refunded": refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None if failed else _rand_id(rng, "txn_3"),
        "billing_details": {
            "address": {
                "city": "Berlin",
                "country": "DE",
                "line1": f"{i % 200} Example Str.",
                "line2": None,
                "postal_code": "10115",
                "state": None,
            },
            "email": f"customer{i % 5000}@example.com",
            "name": f"Customer {i % 5000}",
            "phone": None,
        },
        "calculated_statement_descriptor": "FLITCH",
        "captured": not failed,
        "created": created,
        "currency": rng.choice(["usd", "usd", "usd", "eur", "gbp"]),
        "customer": f"cus_{i % 5000:014d}",
        "description": f"Subscription update #{i}",
        "disputed": rng.random() < 0.005,
        "failure_code": "card_declined" if failed else None,
        "failure_message": "Your card was declined." if failed else None,
        "fraud_details": {},
        "livemode": True,
        "metadata": {"order_id": str(100000 + i), "source": "web"},
        "outcome": {
            "network_status": "declined_by_network" if failed else "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": rng.randint(0, 99),
            "seller_message": "Payment complete.",
            "type": "issuer_declined" if failed else "authorized",
        },
        "paid": not failed,
        "payment_intent": _rand_id(rng, "pi_3"),
        "payment_method": _rand_id(rng, "pm_1"),
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": "pass",
                    "cvc_check": "pass",
                },
                "country": "DE",
                "exp_month": rng.randint(1, 12),
                "exp_year": 2030,
                "fingerprint": _rand_id(rng, ""),
                "funding": "credit",
                "last4": f"{rng.randint(0, 9999):04d}",
                "network": "visa",
                "three_d_secure": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_url": f"https://pay.stripe.com/receipts/{_rand_id(rng, '')}",
        "refunded": refunded == amount,
        "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0},
        "status": "failed" if failed else "succeeded",
    }


def pages(n: int, seed: int = 7) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(seed)
    for start in range(0, n, PAGE):
        yield [charge(rng, i) for i in range(start, min(n, start + PAGE))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


# -- children ------------------------------------------------------------------------------------
def child_load(n: int, workdir: Path, memory_limit: str, batch_rows: int) -> dict[str, Any]:
    from flitch import catalog
    from flitch.store import DuckDBStore
    from flitch.store.schema import RawObjects

    spec = catalog.get("charges")
    store = DuckDBStore(workdir / "cache", memory_limit=memory_limit, batch_rows=batch_rows)
    next(pages(PAGE))  # warm up imports and the generator
    rss_start = _rss_mb()
    gen_seconds = 0.0
    started = time.perf_counter()
    with store.begin_refresh(full=True) as txn:
        writer = txn.replace_dataset(spec)
        it = pages(n)
        while True:
            g = time.perf_counter()
            page = next(it, None)
            gen_seconds += time.perf_counter() - g
            if page is None:
                break
            writer.add_page(page)
        writer.finish()
        t_commit = time.perf_counter()
        txn.commit()
        commit_seconds = time.perf_counter() - t_commit
    load_seconds = time.perf_counter() - started - gen_seconds
    peak = _peak_rss_mb()
    file_mb = store.current_path.stat().st_size / 1e6

    # Incremental: copy the current file, upsert a page batch, commit.
    changed = [obj for page in pages(1000) for obj in page]  # the same ids: updates
    t0 = time.perf_counter()
    txn = store.begin_refresh(full=False)
    copy_seconds = time.perf_counter() - t0
    txn.upsert(spec, changed)
    txn.commit()
    incremental_seconds = time.perf_counter() - t0

    with store.reader() as reader:
        rows = reader.query("SELECT count(*) FROM charges").rows[0][0]

    # The Python half alone: serialise and build Arrow batches, no DuckDB.
    buffer = RawObjects()
    gen2 = 0.0
    t0 = time.perf_counter()
    it = pages(n)
    while True:
        g = time.perf_counter()
        page = next(it, None)
        gen2 += time.perf_counter() - g
        if page is None:
            break
        buffer.add(page)
        if len(buffer) >= store.batch_rows:
            buffer.take()
    buffer.take()
    convert_seconds = time.perf_counter() - t0 - gen2
    return {
        "n": n,
        "rows": rows,
        "load_seconds": load_seconds,
        "commit_seconds": commit_seconds,
        "generate_seconds": gen_seconds,
        "convert_seconds": convert_seconds,
        "rss_start_mb": rss_start,
        "peak_rss_mb": peak,
        "file_mb": file_mb,
        "copy_seconds": copy_seconds,
        "incremental_seconds": incremental_seconds,
    }


def child_baseline(n: int, workdir: Path, memory_limit: str, batch_rows: int) -> dict[str, Any]:
    import duckdb

    from flitch import catalog
    from flitch.store.flatten import object_rows_sql
    from flitch.store.schema import RawObjects, create_table_sql

    spec = catalog.get("charges")
    buffer = RawObjects()
    for page in pages(n):
        buffer.add(page)
    con = duckdb.connect(str(workdir / "baseline.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    # the rows typed beforehand, in memory: only DuckDB's own insert is timed
    con.register("raw_rows", buffer.take())
    table = con.sql(object_rows_sql(spec, "raw_rows")).to_arrow_table()
    con.unregister("raw_rows")
    con.execute(create_table_sql(spec))
    con.register("arrow_rows", table)
    t0 = time.perf_counter()
    con.execute("INSERT INTO charges SELECT * FROM arrow_rows")
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - t0
    rows = con.execute("SELECT count(*) FROM charges").fetchall()[0][0]
    con.close()
    return {"n": n, "rows": rows, "seconds": seconds}


def run_child(mode: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="flitch-bench-"))
    try:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--n",
                str(n),
                "--workdir",
                str(workdir),
                "--memory-limit",
                args.memory_limit,
                "--batch-rows",
                str(args.batch_rows),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[50_000, 500_000])
    parser.add_argument("--child", choices=["load", "baseline"])
    parser.add_argument("--n", type=int)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--memory-limit", default="256MB", help="FLITCH_MEMORY_LIMIT's form")
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    args = parser.parse_args()
    if args.child:
        fn = child_load if args.child == "load" else child_baseline
        print(json.dumps(fn(args.n, args.workdir, args.memory_limit, args.batch_rows)))
        return

    small, large = args.sizes
    print(
        f"bench_store: charges-like objects (~2 KB JSON each), pages of {PAGE}, "
        f"batches of {args.batch_rows:,} rows, commits every {DEFAULT_COMMIT_ROWS:,} rows, "
        f"DuckDB memory_limit {args.memory_limit}, "
        f"{os.cpu_count()} cores"
    )
    results = {}
    for n in (small, large):
        load = run_child("load", n, args)
        base = run_child("baseline", n, args)
        assert load["rows"] == n, load
        assert base["rows"] == n, base
        results[n] = (load, base)
        rate = n / load["load_seconds"]
        base_rate = n / base["seconds"]
        print(f"\n{n:>9,} rows")
        print(
            f"  full refresh load   {load['load_seconds']:8.2f} s   {rate:>10,.0f} rows/s"
            f"   (commit {load['commit_seconds']:.2f} s; generating objects "
            f"{load['generate_seconds']:.2f} s, excluded)"
        )
        print(
            f"  python half alone   {load['convert_seconds']:8.2f} s   "
            f"{n / load['convert_seconds']:>10,.0f} rows/s   (objects → JSON → Arrow, no DuckDB)"
        )
        print(
            f"  baseline INSERT     {base['seconds']:8.2f} s   {base_rate:>10,.0f} rows/s"
            f"   (prebuilt Arrow table → DuckDB)"
        )
        print(f"  ratio to baseline   {rate / base_rate:8.3f}")
        print(
            f"  peak RSS            {load['peak_rss_mb']:8.1f} MB   "
            f"(after imports {load['rss_start_mb']:.1f} MB)"
        )
        print(f"  file size           {load['file_mb']:8.1f} MB")
        print(
            f"  incremental         {load['incremental_seconds']:8.2f} s   "
            f"(copy of current.duckdb {load['copy_seconds']:.2f} s = "
            f"{load['file_mb'] / max(load['copy_seconds'], 1e-9):,.0f} MB/s; upsert 1,000; "
            "commit)"
        )
    (ls, _), (ll, _) = results[small], results[large]
    growth = ll["peak_rss_mb"] / ls["peak_rss_mb"]
    over = (ll["peak_rss_mb"] - ll["rss_start_mb"]) / max(
        ls["peak_rss_mb"] - ls["rss_start_mb"], 1e-9
    )
    print(
        f"\npeak RSS {large:,} / {small:,}: {growth:.2f}x (target < 1.5x); "
        f"growth above the post-import RSS: {over:.2f}x"
    )
    print(
        f"rows/s {large:,} / {small:,}: "
        f"{(large / ll['load_seconds']) / (small / ls['load_seconds']):.2f}x"
    )


if __name__ == "__main__":
    main()
