"""How a route module (``web.routes``) answers and declares its routes: errors, JSON and pages, route specs.

A handler refuses bad input with an ``ApiError`` (the guard in ``web.app`` answers it as JSON or as a
French page) and declares itself in its module's ``ROUTES`` (``RouteSpec``: method, path, access,
OpenAPI entry). What a request carries (deps, session, hotline) is in ``web.deps``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
from aiohttp import web

from web.openapi import ApiDoc, Param, Response, ref
from web.roles import Access

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# PostgreSQL unreachable, restarting or gone mid-query: the page says so (503, French), never a raw 500.
DATABASE_DOWN: Final = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                        asyncpg.exceptions.OperatorInterventionError)
DATABASE_DOWN_MESSAGE: Final = ("Service momentanément indisponible : la base de données ne répond pas. "
                                "Réessayez dans quelques instants.")
DATABASE_DOWN_RETRY: Final = 5  # seconds, sent as Retry-After


class ApiError(Exception):
    """A refusal with its HTTP status and stable code: JSON for the API, a French page otherwise (the guard)."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None,
                 *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.retry_after = retry_after  # seconds, sent as Retry-After (HTTP 429)


# --- answers -------------------------------------------------------------------------------------
def json_answer(payload: object, status: int = 200) -> web.Response:
    """``payload`` as JSON, non-ASCII letters kept as they are (French names)."""
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def error_answer(status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> web.Response:
    """The API's error body: ``{"error": code, "message": ..., "fields": [{path, message}]}``."""
    body: dict[str, object] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return json_answer(body, status)


def html_answer(text: str, status: int = 200) -> web.Response:
    """A rendered page (``web.pages``)."""
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def is_api(request: web.Request) -> bool:
    """Answered in JSON (the API and /metrics), not with a page."""
    return request.path.startswith("/api/") or request.path == "/metrics"


# --- input -----------------------------------------------------------------------------------------
def no_nul(*values: object) -> bool:
    """PostgreSQL text cannot hold NUL: such input is refused with a 400, not a 500."""
    return not any(isinstance(v, str) and "\x00" in v for v in values)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, else a 400 ``bad_json``."""
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return data


# --- route tables --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    access: Access
    doc: ApiDoc | None = None  # API routes: in the OpenAPI document


def ok(description: str, schema: dict[str, Any] | None) -> dict[int, Response]:
    """An OpenAPI entry's only documented answer: 200."""
    return {200: Response(description, schema)}


WINDOW: Final = (
    Param("from", schema={"type": "string", "format": "date"}, description="first local day, YYYY-MM-DD"),
    Param("to", schema={"type": "string", "format": "date"}, description="last local day, included"))
ERR: Final = ref("Error")
