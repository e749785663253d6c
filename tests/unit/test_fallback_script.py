"""The pyst2 fallback script's routing, on the plan generated from the real config."""

import json
import re
from pathlib import Path

from agi_scripts.fallback import plan_route
from aiguilleur.confgen import fallback_plan
from cdr.vocabulary import IVR_USER_EVENT, CallVar
from config.models import Hotline


def test_fallback_routes_a_sector_digit_to_its_queue(hotline: Hotline) -> None:
    plan = json.loads(fallback_plan(hotline))
    # The ranking the router gives a caller who answered the sector alone (crafts: CMA first).
    assert plan_route(plan, "2") == ("rank-cma", "crafts")
    assert plan_route(plan, "1") == ("rank-cci-mel", "commerce")
    assert plan["sector"]["prompt"] == "aiguilleur/step-sector"


def test_fallback_sends_anything_else_to_the_general_queue(hotline: Hotline) -> None:
    plan = json.loads(fallback_plan(hotline))
    for typed in ("", "9", "0", "*", "12"):
        assert plan_route(plan, typed) == ("hotline", None)


# --- one call vocabulary: the names the script and the dialplan use are the service's --------
REPO = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\bAIGUILLEUR_[A-Z0-9_]*[A-Z0-9]")
# Set on a line's login channel (queues.advisors), not on a call: which queues it joins, its wrap-up.
LOGIN_VARIABLES = {"AIGUILLEUR_MEMBERSHIP", "AIGUILLEUR_WRAPUP"}


def dialplan_globals(extensions: str) -> set[str]:
    """The names the [globals] section of extensions.conf defines (prefixes: one per partner or digit)."""
    section = extensions.split("[globals]", 1)[1].split("\n[", 1)[0]
    return {line.split("=", 1)[0] for line in section.splitlines() if line and not line.startswith(";")}


def test_the_fallback_script_sets_only_the_service_s_channel_variables_and_event() -> None:
    """It runs under the PBX host's python3 and cannot import cdr.vocabulary: a renamed variable
    would silently break the degraded path's records; this test catches it instead."""
    script = (REPO / "agi_scripts" / "fallback.py").read_text(encoding="utf-8")
    used = set(VARIABLE.findall(script))
    assert used and used <= {v.value for v in CallVar}, used - {v.value for v in CallVar}
    assert f'"{IVR_USER_EVENT},' in script


def test_the_generated_dialplan_reads_only_known_variables() -> None:
    """Every AIGUILLEUR_* name in the generated extensions.conf is a CallVar or one of its globals."""
    extensions = (REPO / "asterisk_conf" / "extensions.conf").read_text(encoding="utf-8")
    known = {v.value for v in CallVar} | dialplan_globals(extensions)
    # Per-partner and per-digit globals are read through a computed name (AIGUILLEUR_MEMBERSHIP_${partner}).
    prefixes = {name.rsplit("_", 1)[0] for name in dialplan_globals(extensions) if name.count("_") >= 2}
    unknown = {name for name in VARIABLE.findall(extensions)
               if name not in known | prefixes | LOGIN_VARIABLES}
    assert not unknown, unknown
    assert f"UserEvent({IVR_USER_EVENT}," in extensions
