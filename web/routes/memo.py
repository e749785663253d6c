"""The advisors' memo: read by advisors (and shown in the screen pop), edited by admins."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from web import pages, store
from web.deps import deps_of, hotline_of, page_user, session_of
from web.http import ERR, ApiError, RouteSpec, html_answer, json_answer, json_body, no_nul, ok
from web.openapi import ApiDoc, Param, Response, array, ref


def _memo_input(body: Mapping[str, Any]) -> tuple[str, str, list[str], list[str]]:
    title, text = body.get("title"), body.get("body", "")
    needs, sectors = body.get("needs", []), body.get("sectors", [])
    ok = (isinstance(title, str) and 1 <= len(title) <= 200 and isinstance(text, str) and len(text) <= 20000
          and isinstance(needs, list) and isinstance(sectors, list)
          and all(isinstance(x, str) and len(x) <= 32 for x in [*needs, *sectors])
          and no_nul(title, text, *needs, *sectors)
          and not set(body) - {"title", "body", "needs", "sectors"})
    if not ok:
        raise ApiError(400, "bad_memo", "title (1-200 chars), body (text), needs and sectors (lists of slugs)")
    assert isinstance(title, str) and isinstance(text, str)
    return title, text, [str(x) for x in needs], [str(x) for x in sectors]


def _memo_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "unknown_memo", "no such memo section")
    return int(raw)


async def api_memo_list(request: web.Request) -> web.StreamResponse:
    return json_answer([dataclasses.asdict(m) for m in await store.list_memo(deps_of(request).pool)])


async def api_memo_add(request: web.Request) -> web.StreamResponse:
    title, text, needs, sectors = _memo_input(await json_body(request))
    section = await store.add_memo(deps_of(request).pool, title, text, needs, sectors, session_of(request).name)
    return json_answer(dataclasses.asdict(section), 201)


async def api_memo_update(request: web.Request) -> web.StreamResponse:
    section_id = _memo_id(request)
    title, text, needs, sectors = _memo_input(await json_body(request))
    section = await store.update_memo(deps_of(request).pool, section_id, title, text, needs, sectors,
                                        session_of(request).name)
    if section is None:
        raise ApiError(404, "unknown_memo", "no such memo section")
    return json_answer(dataclasses.asdict(section))


async def api_memo_delete(request: web.Request) -> web.StreamResponse:
    if not await store.delete_memo(deps_of(request).pool, _memo_id(request)):
        raise ApiError(404, "unknown_memo", "no such memo section")
    return json_answer({"ok": True})


async def page_memo(request: web.Request) -> web.StreamResponse:
    sections = await store.list_memo(deps_of(request).pool)
    return html_answer(pages.memo_page(sections, hotline_of(request), page_user(request), session_of(request).csrf))


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/memo", page_memo, "admin"),
    RouteSpec("GET", "/api/memo", api_memo_list, "advisor", ApiDoc(
        "The advisors' memo", responses=ok("sections", array(ref("MemoSection"))), tag="memo")),
    RouteSpec("POST", "/api/memo", api_memo_add, "admin", ApiDoc(
        "Add a memo section", body=ref("MemoInput"),
        responses={201: Response("added", ref("MemoSection"))}, tag="memo")),
    RouteSpec("PUT", "/api/memo/{id}", api_memo_update, "admin", ApiDoc(
        "Replace a memo section", (Param("id", "path", schema={"type": "string"}),), ref("MemoInput"),
        {200: Response("saved", ref("MemoSection")), 404: Response("no such section", ERR)}, tag="memo")),
    RouteSpec("DELETE", "/api/memo/{id}", api_memo_delete, "admin", ApiDoc(
        "Delete a memo section", (Param("id", "path", schema={"type": "string"}),),
        responses={200: Response("deleted", {"type": "object"}), 404: Response("no such section", ERR)},
        tag="memo")),
)
