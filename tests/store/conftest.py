from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flitch import catalog
from flitch.store import DuckDBStore
from tests.refresh.conftest import make_world, world  # noqa: F401 (a refresh on an emulator)
from tests.store import factories

CHARGES = catalog.get("charges")
CUSTOMERS = catalog.get("customers")


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    return DuckDBStore(tmp_path / "cache" / "conn_1", batch_rows=200)


def fill(store: DuckDBStore, n_charges: int, n_customers: int = 0) -> None:
    """A full refresh that writes ``n_charges`` charges (and customers), in pages of 100."""
    with store.begin_refresh(full=True) as txn:
        writer = txn.replace_dataset(CHARGES)
        for page in factories.pages(factories.charges(n_charges)):
            writer.add_page(page)
        writer.finish()
        if n_customers:
            txn.upsert(CUSTOMERS, [factories.customer(i) for i in range(n_customers)])
        txn.commit()


@pytest.fixture
def filled(store: DuckDBStore) -> Iterator[DuckDBStore]:
    fill(store, 500, 50)
    return store


def count(store: DuckDBStore, table: str = "charges") -> int:
    with store.reader() as reader:
        return int(reader.query(f"SELECT count(*) FROM {table}").rows[0][0])
