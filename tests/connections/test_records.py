"""Refresh settings, names and picked objects: parsed and formatted in one place."""

from __future__ import annotations

import pytest

from flitch import catalog
from flitch.connections.records import (
    NAME_MAX,
    REFRESH_CHOICES,
    check_name,
    format_refresh,
    parse_objects,
    parse_refresh,
)
from flitch.errors import InputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("off", None),
        ("OFF", None),
        (None, None),
        ("", None),
        ("never", None),
        ("15m", 900),
        ("30m", 1800),
        (" 1h ", 3600),
        ("6h", 21600),
        ("12H", 43200),
        ("1d", 86400),
        ("24h", 86400),
        ("daily", 86400),
        ("hourly", 3600),
    ],
)
def test_refresh_settings_parse(text: str | None, seconds: int | None) -> None:
    assert parse_refresh(text) == seconds


@pytest.mark.parametrize("text", ["5m", "2h", "1w", "15", "fast", "-1h", "1.5h", "15 minutes"])
def test_other_refresh_settings_are_refused_with_the_choices(text: str) -> None:
    with pytest.raises(InputError, match="not a refresh setting") as caught:
        parse_refresh(text)
    assert "off" in caught.value.fix
    for choice in REFRESH_CHOICES:
        assert choice in caught.value.fix


def test_refresh_settings_round_trip() -> None:
    assert format_refresh(None) == "off"
    for text, seconds in REFRESH_CHOICES.items():
        assert format_refresh(seconds) == text
        assert parse_refresh(format_refresh(seconds)) == seconds
    with pytest.raises(ValueError):
        format_refresh(42)


@pytest.mark.parametrize("name", ["Shop", "a", "My shop 2", "prod.eu-west_1", "x" * NAME_MAX])
def test_good_names(name: str) -> None:
    assert check_name(f"  {name} ") == name


@pytest.mark.parametrize(
    "name", ["", "   ", "x" * (NAME_MAX + 1), "_x", ".hidden", "a/b", "a\nb", "CONN_x", "café"]
)
def test_bad_names_state_the_rule(name: str) -> None:
    with pytest.raises(InputError) as caught:
        check_name(name)
    assert "letters (A-Z, a-z), digits, spaces" in caught.value.fix


def test_picked_objects() -> None:
    assert parse_objects(None) == catalog.NAMES
    assert parse_objects("all") == catalog.NAMES
    assert parse_objects("coupons, Customers,customers,payment-intents") == (
        "customers",
        "payment_intents",
        "coupons",
    )
    assert parse_objects(["charges"]) == ("charges",)
    with pytest.raises(InputError, match="No objects were picked"):
        parse_objects(" , ")
    with pytest.raises(InputError, match="Unknown objects: plans, refunds") as caught:
        parse_objects("plans,customers,refunds")
    assert "balance_transactions" in caught.value.fix
