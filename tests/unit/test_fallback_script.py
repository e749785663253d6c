"""The pyst2 fallback script's routing, on the plan generated from the real config."""

import json

from agi_scripts.fallback import plan_route
from aiguilleur.confgen import fallback_plan
from config.models import Hotline


def test_fallback_routes_a_sector_digit_to_its_queue(hotline: Hotline) -> None:
    plan = json.loads(fallback_plan(hotline))
    assert plan_route(plan, "2") == ("sector-crafts", "crafts")
    assert plan["sector"]["prompt"] == "aiguilleur/step-sector"


def test_fallback_sends_anything_else_to_the_general_queue(hotline: Hotline) -> None:
    plan = json.loads(fallback_plan(hotline))
    for typed in ("", "9", "0", "*", "12"):
        assert plan_route(plan, typed) == ("hotline", None)
