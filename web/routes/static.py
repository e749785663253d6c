"""The page scripts and styles (``web/static``), read once and served from memory."""

from __future__ import annotations

from importlib import resources
from typing import Final

from aiohttp import web

from web.http import RouteSpec

STATIC_TYPES: Final = {".js": "text/javascript", ".css": "text/css"}
_STATIC: dict[str, bytes] = {}


def _static_files() -> dict[str, bytes]:
    if not _STATIC:
        for entry in resources.files("web").joinpath("static").iterdir():
            if entry.name.endswith(tuple(STATIC_TYPES)):
                _STATIC[entry.name] = entry.read_bytes()
    return _STATIC


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = _static_files().get(name)
    if body is None:
        raise web.HTTPNotFound()
    kind = STATIC_TYPES[name[name.rfind("."):]]
    return web.Response(body=body, content_type=kind, charset="utf-8", headers={"Cache-Control": "no-cache"})


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/static/{name}", static, "public"),
)
