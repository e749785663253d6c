"""Short form of the sessions-held-open FastAGI benchmark: counts, never times."""

from __future__ import annotations

import json
from pathlib import Path

from bench import fastagi_sessions_bench


def test_sessions_are_all_held_open_then_completed_on_both_servers(tmp_path: Path) -> None:
    out = tmp_path / "sessions.json"
    loops = "asyncio,uvloop" if fastagi_sessions_bench.uvloop_available() else "asyncio"
    code = fastagi_sessions_bench.main(
        ["--sessions", "40", "--repeat", "1", "--loops", loops, "--json", str(out)]
    )
    document = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0
    sequence = document["sequence"]
    # The real route: the linkedid lookup first, the menu's questions, the routing variables.
    assert sequence[0] == 'GET VARIABLE "CHANNEL(linkedid)"'
    assert any(line.startswith("GET DATA") for line in sequence)
    assert {(r["variant"], r["loop"]) for r in document["results"]} == {
        (variant, loop) for variant in ("bare", "route") for loop in loops.split(",")
    }
    for result in document["results"]:
        assert result["completed"] == 40 and result["failed"] == 0 and result["short"] == 0
        assert result["held"] == 40 and result["server_open_at_hold"] == 40
        # Bare panoramisk replays the route's exact sequence: the same commands a session.
        assert result["commands"] == 40 * len(sequence)
    assert {row["what"] for row in document["ratios"]} >= {"route / bare, asyncio"}
