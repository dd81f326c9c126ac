"""A dashboard's money in one reporting currency, converted at Stripe's settlement rates.

Off by default: every money number stays per currency, as the charts compute it. With a
reporting currency picked, ``convert_board`` rewrites the evaluated answer
(:func:`flitch.dashboards.evaluate.evaluate`) after the fact, so the charts' statements, and
what live and cached loads read for them, stay the same; the rates come from the connection's
balance transactions and charges (``reads``), read whole, so the nearest settlement of a pair
is found whatever period is shown (:mod:`flitch.metrics.conversion`).

Each money number is converted at one instant: a number over a period at its middle, a
present-day number (MRR) at the period's end, its comparison at the previous period's middle
(or the period's start), a bucket of a series at the bucket's start, a table's rows at the
period's middle. A currency never settled into the reporting one has no rate: it stays apart,
under its own key, and is listed as such. Every converted chart says so (``converted``: the
label, the rates it used, what stayed apart); the answer's ``reporting`` lists every rate used
with the balance transaction it drills down to. Counts and ratios are not touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flitch.dashboards.dataset_chart import changes
from flitch.dashboards.period import Period
from flitch.metrics.compute import Queryable
from flitch.metrics.conversion import LABEL, Converted, Rate, RateBook, load_rates
from flitch.metrics.model import Unit
from flitch.query.reads import DatasetRead, merge

#: What the rates are read from.
DATASETS = ("balance_transactions", "charges")


def reads() -> list[DatasetRead]:
    """A live load's extra reads for the rates: both lists whole."""
    return [DatasetRead(d) for d in DATASETS]


def plan(
    planned: Sequence[DatasetRead], currency: str | None, skip: Mapping[str, Any]
) -> list[DatasetRead]:
    """A dashboard's reads, with the rates' when a reporting currency is picked (and the
    connection can read them)."""
    if currency is None or any(d in skip for d in DATASETS):
        return list(planned)
    return merge([*planned, *reads()])


def apply(
    answer: dict[str, Any],
    source: Queryable,
    currency: str | None,
    period: Period,
    skip: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """``answer`` in the reporting ``currency`` (as it is when none is picked); a connection
    that cannot read the rates' datasets gets every currency apart, and the reason."""
    if currency is None:
        return answer
    missing = next((d for d in DATASETS if d in skip), None)
    return convert_board(
        answer, source, currency, period, unreadable=skip[missing]["reason"] if missing else None
    )


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _is_currency(key: str) -> bool:
    return len(key) == 3 and key.isalpha()


def rate_json(rate: Rate) -> dict[str, Any]:
    return {
        "currency": rate.source,
        "rate": rate.rate,
        "at": rate.at,
        "transaction": rate.transaction,
        "drill": {"dataset": "balance_transactions", "where": f"id = '{rate.transaction}'"},
    }


def _either(drills: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """One drill-down covering several (the rows of every currency converted into a total)."""
    mine = [d for d in drills if d]
    if not mine:
        return None
    if len(mine) == 1:
        return dict(mine[0])
    where = " OR ".join(f"({d['where']})" for d in mine)
    return {**mine[0], "where": where}


class Converter:
    """Converts one answer's charts, collecting the rates used and the currencies apart."""

    def __init__(self, book: RateBook, period: Period) -> None:
        self.book = book
        self.period = period
        self.used: dict[str, Rate] = {}
        self.apart: set[str] = set()

    @property
    def target(self) -> str:
        return self.book.target

    def amounts(
        self, values: Mapping[str, Any] | None, at: float
    ) -> tuple[dict[str, Any] | None, Converted | None]:
        """Per-currency values as ``{target: total, <apart>: value…}`` (other keys as they
        are), and the conversion made."""
        if values is None:
            return None, None
        money = {k: v for k, v in values.items() if _is_currency(k) and v is not None}
        other = {k: v for k, v in values.items() if k not in money}
        done = self.book.convert(money, at)
        self._note(done)
        out: dict[str, Any] = {}
        if len(done.apart) < len(money) or not money:
            out[self.target] = done.total
        return {**out, **done.apart, **other}, done

    def _note(self, done: Converted) -> None:
        for r in done.used:
            self.used[r.transaction] = r
        self.apart.update(done.apart)

    def _mark(self, chart: dict[str, Any], rates: Iterable[Rate], apart: Iterable[str]) -> None:
        chart["converted"] = {
            "currency": self.target,
            "label": LABEL,
            "rates": sorted({r.transaction for r in rates}),
            "apart": sorted(set(apart)),
        }

    def number(self, chart: dict[str, Any]) -> None:
        p = self.period
        mid = (p.start + p.end) / 2
        at = p.end if chart.get("current") else mid
        before = p.start if chart.get("compare") == "start" else (p.previous.start + p.start) / 2
        values, now = self.amounts(chart.get("values"), at)
        previous, then = self.amounts(chart.get("previous"), before)
        drills = chart.get("drill") or {}
        converted = {r.source for r in now.used} if now is not None else set()
        drill = {k: v for k, v in drills.items() if k not in converted and k != self.target}
        merged = _either([drills.get(self.target), *(drills.get(c) for c in sorted(converted))])
        if merged is not None:
            drill[self.target] = merged
        chart.update(
            values=values,
            previous=previous,
            change=changes(chart.get("unit") or "", values or {}, previous),
            drill=drill,
        )
        used = [*(now.used if now else ()), *(then.used if then else ())]
        apart = [*(now.apart if now else ()), *(then.apart if then else ())]
        self._mark(chart, used, apart)

    def series(self, chart: dict[str, Any]) -> None:
        money = [s for s in chart["series"] if _is_currency(str(s.get("currency")))]
        if not money:
            return
        keep = [s for s in chart["series"] if s not in money]
        by_currency = {s["currency"]: s for s in money}
        bucket_keys = [p[0] for p in money[0]["points"]]
        totals: list[list[Any]] = []
        used: list[Rate] = []
        apart: set[str] = set()
        for i, bucket in enumerate(bucket_keys):
            at_bucket = {c: s["points"][i][1] for c, s in by_currency.items()}
            amounts = {c: v for c, v in at_bucket.items() if v is not None}
            done = self.book.convert(amounts, _seconds(bucket))
            self._note(done)
            used.extend(done.used)
            apart.update(done.apart)
            totals.append([bucket, done.total])
        merged = [c for c in by_currency if c not in apart]
        out = []
        if merged:
            first = by_currency[merged[0]]
            out.append(
                {
                    **first,
                    "key": self.target,
                    "currency": self.target,
                    "points": totals,
                    "drill": _either(by_currency[c].get("drill") for c in merged),
                }
            )
        out.extend(by_currency[c] for c in sorted(apart))
        chart["series"] = out + keep
        self._mark(chart, used, apart)

    def rows(self, chart: dict[str, Any]) -> None:
        money = [c["name"] for c in chart.get("columns", []) if c.get("unit") == Unit.MONEY.value]
        rows = chart.get("rows") or []
        if not money or not any(_is_currency(str(r.get("currency"))) for r in rows):
            return
        at = (self.period.start + self.period.end) / 2
        used: list[Rate] = []
        apart: set[str] = set()
        for row in rows:
            currency = str(row.get("currency"))
            if not _is_currency(currency) or currency == self.target:
                continue
            rate = self.book.nearest(currency, at)
            if rate is None:
                apart.add(currency)
                continue
            for name in money:
                if isinstance(row.get(name), int | float):
                    row[name] = round(row[name] * rate.rate)
            row["currency"], row["converted_from"] = self.target, currency
            used.append(rate)
            self.used[rate.transaction] = rate
        self.apart.update(apart)
        if used or apart:  # a table of the reporting currency alone is not converted
            self._mark(chart, used, apart)

    def chart(self, chart: dict[str, Any]) -> None:
        """Convert one chart's money: a number's values, a metric's series, a table's rows
        (a dataset chart's series, by measure and currency, stay per currency)."""
        if "unavailable" in chart:
            return
        if chart.get("unit") == Unit.MONEY.value and "values" in chart:
            self.number(chart)
        elif chart.get("unit") == Unit.MONEY.value and "series" in chart:
            self.series(chart)
        elif "rows" in chart:
            self.rows(chart)


def convert_board(
    answer: dict[str, Any],
    source: Queryable,
    currency: str,
    period: Period,
    *,
    unreadable: str | None = None,
) -> dict[str, Any]:
    """``answer`` with its money in ``currency`` (see the module's notes), in place.
    ``unreadable``: why the rates cannot be read (every currency then stays apart)."""
    target = currency.lower()
    rates = [] if unreadable else load_rates(source, target)
    conv = Converter(RateBook(target, rates), period)
    for chart in answer["charts"]:
        conv.chart(chart)
    numbers = [c for c in answer["charts"] if "converted" in c and "values" in c]
    for c in numbers:
        if c.get("metric") in answer.get("metrics", {}):
            answer["metrics"][c["metric"]] = c["values"]
            answer["metrics_previous"][c["metric"]] = c["previous"]
            answer["metrics_change"][c["metric"]] = c["change"]
    answer["reporting"] = {
        "currency": target,
        "label": LABEL,
        "rates": [rate_json(r) for r in sorted(conv.used.values(), key=_order)],
        "apart": sorted(conv.apart),
        "note": (
            f"No rates: {unreadable}"
            if unreadable
            else "Currencies never settled into "
            f"{target.upper()} have no Stripe rate and are shown apart."
            if conv.apart
            else None
        ),
    }
    return answer


def _order(rate: Rate) -> tuple[str, str, str]:
    return (rate.source, rate.at, rate.transaction)
