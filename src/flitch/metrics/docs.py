"""The metrics' documentation, written from the registry (the README's table is this output).

python -m flitch.metrics.docs     # prints the Markdown table of every metric and report
"""

from __future__ import annotations

from flitch.metrics.definitions import METRICS, REPORTS


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """One row per metric and report: name, label, unit, what it is and the policy behind it
    (and why, for the one or two that are not per currency)."""
    lines = ["| Metric | Label | Unit | Definition |", "|---|---|---|---|"]
    for m in METRICS:
        unit = m.unit.value + (", now" if m.current else "")
        text = m.definition + (f" Not per currency: {m.currency_note}" if m.currency_note else "")
        lines.append(f"| `{m.name}` | {m.label} | {unit} | {_cell(text)} |")
    for r in REPORTS:
        lines.append(f"| `{r.name}` | {r.label} | table | {_cell(r.definition)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
