"""Rendez-vous et documentation: the advisor's nearest offices, free slots, booking and brochure (HTTP views).

Thin views over ``appointments`` (pure ranking and slots, PostgreSQL bookings, the SMTP mailer):

- ``GET /api/agents/{line}/appointments/offices``: the communes of a postcode and, once the commune
  is known (given, or the postcode's only one), the partner's offices nearest first with their free
  slots. The partner defaults to the line's own.
- ``POST /api/agents/{line}/appointments``: book a slot (``UNIQUE (office_id, starts_at)`` holds it;
  a lost race is ``409 slot_taken``) for the call (``linkedid``: given, else the call on the line
  now, else none), then send the confirmation (PDF brochure + .ics) and record
  whether it left (``mark_sent``). An SMTP failure is ``502 mail_failed``: the booking stays, and
  the answer says so and carries it.
- ``POST /api/agents/{line}/brochure``: the brochure alone.

An advisor acts for their own line, supervisors for any (``may_act_on_line``); bad input is a 400
whose ``fields`` name each wrong field (``path``). Messages are in French: the advisor page shows them.
``web.routes.appointments`` wraps each view (``View``) with the request's deps and session and turns
``Refused`` into its ``ApiError``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from appointments import mailer
from appointments import store as bookings
from appointments.invitation import Appointment, french_when
from appointments.offices import Commune, RankedOffice, office_slots, rank_offices, slot_length
from config.models import Hotline, Office, Partner
from web.http import json_answer, json_body
from web.openapi import ApiDoc, Param, Response, ref
from web.ports import CommuneFinder
from web.roles import may_act_on_line
from web.store import Session

if TYPE_CHECKING:
    from web.deps import WebDeps

log = structlog.get_logger(__name__)

View = Callable[[web.Request, "WebDeps", Session], Awaitable[web.StreamResponse]]
SLOT_DAYS: Final = 14  # free slots offered from now
MAX_SLOTS: Final = 24  # per office
MAX_AHEAD: Final = dt.timedelta(days=92)  # a booking further ahead is refused
POSTCODE: Final = re.compile(r"^[0-9]{5}$")
COMMUNE_CODE: Final = re.compile(r"^[0-9][0-9AB][0-9]{3}$")  # INSEE code (2A/2B: Corsica)
SLUG: Final = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
LINKEDID: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EMAIL: Final = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
TIER_LABELS: Final = {
    "commune": "dans la commune", "epci": "même intercommunalité", "arrondissement": "même arrondissement",
    "departement": "même département", "region": "même région", "ailleurs": "hors région",
}


class Refused(Exception):
    """A request the views refuse: answered as ``ApiError(status, code, message, fields)`` (``web.http``)."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _bad(fields: dict[str, str]) -> Refused:
    listed = ", ".join(fields)
    return Refused(400, "bad_input", f"Champ(s) à corriger : {listed}.",
                   [{"path": name, "message": message} for name, message in fields.items()])


def _now(deps: WebDeps) -> dt.datetime:
    return dt.datetime.fromtimestamp(deps.clock(), dt.UTC)


def _line_partner(request: web.Request, hotline: Hotline, session: Session) -> tuple[str, Partner]:
    """The line in the path, checked against the session, and its partner."""
    line = request.match_info["line"]
    if not may_act_on_line(session.role, session.line, line):
        raise Refused(403, "not_your_line", "an advisor acts on their own line only")
    partner = hotline.partner_of(line) if line in {x for x, _ in hotline.lines()} else None
    if partner is None:
        raise Refused(404, "unknown_line", f"no line {line!r}")
    return line, partner


def current_linkedid(deps: WebDeps, line: str) -> str | None:
    """The linkedid of the call on the line now (ringing or connected), None when there is none."""
    state = deps.live.snapshot().lines.get(line)
    if state is None or state.caller_uniqueid is None:
        return None
    call = deps.calls.call_info(state.caller_uniqueid) if deps.calls else None
    return call.linkedid if call is not None else state.caller_uniqueid


def _partner(hotline: Hotline, wanted: object, default: Partner, errors: dict[str, str]) -> Partner:
    if wanted is None or wanted == "":
        return default
    found = hotline.partner(wanted) if isinstance(wanted, str) and SLUG.match(wanted) else None
    if found is None:
        errors["partner"] = "partenaire inconnu"
        return default
    return found


def _email(value: object, errors: dict[str, str]) -> str:
    if not isinstance(value, str) or len(value) > 254 or not EMAIL.match(value):
        errors["email"] = "adresse e-mail invalide (exemple : nom@domaine.fr)"
        return ""
    return value


async def _communes(deps: WebDeps) -> CommuneFinder:
    finder = await asyncio.to_thread(deps.communes)  # the first call reads Etalab's files (~0.5 s)
    if finder is None:
        raise Refused(503, "communes_unavailable",
                      "Les données des communes ne sont pas installées (make communes).")
    return finder


def _office_communes(finder: CommuneFinder, partner: Partner) -> dict[str, Commune]:
    found: dict[str, Commune] = {}
    for office in partner.offices:
        matches = finder.find(office.postcode, office.commune)
        if matches:
            found[office.id] = matches[0]
    return found


def distance_text(km: float | None) -> str:
    """'à 12,3 km' (French decimal comma), '' when unknown."""
    if km is None:
        return ""
    return f"à {km:.1f} km".replace(".", ",")


def _ranked_json(r: RankedOffice, slots: list[dt.datetime], timezone: str) -> dict[str, object]:
    o = r.office
    tier = TIER_LABELS[r.tier]
    return {
        "id": o.id, "name": o.name, "address": o.address, "postcode": o.postcode, "commune": o.commune,
        "tier": r.tier, "tier_label": tier, "distance_km": r.distance_km,
        "label": f"{o.name} — {o.commune} ({', '.join(x for x in (tier, distance_text(r.distance_km)) if x)})",
        "slots": [{"start": s.isoformat(), "label": french_when(s, timezone)} for s in slots],
    }


async def offices(request: web.Request, deps: WebDeps, session: Session) -> web.StreamResponse:
    hotline = deps.hotline.hotline
    _line, own = _line_partner(request, hotline, session)
    errors: dict[str, str] = {}
    partner = _partner(hotline, request.query.get("partner"), own, errors)
    postcode = request.query.get("postcode", "")
    if not POSTCODE.match(postcode):
        errors["postcode"] = "code postal : 5 chiffres"
    wanted = request.query.get("commune") or None
    if wanted is not None and not COMMUNE_CODE.match(wanted):
        errors["commune"] = "code INSEE de la commune (5 caractères)"
    if errors:
        raise _bad(errors)
    finder = await _communes(deps)
    communes: list[Commune] = finder.find(postcode)
    if not communes:
        raise _bad({"postcode": f"aucune commune pour le code postal {postcode}"})
    if wanted is not None:
        chosen = next((c for c in communes if c.code == wanted), None)
        if chosen is None:
            raise _bad({"commune": f"cette commune n'a pas le code postal {postcode}"})
    else:
        chosen = communes[0] if len(communes) == 1 else None
    timezone = hotline.hours.timezone
    listed: list[dict[str, object]] = []
    if chosen is not None:
        now = _now(deps)
        until = now + dt.timedelta(days=SLOT_DAYS + 1)
        for ranked in rank_offices(partner.offices, chosen, _office_communes(finder, partner)):
            booked = await bookings.booked_starts(deps.pool, ranked.office.id, now, until)
            slots = office_slots(ranked.office, now, SLOT_DAYS, timezone, booked)[:MAX_SLOTS]
            listed.append(_ranked_json(ranked, slots, timezone))
    return json_answer({
        "partner": {"id": partner.id, "name": partner.name, "brochure": partner.brochure is not None},
        "postcode": postcode, "communes": [{"code": c.code, "name": c.name} for c in communes],
        "commune": None if chosen is None else {"code": chosen.code, "name": chosen.name},
        "offices": listed,
    })


def _office(hotline: Hotline, office_id: object) -> tuple[Partner, Office] | None:
    for partner in hotline.partners:
        for office in partner.offices:
            if office.id == office_id:
                return partner, office
    return None


def _start(value: object, office: Office | None, now: dt.datetime, timezone: str,
           errors: dict[str, str]) -> dt.datetime | None:
    start: dt.datetime | None = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            start = dt.datetime.fromisoformat(value)
        except ValueError:
            start = None
    if start is None or start.tzinfo is None or start.utcoffset() is None:
        errors["start"] = "début du créneau : date et heure ISO 8601 avec le décalage horaire"
        return None
    if not dt.timedelta(0) <= start - now <= MAX_AHEAD:
        errors["start"] = "ce créneau est passé ou trop lointain"
        return None
    if office is not None and slot_length(office, start, timezone) is None:
        errors["start"] = "aucun créneau ne commence à cette heure dans ce bureau"
        return None
    return start


async def book(request: web.Request, deps: WebDeps, session: Session) -> web.StreamResponse:
    hotline = deps.hotline.hotline
    line, _own = _line_partner(request, hotline, session)
    body = await json_body(request)
    errors: dict[str, str] = {}
    unknown = set(body) - {"office", "start", "email", "linkedid", "postcode", "commune"}
    if unknown:
        errors[sorted(unknown)[0]] = "champ inconnu"
    found = _office(hotline, body.get("office"))
    if found is None:
        errors["office"] = "bureau inconnu"
    now, timezone = _now(deps), hotline.hours.timezone
    start = _start(body.get("start"), found[1] if found else None, now, timezone, errors)
    email = _email(body.get("email"), errors)
    linkedid = body.get("linkedid")
    if linkedid is not None and (not isinstance(linkedid, str) or not LINKEDID.match(linkedid)):
        errors["linkedid"] = "identifiant d'appel invalide"
    postcode = body.get("postcode")
    if not isinstance(postcode, str) or not POSTCODE.match(postcode):
        errors["postcode"] = "code postal : 5 chiffres"
    commune = body.get("commune")
    if commune is not None and (not isinstance(commune, str) or not COMMUNE_CODE.match(commune)):
        errors["commune"] = "code INSEE de la commune (5 caractères)"
    if errors:
        raise _bad(errors)
    assert found is not None and start is not None and isinstance(postcode, str)
    partner, office = found
    if linkedid is None:  # the page does not know it: the call on the line now, if any
        linkedid = current_linkedid(deps, line)
    length = slot_length(office, start, timezone)
    assert length is not None
    try:
        booking = await bookings.book(
            deps.pool, partner_id=partner.id, office_id=office.id, starts_at=start, ends_at=start + length,
            linkedid=linkedid, caller_email=email, postcode=postcode, commune_code=commune,
            booked_by=session.name)
    except bookings.SlotTaken:
        raise Refused(409, "slot_taken", "Ce créneau vient d'être réservé par quelqu'un d'autre : "
                                         "choisissez-en un autre.") from None
    when = french_when(start, timezone)
    result: dict[str, object] = {
        "id": booking.id, "partner": partner.id, "office": office.id, "office_name": office.name,
        "start": start.isoformat(), "end": (start + length).isoformat(), "linkedid": linkedid, "when": when}
    log.info("web.appointment_booked", by=session.name, booking=booking.id, office=office.id,
             starts_at=start.isoformat(), linkedid=linkedid)
    appointment = Appointment(f"rdv-{booking.id}@aiguilleur", partner, office, start, start + length, email,
                              deps.smtp.sender)
    try:
        await _send(deps, email, partner, appointment, now, timezone)
    except mailer.MailError as exc:
        await bookings.mark_sent(deps.pool, booking.id, str(exc))
        log.warning("web.appointment_mail_failed", booking=booking.id, error=str(exc))
        return json_answer({"error": "mail_failed", "booking": result, "email_sent": False,
                            "message": f"Rendez-vous réservé ({office.name}, {when}), mais l'e-mail de confirmation "
                                       f"n'est pas parti : le serveur de messagerie ne l'a pas accepté. "
                                       f"La réservation est gardée (n° {booking.id})."}, 502)
    await bookings.mark_sent(deps.pool, booking.id, None)
    return json_answer({"booking": result, "email_sent": True,
                        "message": f"Rendez-vous réservé : {office.name}, {when}. Confirmation envoyée à {email}."},
                       201)


async def _send(deps: WebDeps, to: str, partner: Partner, appointment: Appointment | None, now: dt.datetime,
                timezone: str) -> None:
    try:
        message = mailer.build_message(sender=deps.smtp.sender, to=to, partner=partner, appointment=appointment,
                                       timezone=timezone, now=now.astimezone(ZoneInfo(timezone)))
    except OSError as exc:  # the brochure file is missing
        raise mailer.MailError(f"the message could not be built: {exc}") from None
    await mailer.send(deps.smtp, message)


async def brochure(request: web.Request, deps: WebDeps, session: Session) -> web.StreamResponse:
    hotline = deps.hotline.hotline
    _line, own = _line_partner(request, hotline, session)
    body = await json_body(request)
    errors: dict[str, str] = {}
    unknown = set(body) - {"email", "partner"}
    if unknown:
        errors[sorted(unknown)[0]] = "champ inconnu"
    partner = _partner(hotline, body.get("partner"), own, errors)
    email = _email(body.get("email"), errors)
    if "partner" not in errors and partner.brochure is None:
        errors["partner"] = "ce partenaire n'a pas de brochure"
    if errors:
        raise _bad(errors)
    try:
        await _send(deps, email, partner, None, _now(deps), hotline.hours.timezone)
    except mailer.MailError as exc:
        log.warning("web.brochure_mail_failed", partner=partner.id, error=str(exc))
        raise Refused(502, "mail_failed", "La brochure n'est pas partie : le serveur de messagerie ne l'a pas "
                                          "acceptée. Réessayez plus tard.") from None
    log.info("web.brochure_sent", by=session.name, partner=partner.id)
    return json_answer({"partner": partner.id, "email_sent": True,
                        "message": f"Brochure {partner.name} envoyée à {email}."})


# --- the OpenAPI entries of these routes (web.routes.appointments; schemas in web.openapi.SCHEMAS) -----
_LINE = Param("line", "path", schema={"type": "string"})
_ERR = ref("Error")
OFFICES_DOC: Final = ApiDoc(
    "The communes of a postcode, then the partner's offices nearest first with their free slots "
    "(partner: the line's by default)", (
        _LINE, Param("postcode", schema={"type": "string", "pattern": "^[0-9]{5}$"}, required=True),
        Param("commune", schema={"type": "string", "pattern": "^[0-9][0-9AB][0-9]{3}$"},
              description="INSEE code; needed when the postcode has several communes"),
        Param("partner", schema={"type": "string", "pattern": "^[a-z][a-z0-9]{0,15}$"})),
    responses={200: Response("communes and offices", ref("AppointmentOffices")), 404: Response("unknown line", _ERR),
               503: Response("the communes dataset is not installed", _ERR)}, tag="appointments")
BOOK_DOC: Final = ApiDoc(
    "Book a slot and e-mail the confirmation (PDF brochure + .ics)", (_LINE,), ref("AppointmentBody"), {
        201: Response("booked and sent", ref("AppointmentBooked")), 404: Response("unknown line", _ERR),
        409: Response("slot_taken: someone else just booked it", _ERR),
        502: Response("booked, but the SMTP server did not take the e-mail: the booking stays",
                      ref("AppointmentBooked"))}, tag="appointments")
BROCHURE_DOC: Final = ApiDoc(
    "E-mail the partner's PDF brochure (partner: the line's by default)", (_LINE,), ref("BrochureBody"), {
        200: Response("sent", ref("BrochureSent")), 404: Response("unknown line", _ERR),
        502: Response("the SMTP server did not take the e-mail", _ERR)}, tag="appointments")
