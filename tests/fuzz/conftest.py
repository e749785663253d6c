"""At the end of a run: inputs per fuzz target, time, and crashes (failed fuzz tests).

With ``AIGUILLEUR_FUZZ_REPORT=<file>`` (``tests.fuzz.run`` sets it for each process) the same
figures are also written there as JSON, for one table over every process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fuzz.harness import INPUTS, PROFILE, SECONDS

Row = tuple[str, str, int, float, bool]


def fuzz_table(rows: list[Row]) -> list[str]:
    """One line per test and per target, then the total (inputs, seconds, crashes)."""
    lines = []
    targets: dict[str, list[float]] = {}
    for target, test, count, seconds, crashed in sorted(rows):
        lines.append(f"{target:10} {test:70} {count:>10,} inputs {seconds:8.1f} s{'  CRASH' if crashed else ''}")
        total = targets.setdefault(target, [0, 0.0])
        total[0] += count
        total[1] += seconds
    for target, (count, seconds) in targets.items():
        lines.append(f"{target:10} {'(target total)':70} {int(count):>10,} inputs {seconds:8.1f} s")
    crashes = sum(row[4] for row in rows)
    lines.append(f"total: {sum(row[2] for row in rows):,} inputs in {sum(row[3] for row in rows):.1f} s "
                 f"(CPU-bound test time), {crashes} crashes")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not INPUTS:
        return
    failed = [r.nodeid for r in terminalreporter.stats.get("failed", []) if "tests/fuzz/" in r.nodeid]
    rows: list[Row] = [
        (target, test, count, SECONDS[target, test], any(nodeid.endswith(f"::{test}") for nodeid in failed))
        for (target, test), count in INPUTS.items()
    ]
    terminalreporter.section(f"fuzz ({PROFILE} profile)")
    for line in fuzz_table(rows):
        terminalreporter.write_line(line)
    if report := os.environ.get("AIGUILLEUR_FUZZ_REPORT"):
        Path(report).write_text(json.dumps(rows))
