"""Turn simulated calls into real SIPp callers: the traffic model drives the sandbox PBX.

Pure: calls in, a compressed schedule of ``CallScript`` batches out. Time is
compressed by ``speedup`` (arrivals and the caller's patience); a caller's
answers are typed as the digits the real menu expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from config.models import Menu
from sandbox.sipp import CallScript
from sim.caller import PRANK_KEYS, PRANK_SILENT, Call

WRONG_KEY = "8"  # never a valid answer to the first question of the default menu


@dataclass(frozen=True)
class Batch:
    """Calls to start together, ``at`` seconds after the load begins, spread over ``span`` s."""

    at: float
    span: float
    scripts: list[CallScript]


def digits_for(menu: Menu, call: Call) -> list[str]:
    """What the caller types, one entry per question."""
    if call.kind == PRANK_SILENT:
        return []
    if call.kind == PRANK_KEYS:
        return [WRONG_KEY] * menu.max_tries
    if call.advisor_first:
        return [menu.advisor_digit]
    typed: list[str] = []
    for step in menu.steps:
        value = dict(call.answers).get(step.id, step.default)
        option = next((o for o in step.options if o.value == value), None)
        typed.append(option.digits if option else step.options[0].digits)
    if 0 <= call.hangup_at < len(typed):
        typed = typed[: call.hangup_at]
    return typed


def script_for(menu: Menu, call: Call, speedup: float, hold_ms: int) -> CallScript:
    typed = digits_for(menu, call)
    hangs_up = call.kind == 0 and 0 <= call.hangup_at < len(menu.steps)
    return CallScript(
        digits=typed,
        caller_number=f"0399{call.id:06d}",
        caller_name=f"Demo {call.id}",
        pause_before_ms=1500,
        pause_between_ms=1500,
        hold_after_ms=hold_ms if not typed or typed[-1] != WRONG_KEY else 4000,
        hangup_early_after_ms=1500 + 1500 * len(typed) + 500 if hangs_up else None,
    )


def schedule(
    menu: Menu, calls: Sequence[Call], *, start_s: float, speedup: float, slice_s: float = 10.0,
    hold_ms: int = 12_000,
) -> list[Batch]:
    """Calls arriving from ``start_s`` (model seconds), compressed, cut into ``slice_s`` batches."""
    batches: dict[int, list[CallScript]] = {}
    for call in calls:
        wall = (call.arrival - start_s) / speedup
        if wall < 0:
            continue
        batches.setdefault(int(wall // slice_s), []).append(script_for(menu, call, speedup, hold_ms))
    return [Batch(index * slice_s, slice_s, scripts) for index, scripts in sorted(batches.items())]
