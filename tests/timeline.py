"""The suite's time: one instant that every test's clock and every generated account start from.

``FLITCH_TEST_AT`` picks it, so the same suite can run at any date:

- unset: ``REFERENCE_NOW`` + 1 h — the generated accounts' fixed present, an hour on
  (reproducible: the default run never depends on the day it runs);
- ``today``: this machine's clock;
- ``+1y``, ``+10y``, ``+90d``, ``-2h``…: this machine's clock moved by that much (a year is
  365 days, so ``+10y`` lands a couple of days off the calendar date — on purpose, nowhere
  special);
- an ISO 8601 instant (``2028-02-29T23:59:30Z``): that moment, e.g. a month's last second.

The test process's clock (``flitch.clock``) starts at :data:`TEST_NOW` and runs on; every
``flitch`` process a test starts inherits it through ``FLITCH_CLOCK_OFFSET``; every emulator
follows it. Generated accounts live at :data:`ACCOUNT_NOW`, an hour earlier (their newest
objects are an hour old, as a real account's would be between two refreshes).
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

from flitch.emulator.generator import REFERENCE_NOW

ENV = "FLITCH_TEST_AT"
HOUR = 3600
DAY = 86400

_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY, "y": 365 * DAY}


def resolve(text: str | None, wall: float) -> int:
    """The instant ``FLITCH_TEST_AT`` names, in Unix seconds (``wall``: this machine's now)."""
    if text is None or not text.strip():
        return REFERENCE_NOW + HOUR
    value = text.strip()
    if value == "today":
        return int(wall)
    if re.fullmatch(r"-?\d{9,11}", value):
        return int(value)
    shift = re.fullmatch(r"([+-]\d+)([smhdwy])", value)
    if shift:
        return int(wall) + int(shift.group(1)) * _UNITS[shift.group(2)]
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{ENV}={value!r}: write 'today', a shift such as +1y or +90d, Unix seconds, "
            "or an ISO 8601 instant such as 2028-02-29T23:59:30Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


#: When the suite's clock starts (resolved once: the first process writes it back as seconds,
#: so pytest-xdist's workers and every subprocess agree on it).
TEST_NOW: int = resolve(os.environ.get(ENV), time.time())
os.environ[ENV] = str(TEST_NOW)

#: The present of every generated account (the default: ``REFERENCE_NOW`` itself).
ACCOUNT_NOW: int = TEST_NOW - HOUR

#: How far this run is from the default one (0 unless ``FLITCH_TEST_AT`` is set).
SHIFT: int = TEST_NOW - (REFERENCE_NOW + HOUR)


def describe() -> str:
    at = datetime.fromtimestamp(TEST_NOW, UTC).isoformat().replace("+00:00", "Z")
    return f"clock starts at {at} (FLITCH_TEST_AT={os.environ.get(ENV)})"
