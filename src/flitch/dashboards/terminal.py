"""A dashboard's JSON drawn in a terminal: numbers with their change, sparklines, tables.

Amounts are shown in major units of their currency (``USD 1,234.56``; ``JPY 5,000`` — yen have
no minor unit); the JSON keeps minor units, as Stripe gives them. With one currency picked, the
header says so, and each chart that is not per currency says why it shows every currency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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


def money(minor: int | float | None, currency: str, *, code: bool = True) -> str:
    """An amount in major units, after its currency's code unless ``code`` is false (where a
    column beside it names the currency)."""
    if minor is None:
        return "—"
    prefix = f"{currency.upper()} " if code else ""
    if currency in ("all", "none"):
        return f"{minor:,.0f}"
    if currency.lower() in ZERO_DECIMAL:
        return f"{prefix}{minor:,.0f}"
    return f"{prefix}{minor / 100:,.2f}"


def show(value: Any, unit: str | None, currency: str, *, code: bool = True) -> str:
    if value is None:
        return "—"
    if unit == "money":
        return money(value, currency, code=code)
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
    # Both days included, as the web app shows them (the JSON's end is the midnight after).
    out.print(
        f"[bold]{escape(d['title'])}[/] · {escape(conn.get('name', ''))} "
        f"({conn.get('mode', '?')} mode) · {where}{escape(only)}",
        soft_wrap=False,
    )
    out.print(
        f"{p['start'][:10]} → {_last_day(p, '')} ({p['days']:g} days, by {p['grain']}), "
        f"compared with {p['previous_start'][:10]} → {_last_day(p, 'previous_')}",
        soft_wrap=False,
    )
    for note in src.get("notes") or []:
        out.print(f"[yellow]{escape(note)}[/]", soft_wrap=False)
    for c in data["charts"] if picked else ():
        if c.get("per_currency") is False:
            out.print(
                f"[yellow]{escape(c['title'])}: all currencies, not {picked} only: "
                f"{escape(c.get('currency_note') or '')}[/]",
                soft_wrap=False,
            )


def _last_day(period: Mapping[str, Any], prefix: str) -> str:
    """The last day a period includes (``last_day``; from its end for older JSON)."""
    day = period.get(f"{prefix}last_day")
    if day:
        return str(day)
    end = datetime.fromisoformat(str(period[f"{prefix}end"]).replace("Z", "+00:00"))
    return (end - timedelta(seconds=1)).date().isoformat()


def _before(chart: Mapping[str, Any], previous: Any, currency: str) -> str:
    """What a number is compared with: the period before, its value at the period's start
    (present-day values, rebuilt), or nothing ("now")."""
    if chart.get("compare") is None:
        if chart.get("current"):
            return "now"
        return show(previous, chart.get("unit"), currency, code=False)
    text = show(previous, chart.get("unit"), currency, code=False)
    return f"{text} at start" if chart["compare"] == "start" else text


def _numbers(out: Console, charts: Sequence[Mapping[str, Any]]) -> None:
    """The headline numbers. Amounts go without their code (the Currency column gives it), and
    numbers never wrap: in a narrow terminal only a metric's name does."""
    table = Table(show_edge=False, pad_edge=False, title="Headline numbers", title_justify="left")
    table.add_column("Metric", ratio=1)
    for name in ("Currency", "Value", "Compared with", "Change"):
        table.add_column(name, justify="right", no_wrap=True)
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
                show(value, c.get("unit"), cur, code=False),
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


#: The steps of the MRR movements waterfall, in words (its rows carry only their keys).
MOVEMENTS = {
    "mrr_start": "MRR at start",
    "new": "New",
    "reactivation": "Reactivation",
    "expansion": "Expansion",
    "contraction": "Contraction",
    "churned": "Churned",
    "growth": "Growth",
    "mrr_end": "MRR at end",
}


def heading(text: str) -> str:
    """A column's heading in words: ``reporting_category`` reads "Reporting category"."""
    words = text.replace("_", " ")
    return words[:1].upper() + words[1:]


def _cell(row: Mapping[str, Any], column: Mapping[str, Any], money_code: bool) -> str:
    name, value = column["name"], row.get(column["name"])
    if column["unit"]:
        cur = str(row.get("currency") or "all")
        return show(value, column["unit"], cur, code=money_code)
    if value is None:
        return "—"
    if name == "currency":
        return label(str(value)) or "all"
    if name in ("movement", "step"):
        return escape(str(row.get("label") or MOVEMENTS.get(str(value), value)))
    return escape(str(value))


def _rows(out: Console, chart: Mapping[str, Any], limit: int = 12) -> None:
    """A table, or a waterfall's steps for the whole period, in words; a column empty in every
    row shown is left out, and amounts go without their code beside a Currency column."""
    hidden = ("label", "kind", "bucket") if chart["type"] == "waterfall" else ("label", "kind")
    rows = chart.get("rows") or []
    if chart["type"] == "waterfall":
        rows = [r for r in rows if r.get("bucket", None) is None]
        limit = len(rows)
    shown = rows[:limit]
    columns = [
        c
        for c in chart.get("columns", [])
        if c["name"] not in hidden and any(r.get(c["name"]) is not None for r in shown)
    ]
    money_code = not any(c["name"] == "currency" for c in columns)
    headings = [heading(c["label"] or c["name"]) for c in columns]
    cells = [[_cell(row, c, money_code) for c in columns] for row in shown]
    out.print()
    if not rows:
        out.print(f"[bold]{escape(chart['title'])}[/]: no rows in this period")
    elif _width(headings, cells) <= out.width:
        table = Table(show_edge=False, pad_edge=False, title=chart["title"], title_justify="left")
        for col, head in zip(columns, headings, strict=True):
            table.add_column(head, justify="right" if col["unit"] else "left")
        for line in cells:
            table.add_row(*line)
        out.print(table)
    else:
        numeric = [
            bool(c["unit"])
            or any(type(r.get(c["name"])) in (int, float) for r in shown)  # not bools
            for c in columns
        ]
        _records(out, chart["title"], numeric, headings, cells)
    if len(rows) > limit:
        out.print(f"  … {len(rows) - limit} more rows (--json shows them all)")


def _width(headings: Sequence[str], cells: Sequence[Sequence[str]]) -> int:
    """How wide the table is with no cell wrapped (columns are three characters apart)."""
    widths = [len(h) for h in headings]
    for line in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, line, strict=True)]
    return sum(widths) + 3 * (len(widths) - 1)


def _records(
    out: Console,
    title: str,
    numeric: Sequence[bool],
    headings: Sequence[str],
    cells: Sequence[Sequence[str]],
) -> None:
    """A table too wide for the terminal, a row at a time: what it is about (its text
    columns), then each number after its heading; squeezed into columns, both would be cut."""
    out.print(f"[italic]{escape(title)}[/]")
    for line in cells:
        about = [c for number, c in zip(numeric, line, strict=True) if not number]
        figures = [
            f"{h} {c}"
            for number, h, c in zip(numeric, headings, line, strict=True)
            if number and c != "—"
        ]
        out.print(f"• {' · '.join(about)}", soft_wrap=False)
        if figures:
            out.print(f"  {' · '.join(figures)}", soft_wrap=False)


def _unavailable(out: Console, charts: Sequence[Mapping[str, Any]]) -> None:
    """Charts the key cannot answer, by reason: each reason with its fix once, then the charts
    it leaves out (one missing permission blanks a dozen charts of a dashboard)."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for c in charts:
        if "unavailable" in c:
            titles = reasons.setdefault((c["unavailable"]["reason"], c["unavailable"]["fix"]), [])
            if c["title"] not in titles:
                titles.append(c["title"])
    for (reason, fix), titles in reasons.items():
        out.print(f"[yellow]{escape(reason)}[/] {escape(fix)}", soft_wrap=False)
        out.print(f"  Not shown: {escape(', '.join(titles))}.", soft_wrap=False)


def render(out: Console, data: Mapping[str, Any]) -> None:
    """Print a dashboard's JSON (``evaluate``/``load_dashboard``) to a console."""
    _header(out, data)
    charts = data["charts"]
    _unavailable(out, charts)
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


def render_chart(out: Console, chart: Mapping[str, Any]) -> None:
    """Print one chart as it arrives in a progressive load (``render`` prints them all)."""
    if "unavailable" in chart:
        return
    if chart["type"] == "number":
        _numbers(out, [chart])
    elif "series" in chart:
        _series(out, chart)
    else:
        _rows(out, chart)


def reading_line(event: Mapping[str, Any], drawn: int, charts: int) -> str:
    """What a progressive load is doing: each list still read, with its pages so far."""
    reads = event.get("reads", [])
    pending = [r for r in reads if not r["done"]]
    parts = [f"{r['dataset']} {r['pages']}/{r['expected_pages'] or '?'} pages" for r in pending]
    done = len(reads) - len(pending)
    text = f"{drawn} of {charts} charts; {done} of {len(reads)} lists read"
    return text + (f"; reading {', '.join(parts)}" if parts else "")


def summary(out: Console, data: Mapping[str, Any]) -> None:
    """What a progressive load ends with, its charts already printed: the period, where the
    data came from, and the charts the key cannot answer."""
    _header(out, data)
    _unavailable(out, data["charts"])
