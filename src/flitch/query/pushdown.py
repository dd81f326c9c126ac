"""Find, in a user's SQL, the conditions Stripe can apply itself (filter pushdown).

DuckDB parses the statement (``json_serialize_sql``); we look at the top-level ``WHERE`` only,
take its ``AND``-ed comparisons between one dataset's column and a constant expression, and turn
those Stripe can filter on into a :class:`~flitch.query.reads.DatasetRead`:

- ``created`` compared with ``>=``, ``>``, ``<``, ``<=``, ``=`` or ``BETWEEN`` a constant (a
  timestamp or date literal, ``now() - INTERVAL 30 DAY``…) becomes ``created[gte]``/``[lt]``;
- ``column = constant`` where the catalog lists a Stripe filter for that column (a subscription's
  ``status``, a charge's ``customer``, a price's ``active``…) becomes that list parameter.

Anything else is left to the SQL. Pushdown is conservative by construction: a dataset named
more than once in the statement (self-joins, subqueries, CTEs) gets no pushdown, and constants
are evaluated by DuckDB itself (with external access off), so our reading of the SQL can never
disagree with DuckDB's. Every condition is still applied by the SQL afterwards: pushdown only
ever reduces what is fetched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from flitch import catalog
from flitch import clock as clocks
from flitch.query.reads import DatasetRead, filter_param, stripe_value

_COMPARISONS = {
    "COMPARE_EQUAL": "=",
    "COMPARE_GREATERTHANOREQUALTO": ">=",
    "COMPARE_GREATERTHAN": ">",
    "COMPARE_LESSTHAN": "<",
    "COMPARE_LESSTHANOREQUALTO": "<=",
}
_FLIPPED = {"=": "=", ">=": "<=", ">": "<", "<": ">", "<=": ">="}


def _scratch(at: float | None = None) -> duckdb.DuckDBPyConnection:
    """An empty DuckDB that can reach nothing outside; with ``at``, its ``now()`` (and kin)
    answer that instant, so ``now() - INTERVAL 30 DAY`` is read on Flitch's clock."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if at is not None:
        for statement in clocks.sql_clock(at):
            con.execute(statement)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _base_tables(node: Any) -> Iterator[dict[str, Any]]:
    for n in _walk(node):
        if n.get("type") == "BASE_TABLE" and "table_name" in n:
            yield n


def _conjuncts(where: dict[str, Any] | None) -> list[dict[str, Any]]:
    if where is None:
        return []
    if where.get("type") == "CONJUNCTION_AND":
        out: list[dict[str, Any]] = []
        for child in where.get("children", []):
            out.extend(_conjuncts(child))
        return out
    return [where]


def _is_constant(node: dict[str, Any]) -> bool:
    return not any(
        n.get("class") in ("COLUMN_REF", "SUBQUERY") or n.get("type") == "BASE_TABLE"
        for n in _walk(node)
    )


class _Evaluator:
    """Evaluates constant expressions of the statement with DuckDB itself."""

    def __init__(self, sql: str, at: float) -> None:
        self._sql = sql.encode()
        self._at = at
        self._con: duckdb.DuckDBPyConnection | None = None

    def span(self, node: dict[str, Any]) -> tuple[int, int] | None:
        start = node.get("query_location")
        length = node.get("query_location_length")
        if not isinstance(start, int) or not isinstance(length, int) or length <= 0:
            return None
        if start + length > len(self._sql):
            return None
        return start, start + length

    def text(self, node: dict[str, Any]) -> str | None:
        span = self.span(node)
        if span is None:
            # DuckDB gives operators (``now() - INTERVAL 1 DAY``) no span of their own; the
            # comparison that holds them knows where the constant side is: see ``side``.
            side = node.get("_side_text")
            return side if isinstance(side, str) else None
        return self._sql[span[0] : span[1]].decode()

    def side(
        self, comparison: dict[str, Any], column: dict[str, Any], constant: dict[str, Any]
    ) -> None:
        """Note on ``constant`` its text: the comparison's text without the column and operator."""
        whole, col = self.span(comparison), self.span(column)
        if whole is None or col is None or self.span(constant) is not None:
            return
        if col[0] == whole[0]:
            text = self._sql[col[1] : whole[1]].decode().lstrip().lstrip("=<>!").strip()
        elif col[1] == whole[1]:
            text = self._sql[whole[0] : col[0]].decode().rstrip().rstrip("=<>!").strip()
        else:
            return
        if text:
            constant["_side_text"] = text

    def value(self, node: dict[str, Any]) -> Any:
        if node.get("_true"):
            return True
        literal = node.get("literal") if node.get("class") == "CONSTANT" else None
        if isinstance(literal, dict) and literal.get("kind") in ("STRING", "VARCHAR"):
            return literal.get("text")
        text = self.text(node)
        if text is None:
            raise ValueError("no text")
        return self._run(f"SELECT ({text})")

    def epoch(self, node: dict[str, Any]) -> float:
        text = self.text(node)
        literal = node.get("literal") if node.get("class") == "CONSTANT" else None
        if isinstance(literal, dict) and literal.get("kind") in ("STRING", "VARCHAR"):
            text = "'" + str(literal.get("text")).replace("'", "''") + "'"
        if text is None:
            raise ValueError("no text")
        value = self._run(f"SELECT epoch(CAST(({text}) AS TIMESTAMPTZ))")
        return float(value)

    def _run(self, sql: str) -> Any:
        if self._con is None:
            self._con = _scratch(self._at)
        row = self._con.execute(sql).fetchone()
        if row is None:
            raise ValueError("no value")
        return row[0]

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _column(node: dict[str, Any], aliases: dict[str, str], only: str | None) -> tuple[str, str]:
    """(dataset, column) a column reference points at, or raise ``LookupError``."""
    names = node.get("column_names") or []
    if len(names) == 2:
        qualifier, column = names
        if qualifier in aliases:
            return aliases[qualifier], column
        raise LookupError(qualifier)
    if len(names) == 1 and only is not None:
        return only, names[0]
    raise LookupError(".".join(names))


class _Bounds:
    def __init__(self) -> None:
        self.gte: int | None = None
        self.lt: int | None = None
        self.filters: dict[str, str] = {}
        self.conflict = False

    def lower(self, value: int) -> None:
        self.gte = value if self.gte is None else max(self.gte, value)

    def upper(self, value: int) -> None:
        self.lt = value if self.lt is None else min(self.lt, value)

    def created(self, op: str, seconds: float) -> None:
        if op in (">=", "="):
            self.lower(math.ceil(seconds))
        if op == ">":
            self.lower(math.floor(seconds) + 1)
        if op == "<":
            self.upper(math.ceil(seconds))
        if op in ("<=", "="):
            self.upper(math.floor(seconds) + 1)

    def equal(self, param: str, value: str) -> None:
        if self.filters.get(param, value) != value:
            self.conflict = True  # a = 1 AND a = 2: leave it to the SQL
        self.filters[param] = value


def pushdown(sql: str, *, clock: Callable[[], float] = clocks.now) -> dict[str, DatasetRead]:
    """The narrowed read for each dataset of ``sql`` that can be narrowed.

    ``clock`` is what ``now()`` in the SQL means (the SQL is later run on the same clock).
    Datasets absent from the result are read whole. Never raises on SQL it does not follow: the
    worst outcome is reading more than needed.
    """
    try:
        tree = orjson.loads(_scratch().execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])  # type: ignore[index]
    except (duckdb.Error, TypeError, orjson.JSONDecodeError):
        return {}
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        return {}
    node = tree["statements"][0].get("node", {})
    if node.get("type") != "SELECT_NODE":
        return {}
    occurrences: dict[str, int] = {}
    for table in _base_tables(tree):
        name = str(table["table_name"]).lower()
        occurrences[name] = occurrences.get(name, 0) + 1
    aliases: dict[str, str] = {}
    for table in _base_tables(node.get("from_table")):
        name = str(table["table_name"]).lower()
        if name in catalog.BY_NAME and occurrences.get(name) == 1:
            aliases[table.get("alias") or name] = name
            aliases[name] = name
    if not aliases:
        return {}
    only = next(iter(set(aliases.values()))) if len(set(aliases.values())) == 1 else None
    bounds: dict[str, _Bounds] = {}
    evaluator = _Evaluator(sql, clock())
    try:
        for cond in _conjuncts(node.get("where_clause")):
            _apply(cond, aliases, only, evaluator, bounds)
    finally:
        evaluator.close()
    result: dict[str, DatasetRead] = {}
    for dataset, b in bounds.items():
        filters = () if b.conflict else tuple(b.filters.items())
        read = DatasetRead(dataset, created_gte=b.gte, created_lt=b.lt, filters=filters)
        if not read.is_whole:
            result[dataset] = read
    return result


def _apply(
    cond: dict[str, Any],
    aliases: dict[str, str],
    only: str | None,
    evaluator: _Evaluator,
    bounds: dict[str, _Bounds],
) -> None:
    pairs: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
    if cond.get("type") in _COMPARISONS:
        op = _COMPARISONS[cond["type"]]
        left, right = cond.get("left", {}), cond.get("right", {})
        if left.get("class") == "COLUMN_REF" and _is_constant(right):
            evaluator.side(cond, left, right)
            pairs.append((left, op, right))
        elif right.get("class") == "COLUMN_REF" and _is_constant(left):
            evaluator.side(cond, right, left)
            pairs.append((right, _FLIPPED[op], left))
    elif cond.get("class") == "COLUMN_REF":
        # a bare boolean column (``WHERE active``) is ``active = true``
        pairs.append((cond, "=", {"class": "CONSTANT", "literal": {"kind": "BOOLEAN"}, "_true": 1}))
    elif cond.get("type") == "COMPARE_BETWEEN":
        inp, lower, upper = cond.get("input", {}), cond.get("lower", {}), cond.get("upper", {})
        if inp.get("class") == "COLUMN_REF" and _is_constant(lower) and _is_constant(upper):
            pairs += [(inp, ">=", lower), (inp, "<=", upper)]
    for column_ref, op, constant in pairs:
        try:
            dataset, column = _column(column_ref, aliases, only)
        except LookupError:
            continue
        spec = catalog.get(dataset)
        b = bounds.setdefault(dataset, _Bounds())
        try:
            if column == "created":
                b.created(op, evaluator.epoch(constant))
            elif op == "=" and (param := filter_param(spec, column)) is not None:
                value = evaluator.value(constant)
                if value is not None:
                    b.equal(param, stripe_value(value))
        except (duckdb.Error, ValueError, TypeError, OverflowError):
            continue


def epoch_seconds(moment: datetime) -> int:
    """Unix seconds of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
