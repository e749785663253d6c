"""``make fuzz``: the long profile in parallel pytest processes (one per core), one table at the end.

Each process runs a group of fuzz tests of about the same length and writes its figures
(``AIGUILLEUR_FUZZ_REPORT``); its own output goes to ``var/fuzz-<n>.log``, shown when it fails.
Exit status: 0 when every process passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fuzz.conftest import Row, fuzz_table

FUZZ = "tests/fuzz/"
# Two groups of about the same length on this 2-core machine.
GROUPS = [
    [f"{FUZZ}test_fuzz_fastagi.py", f"{FUZZ}test_fuzz_queue_log.py::test_any_queue_log_line_never_raises"],
    [f"{FUZZ}test_fuzz_ami_parse.py", f"{FUZZ}test_fuzz_cdr_custom.py",
     f"{FUZZ}test_fuzz_queue_log.py::test_queue_log_row_round_trips_through_the_file"],
]


def main() -> int:
    var = Path("var")
    var.mkdir(exist_ok=True)
    started = time.perf_counter()
    running = []
    for n, group in enumerate(GROUPS):
        report, log = var / f"fuzz-{n}.json", var / f"fuzz-{n}.log"
        report.unlink(missing_ok=True)
        env = {**os.environ, "AIGUILLEUR_FUZZ": "long", "AIGUILLEUR_FUZZ_REPORT": str(report)}
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *group],
                                       env=env, stdout=out, stderr=subprocess.STDOUT)
        running.append((process, report, log))
    rows: list[Row] = []
    status = 0
    for process, report, log in running:
        code = process.wait()
        if code:
            status = 1
            print(log.read_text())
        if report.exists():
            rows.extend(tuple(row) for row in json.loads(report.read_text()))
        else:
            print(f"{log}: no report (the process died), see the log")
            status = 1
    print("\n".join(fuzz_table(rows)))
    print(f"wall clock: {time.perf_counter() - started:.0f} s over {len(GROUPS)} processes")
    return status


if __name__ == "__main__":
    sys.exit(main())
