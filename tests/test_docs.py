"""Docs that cannot drift: every setting and every object is in the README."""

from __future__ import annotations

from pathlib import Path

from flitch.catalog import CHILDREN, OBJECTS, PARENT_OF
from flitch.config import SETTINGS, Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for setting in SETTINGS:
        assert f"`{setting.env}`" in README, f"{setting.env} missing from README"


def test_settings_registry_matches_the_settings_type() -> None:
    assert {s.name for s in SETTINGS} == set(Settings.__dataclass_fields__)
    defaults = Settings()
    for s in SETTINGS:
        default = getattr(defaults, s.name)
        assert str(default) == str(s.default), s.name


def test_every_object_and_column_is_documented() -> None:
    for spec in OBJECTS:
        line = next((ln for ln in README.splitlines() if ln.startswith(f"| {spec.label} |")), None)
        assert line is not None, f"{spec.label} missing from README's objects table"
        assert spec.permission_label in line
        for column in spec.column_names:
            if column in ("id", "created", "livemode", "metadata", "raw"):
                continue
            assert column in line, f"{spec.name}.{column} missing from README"


def test_every_child_table_and_column_is_documented() -> None:
    for child in CHILDREN:
        head = f"| `{child.name}` |"
        line = next((ln for ln in README.splitlines() if ln.startswith(head)), None)
        assert line is not None, f"{child.name} missing from README's child tables"
        assert f"| {PARENT_OF[child.name].label} |" in line
        for column in child.column_names:
            assert column in line, f"{child.name}.{column} missing from README"


def test_settings_from_env() -> None:
    s = Settings.from_env({"FLITCH_HOME": "/tmp/x", "FLITCH_TEST_RPS": "5"})
    assert s.home == Path("/tmp/x")
    assert s.test_requests_per_second == 5.0
