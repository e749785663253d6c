"""Appointments and brochure: the routes of ``web.appointments_api``'s views."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from web import appointments_api
from web.deps import deps_of, session_of
from web.http import ApiError, Handler, RouteSpec


def _appointments(view: appointments_api.View) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await view(request, deps_of(request), session_of(request))
        except appointments_api.Refused as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.fields) from None

    return handler


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/api/agents/{line}/appointments/offices", _appointments(appointments_api.offices), "advisor",
              appointments_api.OFFICES_DOC),
    RouteSpec("POST", "/api/agents/{line}/appointments", _appointments(appointments_api.book), "advisor",
              appointments_api.BOOK_DOC),
    RouteSpec("POST", "/api/agents/{line}/brochure", _appointments(appointments_api.brochure), "advisor",
              appointments_api.BROCHURE_DOC),
)
