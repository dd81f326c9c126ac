"""CLI start-up: how long ``flitch`` takes before it does anything.

Each figure comes from fresh interpreters (a start-up cost only shows in a new process):

1. **Import.** ``python -X importtime -c "import flitch.cli"`` (what the ``flitch`` script
   imports): the cumulative import time of ``flitch.cli`` as Python itself reports it.
2. **Wall.** ``python -m flitch --help``, ``connections --help`` and ``datasets --help``, end to
   end (interpreter start, imports, building the command, printing the help).

Baseline, in the same run: ``python -c pass``, the interpreter's own start-up, timed the same way
and interleaved with the commands so machine noise hits both alike. Ratio = command ÷ baseline;
"above baseline" is the part Flitch itself costs. Median and minimum of ``--runs`` runs.

    .venv/bin/python bench/bench_cli_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

COMMANDS: dict[str, list[str]] = {
    "flitch --help": ["--help"],
    "flitch connections --help": ["connections", "--help"],
    "flitch datasets --help": ["datasets", "--help"],
}
_IMPORT_LINE = re.compile(r"^import time:\s+\d+\s+\|\s+(\d+)\s+\|\s*flitch\.cli$", re.MULTILINE)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # No colours or terminal-size probing differences between runs; no stale bytecode writes.
    env.update({"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"})
    return env


def wall(argv: list[str]) -> float:
    """Seconds one fresh process takes to run ``argv`` to the end."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=_env())
    return time.perf_counter() - started


def import_ms() -> float:
    """Cumulative import time of ``flitch.cli`` in a fresh interpreter, in milliseconds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import flitch.cli"],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    found = _IMPORT_LINE.search(done.stderr)
    if found is None:
        raise SystemExit("python -X importtime printed no line for flitch.cli")
    return int(found.group(1)) / 1000


def _row(label: str, values: list[float], base: float | None, unit: str = "ms") -> str:
    median = statistics.median(values)
    text = f"  {label:<28} median {median:7.1f} {unit}   min {min(values):7.1f} {unit}"
    if base is not None:
        text += f"   ratio {median / base:5.2f}×   above baseline {median - base:6.1f} {unit}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9, help="Runs of each measurement.")
    args = parser.parse_args()

    # Warm the disk cache and the bytecode once, outside the figures.
    wall([sys.executable, "-m", "flitch", "--help"])
    import_ms()

    base_runs: list[float] = []
    walls: dict[str, list[float]] = {label: [] for label in COMMANDS}
    imports: list[float] = []
    for _ in range(args.runs):
        base_runs.append(wall([sys.executable, "-c", "pass"]) * 1000)
        for label, extra in COMMANDS.items():
            walls[label].append(wall([sys.executable, "-m", "flitch", *extra]) * 1000)
        imports.append(import_ms())

    base = statistics.median(base_runs)
    print(f"CLI start-up, {args.runs} runs each (python {sys.version.split()[0]})")
    print("Import (python -X importtime, cumulative):")
    print(_row("import flitch.cli", imports, None))
    print("Wall time of a fresh process:")
    print(_row("baseline: python -c pass", base_runs, None))
    for label, values in walls.items():
        print(_row(label, values, base))


if __name__ == "__main__":
    main()
