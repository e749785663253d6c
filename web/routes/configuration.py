"""The hotline's configuration, read-only: partners, lines, skills, queue rules and hours (supervisors)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from config.models import DIMENSIONS
from web.deps import deps_of, hotline_of
from web.http import RouteSpec, json_answer, ok
from web.openapi import ApiDoc, array, ref


async def api_partners(request: web.Request) -> web.StreamResponse:
    return json_answer([{"id": p.id, "name": p.name, "lines": p.line_ids(), "skills": dict(p.skills),
                         "wrapup_seconds": p.wrapup_seconds} for p in hotline_of(request).partners])


async def api_lines(request: web.Request) -> web.StreamResponse:
    snapshot = deps_of(request).live.snapshot()
    rows = []
    for line, partner in hotline_of(request).lines():
        state = snapshot.lines.get(line)
        rows.append({"line": line, "partner": partner.id, "status": state.status if state else "logged_out",
                     "paused_reason": state.paused_reason if state else "",
                     "queues": list(state.queues) if state else []})
    return json_answer(rows)


async def api_skills(request: web.Request) -> web.StreamResponse:
    hotline = hotline_of(request)
    rows = []
    for step in hotline.menu.steps:
        if step.id not in DIMENSIONS:
            continue
        for option in step.options:
            key = f"{step.id}:{option.value}"
            rows.append({"skill": key, "dimension": step.id, "value": option.value, "label": option.label,
                         "partners": {p.id: p.skills[key] for p in hotline.partners if key in p.skills}})
    return json_answer(rows)


async def api_queue_rules(request: web.Request) -> web.StreamResponse:
    hotline = hotline_of(request)
    return json_answer({"version": hotline.version, **hotline.queues.model_dump(mode="json")})


async def api_hours(request: web.Request) -> web.StreamResponse:
    return json_answer(hotline_of(request).hours.model_dump(mode="json"))


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/api/config/partners", api_partners, "supervisor",
              ApiDoc("Partners, their lines and skills", responses=ok("partners", array(ref("Partner"))),
                     tag="config")),
    RouteSpec("GET", "/api/config/lines", api_lines, "supervisor",
              ApiDoc("Every partner line with its live status", responses=ok("lines", array(ref("Line"))),
                     tag="config")),
    RouteSpec("GET", "/api/config/skills", api_skills, "supervisor",
              ApiDoc("Skills (one per menu answer) and the partners' levels", responses=ok(
                  "skills", array(ref("Skill"))), tag="config")),
    RouteSpec("GET", "/api/config/queue-rules", api_queue_rules, "supervisor",
              ApiDoc("Queue policy and escalation steps", responses=ok("rules", ref("QueueRules")), tag="config")),
    RouteSpec("GET", "/api/config/hours", api_hours, "supervisor",
              ApiDoc("Opening hours, holidays and closures", responses=ok("hours", ref("Hours")), tag="config")),
)
