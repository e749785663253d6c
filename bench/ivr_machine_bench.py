"""Cost of one IVR menu machine step (issue 3 goal: <= 20 µs), against a baseline in the same run.

Baseline: building the same event objects and a dict lookup per step, i.e. the floor
any Python state machine pays. Run: ``.venv/bin/python -m bench.ivr_machine_bench``.
"""

from __future__ import annotations

import time

from config.loader import load_hotline
from config.models import Menu
from config.settings import REPO_ROOT
from ivr.machine import Digits, MenuMachine, Timeout

Script = list[Digits | Timeout]
SCRIPTS: tuple[tuple[str, Script], ...] = (
    ("completed", [Digits("1"), Digits("2"), Digits("2"), Digits("59")]),
    ("retries", [Timeout(), Digits("9"), Digits("1"), Digits("*"), Digits("2"), Timeout(), Timeout(), Timeout(),
                 Digits("3"), Digits("62")]),
    ("advisor", [Digits("2"), Digits("0")]),
)
SESSIONS = 50_000


def run_machine(menu: Menu, events: Script) -> int:
    machine = MenuMachine(menu)
    machine.start()
    for event in events:
        machine.feed(event)
    return len(events) + 1


def run_baseline(table: dict[str, int], events: Script) -> int:
    total = 0
    for event in events:
        total += table.get(getattr(event, "value", ""), 0)
    return len(events) + 1


def main() -> None:
    menu = load_hotline(REPO_ROOT / "config" / "hotline.yaml").menu
    table = {"1": 1, "2": 2}
    print(f"IVR machine step cost, {SESSIONS} sessions per script")
    print(f"{'script':<10} {'steps':>6} {'µs/step':>8} {'baseline µs/step':>17} {'ratio':>6}  goal <= 20 µs")
    for name, events in SCRIPTS:
        started = time.perf_counter()
        steps = sum(run_machine(menu, events) for _ in range(SESSIONS))
        machine_us = 1e6 * (time.perf_counter() - started) / steps
        started = time.perf_counter()
        base_steps = sum(run_baseline(table, events) for _ in range(SESSIONS))
        base_us = 1e6 * (time.perf_counter() - started) / base_steps
        verdict = "MET" if machine_us <= 20 else "NOT MET"
        print(f"{name:<10} {len(events) + 1:>6} {machine_us:>8.2f} {base_us:>17.3f} "
              f"{machine_us / base_us:>6.1f}  {verdict}")


if __name__ == "__main__":
    main()
