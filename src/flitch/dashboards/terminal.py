"""A dashboard's JSON drawn in a terminal: numbers with their change, sparklines, tables.

Amounts are shown in major units of their currency (``USD 1,234.56``; ``JPY 5,000`` — yen have
no minor unit); the JSON keeps minor units, as Stripe gives them. With one currency picked, the
header says so, and each chart that is not per currency says why it shows every currency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

#: Currencies without a minor unit (Stripe's list of zero-decimal currencies).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
BARS = "▁▂▃▄▅▆▇█"


def label(currency: str) -> str:
    """A values key as shown: its code, ``no currency``, or nothing for every currency's."""
    if currency == "all":
        return ""
    return "no currency" if currency == "none" else currency.upper()


def money(minor: int | float | None, currency: str) -> str:
    if minor is None:
        return "—"
    code = currency.upper()
    if currency in ("all", "none"):
        return f"{minor:,.0f}"
    if currency.lower() in ZERO_DECIMAL:
        return f"{code} {minor:,.0f}"
    return f"{code} {minor / 100:,.2f}"


def show(value: Any, unit: str | None, currency: str) -> str:
    if value is None:
        return "—"
    if unit == "money":
        return money(value, currency)
    if unit == "ratio":
        return f"{float(value) * 100:.2f} %"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def change(value: float | None, unit: str | None) -> str:
    if value is None:
        return ""
    if unit == "ratio":
        return f"{value * 100:+.2f} pts"
    return f"{value * 100:+.1f} %"


def sparkline(values: Sequence[float | int | None]) -> str:
    nums = [v for v in values if v is not None]
    if not nums:
        return ""
    low, high = min(nums), max(nums)
    span = (high - low) or 1
    return "".join(
        " " if v is None else BARS[int((v - low) / span * (len(BARS) - 1))] for v in values
    )


def _header(out: Console, data: Mapping[str, Any]) -> None:
    d, p = data["dashboard"], data["period"]
    conn = data.get("connection") or {}
    src = data.get("data") or {}
    where = (
        f"live from Stripe ({src.get('requests', 0)} requests)"
        if src.get("source") == "live"
        else f"cache as of {src.get('as_of')}"
    )
    picked = str(data.get("currency") or "").upper()
    only = f" · {picked} only" if picked else ""
    out.print(
        f"[bold]{escape(d['title'])}[/] · {escape(conn.get('name', ''))} "
        f"({conn.get('mode', '?')} mode) · {p['start'][:10]} → {p['end'][:10]} "
        f"({p['days']:g} days, by {p['grain']}) · {where}{escape(only)}"
    )
    for note in src.get("notes") or []:
        out.print(f"[yellow]{escape(note)}[/]")
    for c in data["charts"] if picked else ():
        if c.get("per_currency") is False:
            out.print(
                f"[yellow]{escape(c['title'])}: all currencies, not {picked} only: "
                f"{escape(c.get('currency_note') or '')}[/]"
            )


def _before(chart: Mapping[str, Any], previous: Any, currency: str) -> str:
    """What a number is compared with: the period before, its value at the period's start
    (present-day values, rebuilt), or nothing ("now")."""
    if chart.get("compare") is None:
        return "now" if chart.get("current") else show(previous, chart.get("unit"), currency)
    text = show(previous, chart.get("unit"), currency)
    return f"{text} at start" if chart["compare"] == "start" else text


def _numbers(out: Console, charts: Sequence[Mapping[str, Any]]) -> None:
    table = Table(show_edge=False, pad_edge=False, title="Headline numbers", title_justify="left")
    for name in ("Metric", "Currency", "Value", "Compared with", "Change"):
        table.add_column(name, justify="right" if name != "Metric" else "left")
    for c in charts:
        values = c.get("values") or {}
        if not values:
            table.add_row(escape(c["title"]), "", "—", "", "")
        for n, (cur, value) in enumerate(values.items()):
            previous = (c.get("previous") or {}).get(cur) if c.get("previous") is not None else None
            delta = (c.get("change") or {}).get(cur)
            table.add_row(
                escape(c["title"]) if n == 0 else "",
                label(cur),
                show(value, c.get("unit"), cur),
                _before(c, previous, cur),
                change(delta, c.get("unit")),
            )
    out.print(table)


def _series(out: Console, chart: Mapping[str, Any]) -> None:
    out.print(f"\n[bold]{escape(chart['title'])}[/] (by {chart.get('grain')})")
    if not chart.get("series"):
        out.print("  no data in this period")
    for s in chart["series"]:
        values = [p[1] for p in s["points"]]
        unit = chart.get("unit") or "count"
        total = sum(v for v in values if v is not None) if unit != "ratio" else None
        name = label(s["currency"])
        if s.get("measure"):
            name = f"{name} {s['measure']}".strip()
        summary = f"total {show(total, unit, s['currency'])}" if total is not None else ""
        if unit == "ratio":
            summary = f"last {show(values[-1] if values else None, unit, s['currency'])}"
        out.print(f"  {name:<12} {sparkline(values)}  {summary}")


def _rows(out: Console, chart: Mapping[str, Any], limit: int = 12) -> None:
    hidden = ("label", "kind", "bucket") if chart["type"] == "waterfall" else ("label", "kind")
    columns = [c for c in chart.get("columns", []) if c["name"] not in hidden]
    table = Table(show_edge=False, pad_edge=False, title=chart["title"], title_justify="left")
    for col in columns:
        table.add_column(col["label"] or col["name"], justify="right" if col["unit"] else "left")
    rows = chart.get("rows") or []
    if chart["type"] == "waterfall":
        rows = [r for r in rows if r.get("bucket", None) is None]
        limit = len(rows)
    for row in rows[:limit]:
        cur = str(row.get("currency") or "all")
        table.add_row(
            *(
                show(row.get(c["name"]), c["unit"], cur)
                if c["unit"]
                else escape(str(row.get(c["name"]) if row.get(c["name"]) is not None else "—"))
                for c in columns
            )
        )
    out.print()
    out.print(table if rows else f"[bold]{escape(chart['title'])}[/]: no rows in this period")
    if len(rows) > limit:
        out.print(f"  … {len(rows) - limit} more rows (--json shows them all)")


def render(out: Console, data: Mapping[str, Any]) -> None:
    """Print a dashboard's JSON (``evaluate``/``load_dashboard``) to a console."""
    _header(out, data)
    charts = data["charts"]
    for c in charts:
        if "unavailable" in c:
            u = c["unavailable"]
            out.print(f"[yellow]{escape(c['title'])}: {escape(u['reason'])}[/] {escape(u['fix'])}")
    numbers = [c for c in charts if c["type"] == "number" and "unavailable" not in c]
    if numbers:
        _numbers(out, numbers)
    for c in charts:
        if c["type"] == "number" or "unavailable" in c:
            continue
        if "series" in c:
            _series(out, c)
        else:
            _rows(out, c)
