"""`flitch dashboard` and `flitch dashboards …`: the real commands against the emulator."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flitch.cli import app
from flitch.emulator.server import Emulator
from tests.conftest import LIMITED_KEY, TEST_KEY
from tests.timeline import ACCOUNT_NOW


class Flitch:
    """Runs `flitch …` against one FLITCH_HOME and one emulator."""

    def __init__(self, home: Path, emu: Emulator) -> None:
        self.home = home
        self.emu = emu

    def __call__(self, *args: str, key: str = "") -> Any:
        env = {
            "FLITCH_HOME": str(self.home),
            "FLITCH_STRIPE_API_BASE": self.emu.url,
            "FLITCH_SECRET_KEY": None,
            "FLITCH_STRIPE_KEY": None,
            "FLITCH_TEST_RPS": "10000",
            "FLITCH_LIVE_RPS": "10000",
            "FLITCH_ENDPOINT_RPS": "10000",
            "FLITCH_MAX_RETRIES": "1",
            "COLUMNS": "160",
        }
        result = CliRunner().invoke(app, list(args), input=key, env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def json(self, *args: str) -> tuple[int, Any]:
        result = self(*args, "--json")
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def flitch(tmp_path: Path, emulator: Emulator) -> Flitch:
    run = Flitch(tmp_path / "home", emulator)
    result = run("connect", "shop", key=TEST_KEY)
    assert result.exit_code == 0, result.output
    return run


def _last_full_month() -> tuple[date, date]:
    """The last whole calendar month of the generated account's history (before ACCOUNT_NOW)."""
    end = datetime.fromtimestamp(ACCOUNT_NOW, UTC).date().replace(day=1)
    return (end - timedelta(days=1)).replace(day=1), end


_FIRST, _NEXT = _last_full_month()
PERIOD = ("--from", _FIRST.isoformat(), "--to", (_NEXT - timedelta(days=1)).isoformat())
START = int(datetime(_FIRST.year, _FIRST.month, 1, tzinfo=UTC).timestamp())
END = int(datetime(_NEXT.year, _NEXT.month, 1, tzinfo=UTC).timestamp())


def in_the_month(emulator: Emulator, kind: str, field: str = "created") -> list[dict[str, Any]]:
    return [
        o for o in emulator.account.test.ordered(kind).objects if START <= (o.get(field) or 0) < END
    ]


def by_currency(objects: list[dict[str, Any]], field: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for o in objects:
        out[o["currency"]] = out.get(o["currency"], 0) + o[field]
    return dict(sorted(out.items()))


def test_payments_json_has_headline_metrics_and_series(flitch: Flitch, emulator: Emulator) -> None:
    code, data = flitch.json("dashboard", "shop", "payments", *PERIOD)
    assert code == 0, data
    charges = in_the_month(emulator, "charge")
    succeeded = [c for c in charges if c["status"] == "succeeded" and c["paid"]]
    metrics = data["metrics"]
    assert metrics["gross_volume"] == by_currency(succeeded, "amount")
    assert sum(metrics["successful_payments"].values()) == len(succeeded)
    # Stripe lists neither deleted customers nor those on test clocks
    listed = [
        c
        for c in in_the_month(emulator, "customer")
        if not c.get("deleted") and not c.get("test_clock")
    ]
    # per currency; those not billed yet have none
    new: dict[str, int] = {}
    for c in listed:
        new[c.get("currency") or "none"] = new.get(c.get("currency") or "none", 0) + 1
    assert metrics["new_customers"] == dict(sorted(new.items()))
    assert data["data"]["source"] == "live"
    assert data["connection"] == {"name": "shop", "mode": "test", "refresh": "off"}
    assert data["period"]["grain"] == "day"
    area = next(c for c in data["charts"] if c["type"] == "area")
    for series in area["series"]:
        assert len(series["points"]) == (_NEXT - _FIRST).days  # one a day, every day present
        total = sum(v for _, v in series["points"])
        assert total == metrics["gross_volume"][series["currency"]]


def test_revenue_json_names_net_volume_fees_and_payouts(flitch: Flitch, emulator: Emulator) -> None:
    code, data = flitch.json("dashboard", "shop", "revenue", *PERIOD)
    assert code == 0, data
    payouts = [
        p
        for p in in_the_month(emulator, "payout", "arrival_date")
        if p["status"] not in ("failed", "canceled")
    ]
    assert data["metrics"]["payouts"] == by_currency(payouts, "amount")
    txns = in_the_month(emulator, "balance_transaction")
    fees = by_currency([t for t in txns if t["fee"]], "fee")
    assert data["metrics"]["fees"] == fees
    assert set(data["metrics"]) == {"net_volume", "fees", "payouts", "gross_volume"}


def test_billing_json_has_mrr_and_arr(flitch: Flitch) -> None:
    code, data = flitch.json("dashboard", "shop", "billing", *PERIOD)
    assert code == 0, data
    assert set(data["metrics"]) >= {"mrr", "arr", "active_subscribers", "arpu"}
    for currency, mrr in data["metrics"]["mrr"].items():
        assert abs(data["metrics"]["arr"][currency] - 12 * mrr) <= 12
    # present-day values against the period's start; Stripe's rolling 30-day churn rate
    for name in ("mrr", "arr", "active_subscribers", "arpu"):
        before = data["metrics_previous"][name]
        assert before is not None, name
        assert set(data["metrics_change"][name]) == set(data["metrics"][name])
    assert "subscriber_churn_rate_30d" in data["metrics"]
    rolling = next(c for c in data["charts"] if c.get("metric") == "subscriber_churn_rate_30d")
    assert rolling["compare"] == "previous_period"
    assert "rolling" in rolling["label"]


def test_terminal_output_draws_numbers_and_sparklines(flitch: Flitch) -> None:
    result = flitch("dashboard", "shop", "payments", *PERIOD)
    assert result.exit_code == 0, result.output
    assert "Gross volume" in result.output
    _, data = flitch.json("dashboard", "shop", "payments", *PERIOD)
    assert data["currencies"]
    for currency in data["currencies"]:
        assert f"{currency.upper()} " in result.output
    assert any(bar in result.output for bar in "▁▂▃▄▅▆▇█")
    assert "live from Stripe" in result.output


def test_unknown_dashboard_says_what_exists(flitch: Flitch) -> None:
    code, data = flitch.json("dashboard", "shop", "nope")
    assert code != 0
    assert "payments" in data["error"]["fix"]


def test_bad_dates_say_how_to_write_them(flitch: Flitch) -> None:
    code, data = flitch.json("dashboard", "shop", "payments", "--from", "May 1")
    assert code != 0
    assert "YYYY-MM-DD" in data["error"]["fix"]


def test_user_dashboards_from_a_copy_to_an_import(
    flitch: Flitch, emulator: Emulator, tmp_path: Path
) -> None:
    code, made = flitch.json("dashboards", "copy", "payments", "my-payments")
    assert code == 0, made
    chart = json.dumps(
        {
            "title": "Refunded by day",
            "type": "bar",
            "dataset": "charges",
            "measures": [{"agg": "sum", "column": "amount_refunded"}],
            "group": {"grain": "day"},
        }
    )
    code, saved = flitch.json("dashboards", "add-chart", "my-payments", chart, "--position", "0")
    assert code == 0, saved
    assert saved["dashboard"]["charts"][0]["id"] == "refunded-by-day"
    code, data = flitch.json("dashboard", "shop", "my-payments", *PERIOD)
    assert code == 0, data
    refunded = data["charts"][0]
    totals = {s["currency"]: sum(v for _, v in s["points"]) for s in refunded["series"]}
    assert totals == by_currency(in_the_month(emulator, "charge"), "amount_refunded")
    exported = tmp_path / "mine.json"
    assert flitch("dashboards", "export", "my-payments", "-o", str(exported)).exit_code == 0
    code, imported = flitch.json("dashboards", "import", str(exported), "--name", "again")
    assert code == 0, imported
    code, listed = flitch.json("dashboards", "list")
    names = [d["name"] for d in listed["dashboards"]]
    assert names == ["payments", "billing", "revenue", "retention", "my-payments", "again"]
    code, _ = flitch.json("dashboards", "delete", "again")
    assert code == 0
    code, refused = flitch.json("dashboards", "copy", "billing", "payments")
    assert code != 0
    assert "built-in" in refused["error"]["message"]


def test_charts_the_key_cannot_read_say_how_to_fix_it(flitch: Flitch) -> None:
    result = flitch("connect", "limited", key=LIMITED_KEY)
    assert result.exit_code == 0, result.output
    code, data = flitch.json("dashboard", "limited", "billing", *PERIOD)
    assert code == 0, data
    blocked = [c for c in data["charts"] if "unavailable" in c]
    assert blocked
    for chart in blocked:
        assert chart["unavailable"]["dataset"] == "subscriptions"
        assert "Read Subscriptions" in chart["unavailable"]["fix"]
    drawn = {c["id"] for c in data["charts"] if "unavailable" not in c}
    assert "invoices-by-status" in drawn
    assert "mrr" not in data["metrics"]
    text = flitch("dashboard", "limited", "billing", *PERIOD).output
    assert "Read Subscriptions" in text


def test_one_currency_and_the_chart_that_cannot_follow_it(flitch: Flitch) -> None:
    code, whole = flitch.json("dashboard", "shop", "billing", *PERIOD)
    assert code == 0, whole
    code, usd = flitch.json("dashboard", "shop", "billing", *PERIOD, "--currency", "USD")
    assert code == 0, usd
    assert usd["currency"] == "usd"
    for name, values in usd["metrics"].items():
        if name == "coupon_redemptions":  # not per currency: the same whatever is picked
            assert values == whole["metrics"][name] == {"all": values["all"]}
        else:
            assert values == {k: v for k, v in whole["metrics"][name].items() if k == "usd"}
    coupons = next(c for c in usd["charts"] if c["id"] == "coupon-redemptions")
    assert coupons["per_currency"] is False
    assert coupons["currency_note"]

    result = flitch("dashboard", "shop", "billing", *PERIOD, "--currency", "usd")
    assert result.exit_code == 0, result.output
    assert "USD only" in result.output
    assert "Coupon redemptions: all currencies, not USD only: Stripe counts" in result.output
    code, bad = flitch.json("dashboard", "shop", "billing", "--currency", "dollars")
    assert code != 0
    assert "three-letter" in bad["error"]["fix"]
