"""Docs that cannot drift: the README's metrics table is the registry's own output."""

from __future__ import annotations

from pathlib import Path

from flitch.metrics import METRICS, REPORTS
from flitch.metrics.docs import markdown

README = (Path(__file__).parent.parent.parent / "README.md").read_text()


def test_every_metric_and_report_is_documented() -> None:
    for item in (*METRICS, *REPORTS):
        assert f"| `{item.name}` |" in README, f"{item.name} is missing from README.md"


def test_the_readme_table_is_the_registry_table() -> None:
    assert markdown() in README, (
        "README.md's metrics table differs from the registry: paste the output of "
        "`python -m flitch.metrics.docs` over it."
    )


def test_every_metric_has_a_definition_and_a_drill_down() -> None:
    for metric in METRICS:
        assert len(metric.definition) > 30, metric.name
        assert metric.drill_dataset, metric.name
        assert metric.drill_where, metric.name
    for report in REPORTS:
        assert "currency" in {c.name for c in report.columns}, report.name
