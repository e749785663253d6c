"""Callbacks and J+8 follow-ups: the list, cancel, retry and a follow-up's outcome.

The store is the CLI's (``aiguilleur.callbacks``); the page is ``web.callbacks_page``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from aiohttp import web

from aiguilleur.callbacks import CallbackStore
from config.models import FOLLOWUP_OUTCOMES
from queues.callback import Callback, CallbackError, Cancel, Retry
from web import callbacks_page
from web.deps import deps_of, hotline_of, page_user, session_of
from web.http import ERR, ApiError, RouteSpec, html_answer, json_answer, json_body, ok
from web.openapi import ApiDoc, Param, Response

_CALLBACK_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_CALLBACK_STATUSES = ("pending", "dialling", "connected", "done", "no_answer", "failed", "cancelled")


def _callback_id(request: web.Request) -> str:
    wanted = request.match_info["id"]
    if not _CALLBACK_ID.fullmatch(wanted):
        raise ApiError(400, "bad_callback", "not a callback id")
    return wanted


def _callback_json(c: Callback) -> dict[str, object]:
    return {"id": c.id, "kind": c.kind, "status": c.status, "partner": c.partner, "number": c.caller_number,
            "tries": c.tries, "next_try_at": c.next_try_at.isoformat() if c.next_try_at else None,
            "reason": c.reason, "last_result": c.last_result, "outcome": c.outcome, "origin": c.origin,
            "followup_outcome": c.followup_outcome}


def _instant(request: web.Request) -> dt.datetime:
    """The service clock (seconds) as an aware datetime: the dialer's rules take one."""
    return dt.datetime.fromtimestamp(deps_of(request).clock(), dt.UTC)


def _callback_store(request: web.Request) -> CallbackStore:
    return CallbackStore(deps_of(request).pool, f"web:{session_of(request).name}")


async def _listed(request: web.Request) -> list[Callback]:
    statuses = request.query.getall("status", [])
    kind = request.query.get("kind") or None
    partner = request.query.get("partner") or None
    if any(s not in _CALLBACK_STATUSES for s in statuses) or kind not in (None, "callback", "followup"):
        raise ApiError(400, "bad_filter", "status or kind unknown")
    if partner is not None and partner not in {p.id for p in hotline_of(request).partners}:
        raise ApiError(400, "bad_filter", f"no partner {partner!r}")
    rows = await _callback_store(request).listing(statuses, 500, kind=kind, partner=partner)
    return [r.callback for r in rows]


async def api_callbacks(request: web.Request) -> web.StreamResponse:
    listed = await _listed(request)
    counts = await _callback_store(request).counts()
    rates = {kind: callbacks_page.success_rate(counts, kind) for kind in ("callback", "followup")}
    return json_answer({"callbacks": [_callback_json(c) for c in listed], "success_rate": rates})


async def _operate(request: web.Request, event: Cancel | Retry, partner: str | None) -> web.StreamResponse:
    try:
        after = await _callback_store(request).operate(_callback_id(request), event, hotline_of(request),
                                                         _instant(request), partner=partner)
    except CallbackError as error:
        raise ApiError(404 if error.code == "callback.unknown" else 409 if error.code != "callback.unknown_partner"
                       else 400, error.code, str(error)) from None
    return json_answer(_callback_json(after))


async def api_callback_cancel(request: web.Request) -> web.StreamResponse:
    body = await json_body(request) if request.can_read_body else {}
    reason = body.get("reason", "annulé par un superviseur")
    if not isinstance(reason, str) or len(reason) > 200:
        raise ApiError(400, "bad_reason", "reason: a text of at most 200 characters")
    return await _operate(request, Cancel(f"{reason} ({session_of(request).name})"), None)


async def api_callback_retry(request: web.Request) -> web.StreamResponse:
    body = await json_body(request) if request.can_read_body else {}
    partner = body.get("partner")
    if partner is not None and not isinstance(partner, str):
        raise ApiError(400, "bad_partner", "partner: a partner id")
    return await _operate(request, Retry(_instant(request)), partner or None)


async def api_callback_outcome(request: web.Request) -> web.StreamResponse:
    code = (await json_body(request)).get("code")
    if code not in FOLLOWUP_OUTCOMES:
        raise ApiError(400, "bad_outcome", f"code: one of {', '.join(FOLLOWUP_OUTCOMES)}")
    try:
        after, made = await _callback_store(request).record_outcome(
            _callback_id(request), code, session_of(request).name, hotline_of(request), _instant(request))
    except CallbackError as error:
        raise ApiError(404 if error.code == "callback.unknown" else 409, error.code, str(error)) from None
    return json_answer({**_callback_json(after), "new_request": made})


async def page_callbacks(request: web.Request) -> web.StreamResponse:
    listed = [callbacks_page.ListedCallback(c.id, c.kind, c.status, c.partner, c.caller_number, c.tries,
                                            c.next_try_at, c.reason, c.last_result, c.followup_outcome or c.outcome)
              for c in await _listed(request)]
    counts = await _callback_store(request).counts()
    partners = [p.id for p in hotline_of(request).partners]
    return html_answer(callbacks_page.callbacks_page(listed, counts, partners, page_user(request),
                                                     session_of(request).csrf))


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/rappels", page_callbacks, "supervisor"),
    RouteSpec("GET", "/api/callbacks", api_callbacks, "supervisor", ApiDoc(
        "Callbacks and J+8 follow-ups (by status, kind, partner) and the success rate", (
            Param("status", schema={"type": "string", "enum": list(_CALLBACK_STATUSES)}),
            Param("kind", schema={"type": "string", "enum": ["callback", "followup"]}),
            Param("partner", schema={"type": "string", "pattern": "^[a-z][a-z0-9]{0,15}$"})),
        responses=ok("callbacks", {"type": "object", "required": ["callbacks", "success_rate"], "properties": {
            "callbacks": {"type": "array", "items": {"type": "object"}}, "success_rate": {"type": "object"}}}),
        tag="callbacks")),
    RouteSpec("POST", "/api/callbacks/{id}/cancel", api_callback_cancel, "supervisor", ApiDoc(
        "Cancel a due callback or follow-up", (Param("id", "path", schema={"type": "string"}),),
        {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}},
        {200: Response("cancelled", {"type": "object"}), 404: Response("no such callback", ERR),
         409: Response("not cancellable in its state (a try is being placed)", ERR)},
        tag="callbacks", body_required=False)),
    RouteSpec("POST", "/api/callbacks/{id}/retry", api_callback_retry, "supervisor", ApiDoc(
        "A new round of tries, optionally reassigned to another partner's queue",
        (Param("id", "path", schema={"type": "string"}),),
        {"type": "object", "properties": {"partner": {"type": "string", "pattern": "^[a-z][a-z0-9]{0,15}$"}}},
        {200: Response("due again", {"type": "object"}), 404: Response("no such callback", ERR),
         409: Response("not retryable in its state (a try is being placed)", ERR)},
        tag="callbacks", body_required=False)),
    RouteSpec("POST", "/api/callbacks/{id}/outcome", api_callback_outcome, "advisor", ApiDoc(
        "Record a J+8 follow-up's outcome (needs_more_help makes a new routed callback)",
        (Param("id", "path", schema={"type": "string"}),),
        {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string", "enum": list(FOLLOWUP_OUTCOMES)}}},
        {200: Response("recorded", {"type": "object"}), 404: Response("no such follow-up", ERR),
         409: Response("not a follow-up, the caller not reached, or an outcome already recorded", ERR)},
        tag="callbacks")),
)
