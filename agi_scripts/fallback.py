#!/usr/bin/python3
"""Degraded routing when the FastAGI service is unreachable: a pyst2 stdio AGI script.

Asterisk runs it as ``AGI(aiguilleur-fallback,${ASTETCDIR}/aiguilleur-fallback.json)``
from the dialplan when ``agi://`` failed. It asks one question (the business
sector, with the same prompt as the full menu), sets the routing variables the
dialplan reads, and announces the call as degraded on AMI. It reads the
fallback plan that ``aiguilleur conf generate`` writes from ``config/hotline.yaml``,
so it follows the same configuration. Standard library + pyst2 only: it runs
under the PBX host's own python3, without the service's virtualenv.

If anything here fails, the dialplan still queues the caller to the general
queue: no caller is dropped.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def plan_route(plan: dict[str, Any], digits: str) -> tuple[str, str | None]:
    """(queue, sector) for what the caller typed; the general queue when it is not an option."""
    options: dict[str, dict[str, str]] = plan["sector"]["options"]
    chosen = options.get(digits.strip())
    if chosen is None:
        return plan["general_queue"], None
    return chosen["queue"], chosen["value"]


def main(argv: list[str]) -> int:
    from asterisk.agi import AGI  # pyst2; imported here so plan_route is testable without it

    agi = AGI()
    queue, sector = "", None
    try:
        with open(argv[1], encoding="utf-8") as handle:
            plan = json.load(handle)
        queue = plan["general_queue"]
        step = plan["sector"]
        for _ in range(int(plan["max_tries"])):
            digits = agi.get_data(step["prompt"], int(step["timeout_ms"]), 1)
            queue, sector = plan_route(plan, digits)
            if sector is not None:
                # At once into Asterisk's own CDR (cdr.asterisk_fields): recovery reads it.
                if plan.get("cdr_sector"):
                    agi.set_variable(f"CDR({plan['cdr_sector']})", sector)
                break
        variables = {
            "AIGUILLEUR_QUEUE": queue,
            "AIGUILLEUR_PRIORITY": "0",
            "AIGUILLEUR_MAX_PENALTY": str(plan["first_max_penalty"]),
            "AIGUILLEUR_RULE": plan["rule"],
            "AIGUILLEUR_TIMEOUT": str(plan["max_wait_seconds"]),
            "AIGUILLEUR_EXIT": "degraded",
            "AIGUILLEUR_ACTION": "queue",
        }
        for name, value in variables.items():
            agi.set_variable(name, value)
        fields = ["Exit: degraded", "Fallback: pyst2", f"Queue: {queue}"]
        if sector is not None:
            fields.append(f"Sector: {sector}")
        agi.appexec("UserEvent", "AiguilleurIvr," + ",".join(fields))
    except Exception as exc:  # the dialplan's plain fallback takes over
        agi.verbose(f"aiguilleur fallback failed: {type(exc).__name__}", 1)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
