"""The advisor's desk: the screen pop (page, JSON, stream), the agent actions and the wrap-up.

An advisor sees and acts on their own line only, supervisors on any (``may_act_on_line``). Agent
actions go through ``deps.desk`` (``queues.advisors.AdvisorDesk``); its domain errors keep their
code, an AMI failure is a 502.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import time
from typing import Final

import structlog
from aiohttp import web

from aiguilleur.callbacks import CallbackStore
from config.models import DEFAULT_WRAPUP_CODES, Hotline
from queues.ami import AmiError
from queues.callback import callback_of_try
from queues.errors import DomainError
from queues.snapshot import LineState
from queues.transfers import transfer_queue
from web import pages, screen, store, users_admin
from web.deps import CLOSING, FEED, WRAPUPS, deps_of, hotline_of, page_user, session_of
from web.http import DATABASE_DOWN, ERR, ApiError, Handler, RouteSpec, html_answer, json_answer, json_body, no_nul
from web.live import sse_frame
from web.openapi import ApiDoc, Param, Response, ref
from web.roles import may_act_on_line
from web.routes.live import keepalive_seconds, session_alive, sse_response
from web.wallboard import queue_label, short_names

log = structlog.get_logger(__name__)
LINE_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


def _line_for(request: web.Request) -> str | None:
    s = session_of(request)
    wanted = request.query.get("line")
    if s.role == "advisor":
        if wanted and wanted != s.line:
            raise ApiError(403, "not_your_line", "an advisor sees their own line only")
        return s.line
    if wanted is None:
        lines = hotline_of(request).lines()
        return lines[0][0] if lines else None
    if not LINE_PATTERN.match(wanted):
        raise ApiError(400, "bad_line", "not a line id")
    return wanted


def _line_state(request: web.Request, line: str) -> LineState:
    state = deps_of(request).live.snapshot().lines.get(line)
    if state is None:
        raise ApiError(404, "unknown_line", f"no line {line!r}")
    return state


def _wrapup_options(hotline: Hotline, line: str) -> tuple[screen.WrapupOption, ...]:
    partner = hotline.partner_of(line)
    codes = partner.wrapup_choices() if partner else DEFAULT_WRAPUP_CODES
    return tuple(screen.WrapupOption(c.id, c.label) for c in codes)


async def _screen(request: web.Request, state: LineState) -> screen.ScreenPop:
    """The line's pop: its call now, else the call it still has to wrap up, else idle."""
    book = request.app[WRAPUPS]
    if screen.call_state(state) is None or state.caller_uniqueid is None:
        pending = book.pending(state.line)
        if pending is not None:
            return screen.in_wrapup(pending, state.status)
        return screen.build(state, None, (), (), hotline_of(request).menu)
    pop = await _call_screen(request, state)
    if pop.queue:
        hotline = hotline_of(request)
        pop = dataclasses.replace(pop, queue_label=queue_label(pop.queue, short_names(hotline.partners),
                                                                 hotline.queues.general_queue))
    book.remember(pop)
    return pop


async def _call_screen(request: web.Request, state: LineState) -> screen.ScreenPop:
    deps = deps_of(request)
    hotline = hotline_of(request)
    assert state.caller_uniqueid is not None
    codes = _wrapup_options(hotline, state.line)
    call = deps.calls.call_info(state.caller_uniqueid) if deps.calls else None
    earlier = await store.earlier_calls(deps.pool, call.number, call.linkedid) if call else []
    memo = await store.list_memo(deps.pool)
    # A callback or J+8 follow-up try (outbound): say so, why, and the original call's IVR answers.
    callback_id = callback_of_try(call.linkedid if call else state.caller_uniqueid)
    row = await CallbackStore(deps.pool, "web").originals(callback_id) if callback_id else None
    if row is None:
        return screen.build(state, call, earlier, memo, hotline.menu, wrapup_codes=codes)
    return screen.build(state, call, earlier, memo, hotline.menu, screen.callback_info(row),
                        screen.callback_answers(row), wrapup_codes=codes)


async def page_advisor(request: web.Request) -> web.StreamResponse:
    line = _line_for(request)
    pop = await _screen(request, _line_state(request, line)) if line else None
    hotline = hotline_of(request)
    lines = [x for x, _ in hotline.lines()]
    own = hotline.partner_of(line) if line else None
    partners = [(p.id, p.name) for p in hotline.partners if own is None or p.id != own.id]
    return html_answer(pages.advisor_page(pop, line, lines, page_user(request), session_of(request).csrf, partners))


async def api_advisor_screen(request: web.Request) -> web.StreamResponse:
    line = _line_for(request)
    if line is None:
        raise ApiError(404, "no_line", "this account has no line")
    return json_answer((await _screen(request, _line_state(request, line))).to_json())


async def api_advisor_stream(request: web.Request) -> web.StreamResponse:
    line = _line_for(request)
    if line is None:
        raise ApiError(404, "no_line", "this account has no line")
    _line_state(request, line)
    feed, closing = request.app[FEED], request.app[CLOSING]
    response = await sse_response(request)
    feed.clients += 1
    checked = [time.monotonic()]
    last_key: tuple[object, ...] | None = None
    generation = 0
    try:
        await response.write(b"retry: 1000\n\n")
        while not closing.is_set() and await session_alive(request, checked):
            state = deps_of(request).live.snapshot().lines.get(line)
            if state is not None:
                key = (state.status, state.caller_uniqueid, state.paused_reason,
                       request.app[WRAPUPS].pending_id(line))
                if key != last_key:
                    last_key = key
                    pop = await _screen(request, state)
                    await response.write(sse_frame("screen", pop.to_json()))
            newer = await feed.wait_newer(generation, timeout=keepalive_seconds(request))
            if newer is None:
                await response.write(b": keep-alive\n\n")
            else:
                generation = newer.generation
    except ConnectionResetError:
        pass
    except DATABASE_DOWN as exc:  # the pop's history could not be read: end the stream, the page retries
        log.warning("web.stream_database_unavailable", line=line, error=str(exc) or type(exc).__name__)
    finally:
        feed.clients -= 1
    return response


def _acted_line(request: web.Request) -> tuple[str, store.Session]:
    """The path's line and who acts on it: an advisor acts on their own line only, a supervisor on any."""
    line, s = request.match_info["line"], session_of(request)
    if not may_act_on_line(s.role, s.line, line):
        raise ApiError(403, "not_your_line", "an advisor acts on their own line only")
    return line, s


def _agent_action(action: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        line, s = _acted_line(request)
        reason = ""
        if action == "pause" and request.can_read_body:
            body = await json_body(request)
            value = body.get("reason", "")
            if not isinstance(value, str) or len(value) > 64 or set(body) - {"reason"}:
                raise ApiError(400, "bad_reason", "reason: a string of at most 64 characters")
            reason = value
        desk = deps_of(request).desk
        try:
            if action == "login":
                await desk.login(line)
            elif action == "logout":
                await desk.logout(line)
            elif action == "pause":
                await desk.pause(line, reason or "pause")
            else:
                await desk.unpause(line)
        except DomainError as exc:  # an unknown line, a line not logged in...: the error's own code
            raise ApiError(exc.status, exc.code, str(exc)) from None
        except (AmiError, OSError, TimeoutError) as exc:  # the AMI link is down or Asterisk said no
            raise ApiError(502, "pbx_error", f"the PBX did not do it: {exc}") from None
        log.info("web.agent_action", by=s.name, line=line, action=action, reason=reason)
        return json_answer({"line": line, "action": action, "reason": reason})

    return handler


WRAPUP_NOTES_MAX: Final = 4000


async def api_agent_wrapup(request: web.Request) -> web.StreamResponse:
    """Terminer le post-appel: the wrap-up code and notes saved on the call's record; the pop closes."""
    line, s = _acted_line(request)
    body = await json_body(request)
    linkedid, code, notes = body.get("linkedid"), body.get("code"), body.get("notes", "")
    if not isinstance(linkedid, str) or not isinstance(notes, str) or set(body) - {"linkedid", "code", "notes"}:
        raise ApiError(400, "bad_wrapup", "linkedid (the call), code and notes (text) are expected")
    if len(notes) > WRAPUP_NOTES_MAX or not no_nul(notes):
        raise ApiError(400, "bad_notes", f"Notes : {WRAPUP_NOTES_MAX} caractères au plus.")
    codes = {o.id for o in _wrapup_options(hotline_of(request), line)}
    if code not in codes:
        raise ApiError(400, "bad_code", "Choisissez un code de post-appel.",
                       [{"path": "code", "message": f"one of {', '.join(sorted(codes))}"}])
    book = request.app[WRAPUPS]
    pending = book.pending(line)
    if pending is None or pending.linkedid != linkedid:
        raise ApiError(409, "no_wrapup", "Aucun post-appel en cours pour cet appel sur cette ligne.")
    state = deps_of(request).live.snapshot().lines.get(line)
    if state is not None and state.caller_uniqueid is not None and screen.call_state(state) == "connected" \
            and pending.caller_uniqueid == state.caller_uniqueid:
        raise ApiError(409, "call_in_progress", "L'appel est encore en cours : raccrochez d'abord.")
    deps = deps_of(request)
    at = dt.datetime.fromtimestamp(deps.clock(), dt.UTC)
    deadline = time.monotonic() + deps.wrapup_save_wait
    while not await store.save_wrapup(deps.pool, linkedid, str(code), notes, s.name, at):
        if time.monotonic() >= deadline:  # the writer writes every 0.2 s: its record should be there
            raise ApiError(409, "call_not_recorded", "L'appel n'est pas encore enregistré : réessayez dans "
                                                     "quelques secondes (vos notes sont gardées).")
        await asyncio.sleep(0.2)
    book.done(line, linkedid)
    request.app[FEED].wake()  # the line's stream sends the idle pop
    log.info("web.wrapup_done", by=s.name, line=line, linkedid=linkedid, code=code, notes_chars=len(notes))
    return json_answer({"line": line, "linkedid": linkedid, "code": code, "notes": notes, "done_at": at.isoformat()})


async def api_agent_transfer(request: web.Request) -> web.StreamResponse:
    """Transfer the caller talking to the line to a partner's queue (what #1 then *5N does on the softphone)."""
    line, s = _acted_line(request)
    body = await json_body(request)
    partner = body.get("partner")
    if not isinstance(partner, str) or not LINE_PATTERN.match(partner) or set(body) - {"partner"}:
        raise ApiError(400, "bad_partner", "partner: the id of a partner (GET /api/config/partners)")
    desk = deps_of(request).desk
    try:
        exten = await desk.transfer(line, partner)
    except DomainError as exc:  # unknown line or partner, no call on the line
        raise ApiError(exc.status, exc.code, str(exc)) from None
    except (AmiError, OSError, TimeoutError) as exc:
        raise ApiError(502, "pbx_error", f"the PBX did not do it: {exc}") from None
    log.info("web.agent_action", by=s.name, line=line, action="transfer", partner=partner)
    return json_answer({"line": line, "action": "transfer", "partner": partner, "queue": transfer_queue(partner),
                        "exten": exten})


LISTEN_MODES: Final = ("listen", "whisper", "barge")


async def api_agent_listen(request: web.Request) -> web.StreamResponse:
    """A supervisor listens to (or whispers to, or joins) the line's call from their own softphone."""
    line, s = request.match_info["line"], session_of(request)
    body = await json_body(request)
    mode = body.get("mode", "listen")
    if mode not in LISTEN_MODES or set(body) - {"mode"}:
        raise ApiError(400, "bad_mode", f"mode: one of {', '.join(LISTEN_MODES)}")
    hotline = hotline_of(request)
    if s.line is None or s.line not in hotline.advisors.supervisor_lines:
        raise ApiError(409, "no_softphone", "Votre compte n'a pas de poste de supervision ("
                       + ", ".join(hotline.advisors.supervisor_lines) + ") : un administrateur le donne sur la "
                       "page Utilisateurs.")
    desk = deps_of(request).desk
    try:
        channel = await desk.listen(s.line, line, str(mode))
    except DomainError as exc:  # unknown line, no call on the line, not a softphone
        raise ApiError(exc.status, exc.code, str(exc)) from None
    except (AmiError, OSError, TimeoutError) as exc:
        raise ApiError(502, "pbx_error", f"the PBX did not do it: {exc}") from None
    await users_admin.audit(deps_of(request).pool, s.name, f"call_{mode}", line, f"depuis {s.line} ({channel})")
    log.info("web.agent_action", by=s.name, line=line, action="listen", mode=mode, softphone=s.line)
    return json_answer({"line": line, "action": "listen", "mode": mode, "softphone": s.line, "channel": channel})


LINE_QUERY = Param("line", schema={"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"},
                   description="supervisors: the line to show (advisors: their own)")
AGENT_RESPONSES = {
    200: Response("done", ref("AgentAction")), 404: Response("unknown line", ERR),
    400: Response("a bad pause reason", ERR), 409: Response("the line is not logged in (pause, unpause)", ERR),
    502: Response("the PBX refused or did not answer", ERR),
}


def _agent_route(action: str, summary: str) -> RouteSpec:
    body = ref("PauseBody") if action == "pause" else None
    params = (Param("line", "path", schema={"type": "string"}),)
    doc = ApiDoc(summary, params, body, AGENT_RESPONSES, tag="agents", body_required=False)
    return RouteSpec("POST", f"/api/agents/{{line}}/{action}", _agent_action(action), "advisor", doc)


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/advisor", page_advisor, "advisor"),
    RouteSpec("GET", "/api/advisor/screen", api_advisor_screen, "advisor", ApiDoc(
        "The screen pop of a line: caller, IVR answers, earlier calls, memo", (LINE_QUERY,),
        responses={200: Response("the line now", ref("ScreenPop")), 404: Response("unknown line", ERR)},
        tag="advisor")),
    RouteSpec("GET", "/api/advisor/stream", api_advisor_stream, "advisor", ApiDoc(
        "The screen pop as server-sent events (event: screen)", (LINE_QUERY,),
        responses={200: Response("an event stream", {"type": "string"}, "text/event-stream"),
                   404: Response("unknown line", ERR)}, tag="advisor")),
    _agent_route("login", "Log the line in to its queues"),
    _agent_route("logout", "Log the line out of its queues"),
    _agent_route("pause", "Pause the line (optional JSON body {reason})"),
    _agent_route("unpause", "End the line's pause"),
    RouteSpec("POST", "/api/agents/{line}/wrapup", api_agent_wrapup, "advisor", ApiDoc(
        "Terminer le post-appel: save the wrap-up code (the line's partner's list) and notes on the call's "
        "record; the screen pop then closes", (Param("line", "path", schema={"type": "string"}),),
        {"type": "object", "required": ["linkedid", "code"], "additionalProperties": False, "properties": {
            "linkedid": {"type": "string"}, "code": {"type": "string"},
            "notes": {"type": "string", "maxLength": WRAPUP_NOTES_MAX}}}, {
            200: Response("saved", {"type": "object"}), 400: Response("no such code, or notes too long", ERR),
            403: Response("not your line", ERR),
            409: Response("no wrap-up pending for this call, the call still in progress, or its record not "
                          "written yet (retry)", ERR)}, tag="agents")),
    RouteSpec("POST", "/api/agents/{line}/transfer", api_agent_transfer, "advisor", ApiDoc(
        "Transfer the caller talking to the line to a partner's queue (priority, IVR answers kept)",
        (Param("line", "path", schema={"type": "string"}),), ref("TransferBody"), {
            200: Response("transferred", ref("TransferResult")), 400: Response("no partner id", ERR),
            404: Response("unknown line or partner", ERR), 409: Response("no call on the line", ERR),
            502: Response("the PBX refused or did not answer", ERR)},
        tag="agents")),
    RouteSpec("POST", "/api/agents/{line}/listen", api_agent_listen, "supervisor", ApiDoc(
        "Listen to the line's call from the supervisor's softphone (the account's supervision line): "
        "Asterisk rings it, then ChanSpy; mode listen (unheard), whisper (to the advisor), barge (to both)",
        (Param("line", "path", schema={"type": "string"}),),
        {"type": "object", "additionalProperties": False,
         "properties": {"mode": {"type": "string", "enum": list(LISTEN_MODES)}}}, {
            200: Response("the softphone rings", {"type": "object"}), 400: Response("no such mode", ERR),
            404: Response("unknown line", ERR),
            409: Response("no call on the line, or the account has no supervision softphone", ERR),
            502: Response("the PBX refused or did not answer", ERR)},
        tag="agents", body_required=False)),
)
