"""The rules editor: the rules in service, a proposal's preview, one profile's routing, apply and rollback.

Apply and rollback go through ``deps.rules`` (``aiguilleur.rules``: the same path as
``aiguilleur rules apply``) and answer with the engine's outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

import structlog
from aiohttp import web

from config.models import Hotline
from routing.explain import RoutingEffect, answer_errors, explain, ring_steps, routing_effect
from web import pages, store
from web.deps import WebDeps, deps_of, hotline_of, page_user, session_of
from web.http import ERR, ApiError, RouteSpec, html_answer, json_answer, json_body, ok
from web.openapi import ApiDoc, Response, ref
from web.rules_form import validate_document

log = structlog.get_logger(__name__)


async def api_rules(request: web.Request) -> web.StreamResponse:
    hotline = hotline_of(request)
    return json_answer({"active_version": hotline.version, "document": hotline.model_dump(mode="json"),
                        "history": await store.rule_history(deps_of(request).pool)})


def _proposed(body: Mapping[str, Any]) -> tuple[Hotline | None, list[dict[str, str]]]:
    if set(body) != {"document"}:
        raise ApiError(400, "bad_rules", "the body is {\"document\": {...the hotline...}}")
    hotline, errors = validate_document(body["document"])
    return hotline, [{"path": err.path, "message": err.message} for err in errors]


def routing_json(effect: RoutingEffect) -> dict[str, object]:
    return {"queues_before": effect.queues_before, "queues_after": effect.queues_after,
            "memberships_after": effect.memberships_after, "changed_count": effect.changed_count,
            "profiles": effect.profiles,
            "changed": [{"answers": c.answers, "before": list(c.before), "after": list(c.after)}
                        for c in effect.changed]}


async def api_rules_preview(request: web.Request) -> web.StreamResponse:
    hotline, errors = _proposed(await json_body(request))
    if hotline is None:
        return json_answer({"valid": False, "errors": errors, "diff": [], "version": None, "routing": None})
    diff, problems = await deps_of(request).rules.check(hotline)
    errors = [{"path": "version" if p.startswith("version") else "", "message": p} for p in problems]
    routing = routing_json(routing_effect(hotline_of(request), hotline))
    asterisk = _asterisk_effect(deps_of(request), hotline_of(request), hotline)
    if asterisk is not None and asterisk["files"] and not asterisk["rewritable"]:
        errors.append({"path": "", "message": str(asterisk["message"])})
    return json_answer({"valid": not errors, "errors": errors, "diff": diff, "version": hotline.version,
                        "routing": routing, "asterisk": asterisk})


def _asterisk_effect(deps: WebDeps, running: Hotline, proposed: Hotline) -> dict[str, object] | None:
    """What of the change reaches Asterisk: the files an apply rewrites and reloads, and whether it can."""
    if deps.asterisk_files is None:
        return None
    files = deps.asterisk_files(running, proposed)
    rewritable = bool(deps.asterisk_conf_dirs)
    if not files:
        message = ("Aucun fichier d'Asterisk concerné : le service applique ce changement seul "
                   "(heures, fermetures, compétences par AMI).")
    elif rewritable:
        message = f"Asterisk : {', '.join(files)} réécrit(s) puis rechargé(s), sans couper les appels en attente."
    else:
        message = (f"Ce changement doit réécrire {', '.join(files)} pour Asterisk, mais aucun dossier de "
                   "configuration d'Asterisk n'est configuré (AIGUILLEUR_ASTERISK_ETC_DIRS) : "
                   "il serait refusé.")
    return {"files": files, "rewritable": rewritable, "message": message}


async def api_route_explain(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    if "answers" not in body or not set(body) <= {"answers", "document"}:
        raise ApiError(400, "bad_body", 'the body is {"answers": {question: value}, "document": {...optional...}}')
    source, hotline = "running", hotline_of(request)
    if body.get("document") is not None:
        proposed, errors = validate_document(body["document"])
        if proposed is None:
            fields = [{"path": err.path, "message": err.message} for err in errors]
            raise ApiError(422, "rules_invalid", "the proposed rules are not valid", fields)
        source, hotline = "proposed", proposed
    wrong = answer_errors(hotline, body["answers"])
    if wrong:
        raise ApiError(400, "bad_answer", "; ".join(f"{q}: {m}" if q else m for q, m in wrong),
                       [{"path": f"answers.{q}" if q else "answers", "message": m} for q, m in wrong])
    result = explain(hotline, body["answers"])
    partners = {p.id: p for p in hotline.partners}
    asked = [f"{question}:{value}" for question, value in result.answers.items()]
    return json_answer({
        "source": source, "version": hotline.version, "answers": result.answers,
        "partners": [{"id": pid, "name": partners[pid].name, "score": score, "tier": tier,
                      "skills": {k: partners[pid].skills[k] for k in asked if k in partners[pid].skills}}
                     for pid, score, tier in result.partners],
        "queue": result.decision.queue, "priority": result.decision.priority, "reason": result.decision.reason,
        "escalation": [{"after_seconds": s.after_seconds, "max_penalty": s.max_penalty,
                        "partners": list(s.partners), "added": list(s.added)} for s in ring_steps(result)],
    })


async def _outcome(request: web.Request, request_id: int, event: str) -> web.Response:
    """The engine's outcome of a request, waited for at most ``rules_timeout``: 200 applied, 202 pending, else 409."""
    deps = deps_of(request)
    outcome = await deps.rules.wait_outcome(request_id, deps.rules_timeout)
    log.info(event, by=session_of(request).name, request_id=request_id, status=outcome.status)
    return json_answer(dataclasses.asdict(outcome), {"applied": 200, "pending": 202}.get(outcome.status, 409))


async def api_rules_apply(request: web.Request) -> web.StreamResponse:
    hotline, errors = _proposed(await json_body(request))
    if hotline is None:
        raise ApiError(422, "rules_invalid", "the rules are not valid", errors)
    try:
        request_id = await deps_of(request).rules.request_apply(hotline, by=session_of(request).name, source="web")
    except ValueError as exc:
        raise ApiError(422, "rules_refused", str(exc)) from None
    return await _outcome(request, request_id, "web.rules_apply")


async def api_rules_rollback(request: web.Request) -> web.StreamResponse:
    try:
        request_id = await deps_of(request).rules.request_rollback(by=session_of(request).name)
    except ValueError as exc:
        raise ApiError(409, "nothing_to_roll_back", str(exc)) from None
    return await _outcome(request, request_id, "web.rules_rollback")


async def page_rules(request: web.Request) -> web.StreamResponse:
    history = await store.rule_history(deps_of(request).pool)
    # Applying is always available now (WebDeps.rules is required): the page's "not available" notice is unused.
    return html_answer(pages.rules_page(hotline_of(request), history, page_user(request), session_of(request).csrf,
                                        apply_available=True))


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/rules", page_rules, "admin"),
    RouteSpec("GET", "/api/rules", api_rules, "admin", ApiDoc(
        "The rules in service and their history", responses=ok("rules", ref("Rules")), tag="rules")),
    RouteSpec("POST", "/api/rules/preview", api_rules_preview, "admin", ApiDoc(
        "Validate proposed rules, field by field, and show what would change: the diff and the routing "
        "effect (profiles whose best partners change, app_queue queues and memberships)", body=ref("RulesDocument"),
        responses=ok("checked", ref("RulesPreview")), tag="rules")),
    RouteSpec("POST", "/api/route/explain", api_route_explain, "admin", ApiDoc(
        "One profile's routing: every partner's score and tier, the queue, who rings when; on the running "
        "rules or a proposed document", body=ref("RouteExplainBody"), responses={
            200: Response("explained", ref("RouteExplanation")),
            400: Response("an answer is not in the menu (fields name the question and the allowed values)", ERR),
            422: Response("the proposed document is not valid", ERR)}, tag="rules")),
    RouteSpec("POST", "/api/rules/apply", api_rules_apply, "admin", ApiDoc(
        "Apply rules (same path as `aiguilleur rules apply`)", body=ref("RulesDocument"), responses={
            200: Response("applied", ref("RulesOutcome")), 202: Response("still pending", ref("RulesOutcome")),
            409: Response("failed", ref("RulesOutcome")), 422: Response("invalid rules", ERR)}, tag="rules")),
    RouteSpec("POST", "/api/rules/rollback", api_rules_rollback, "admin", ApiDoc(
        "Go back to the previous applied rules", responses={
            200: Response("rolled back", ref("RulesOutcome")), 202: Response("still pending", ref("RulesOutcome")),
            409: Response("failed, or nothing to roll back", {})}, tag="rules")),
)
