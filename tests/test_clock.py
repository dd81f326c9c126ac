"""One clock for Flitch and its emulator: pinned, shifted, read by SQL and by other processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from flitch import clock as clocks
from flitch.config import Settings
from flitch.dashboards.period import preset
from flitch.emulator.server import Emulator
from flitch.store.memory import MemoryDatasets
from tests.conftest import TEST_KEY, clock_env
from tests.timeline import ACCOUNT_NOW, TEST_NOW, resolve

LEAP_EVE = datetime(2028, 2, 29, 23, 59, 59, 250000, tzinfo=UTC).timestamp()
YEAR = 365 * 86400


def test_a_frozen_clock_moves_only_when_told() -> None:
    clock = clocks.Clock.frozen(1000.0)
    assert clock() == clock.now() == 1000.0
    clock.advance(5)
    assert clock() == 1005.0
    clock.set(42.0)
    assert clock() == 42.0


def test_a_running_clock_keeps_its_offset_from_the_machines() -> None:
    clock = clocks.Clock.starting_at(LEAP_EVE)
    first = clock()
    assert abs(first - LEAP_EVE) < 1
    time.sleep(0.01)
    assert clock() > first
    assert abs(clock.offset - (LEAP_EVE - time.time())) < 1
    clock.advance(3600)
    assert clock() - LEAP_EVE > 3599


@pytest.mark.parametrize("text", ["abc", "1e999", "nan", "1y"])
def test_a_bad_offset_says_what_to_write(text: str) -> None:
    with pytest.raises(clocks.ClockError, match="FLITCH_CLOCK_OFFSET"):
        clocks.parse_offset(text)
    assert clocks.parse_offset("") == 0.0
    assert clocks.parse_offset(" -86400 ") == -86400.0


def test_the_offset_is_a_documented_setting() -> None:
    assert Settings.from_env({"FLITCH_CLOCK_OFFSET": "31536000"}).clock_offset == YEAR


def test_the_suites_clock_starts_at_its_instant() -> None:
    # this process's clock (set by conftest) started at TEST_NOW, whatever the machine's date
    assert TEST_NOW <= clocks.now() < TEST_NOW + 6 * 3600
    assert ACCOUNT_NOW == TEST_NOW - 3600
    assert resolve("2028-02-29T23:59:30Z", 0) == int(LEAP_EVE) - 29
    assert resolve("+1y", 1000.0) == 1000 + YEAR
    assert resolve("-2h", 10_000.0) == 10_000 - 7200
    with pytest.raises(ValueError, match="FLITCH_TEST_AT"):
        resolve("next tuesday", 0)


def test_another_process_started_with_the_offset_reads_the_same_time() -> None:
    code = "from flitch import clock; print(clock.now())"
    env = {**os.environ, **clock_env()}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert abs(float(out.stdout) - clocks.now()) < 5


def test_a_flitch_process_with_a_bad_offset_fails_clearly() -> None:
    env = {**os.environ, clocks.OFFSET_ENV: "soon"}
    out = subprocess.run(
        [sys.executable, "-c", "from flitch import clock; clock.now()"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "FLITCH_CLOCK_OFFSET must be a number of seconds" in out.stderr


def test_the_emulator_answers_on_flitchs_clock(emulator: Emulator) -> None:
    answer = httpx.get(
        f"{emulator.url}/v1/customers",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    )
    stripe_time = parsedate_to_datetime(answer.headers["date"]).timestamp()
    assert abs(stripe_time - clocks.now()) < 5  # the suite's clock, not the machine's


def test_sql_asks_flitchs_clock_for_the_time(pin_clock: Callable[[float], clocks.Clock]) -> None:
    clock = pin_clock(LEAP_EVE)
    data = MemoryDatasets()
    try:
        result = data.query(
            "SELECT now(), current_timestamp, current_date, today(), "
            "CAST(now() - INTERVAL 30 DAY AS DATE), epoch(now())"
        )
        moment = datetime.fromtimestamp(LEAP_EVE, UTC)
        assert [list(row) for row in result.rows] == [
            [
                moment.isoformat().replace("+00:00", "Z"),
                moment.isoformat().replace("+00:00", "Z"),
                "2028-02-29",
                "2028-02-29",
                "2028-01-30",
                LEAP_EVE,
            ]
        ]
        clock.advance(1)  # past midnight: 1 March
        assert list(data.query("SELECT current_date").rows[0]) == ["2028-03-01"]
    finally:
        data.close()


def test_periods_end_at_the_clocks_midnight(pin_clock: Callable[[float], clocks.Clock]) -> None:
    pin_clock(LEAP_EVE)
    period = preset("30d")
    assert datetime.fromtimestamp(period.end, UTC).date() == date(2028, 3, 1)
    assert datetime.fromtimestamp(period.start, UTC).date() == date(2028, 1, 31)
