"""The appointment as an iCalendar invitation (RFC 5545) and the e-mails' French text. Pure.

Written by hand: one VEVENT, CRLF line ends, text escaped (``\\``, ``;``, ``,``, newline) and
lines folded at 75 octets, times in UTC (``Z``) so no VTIMEZONE is needed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from config.models import Office, Partner

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


@dataclass(frozen=True)
class Appointment:
    uid: str
    partner: Partner
    office: Office
    starts_at: dt.datetime
    ends_at: dt.datetime
    caller_email: str
    organizer_email: str


def escape_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def fold(line: str) -> str:
    """Fold a content line at 75 octets (continuation lines start with one space)."""
    out: list[str] = []
    current = ""
    for ch in line:
        limit = 75 if not out else 74
        if len((current + ch).encode("utf-8")) > limit:
            out.append(current)
            current = ch
        else:
            current += ch
    out.append(current)
    return "\r\n ".join(out)


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def office_location(office: Office) -> str:
    return f"{office.name}, {office.address}, {office.postcode} {office.commune}"


def ics(appt: Appointment, stamp: dt.datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//aiguilleur//rendez-vous//FR", "CALSCALE:GREGORIAN",
        "METHOD:REQUEST", "BEGIN:VEVENT",
        f"UID:{appt.uid}", f"DTSTAMP:{_utc(stamp)}", f"DTSTART:{_utc(appt.starts_at)}", f"DTEND:{_utc(appt.ends_at)}",
        f"SUMMARY:{escape_text('Rendez-vous ' + appt.partner.name)}",
        f"LOCATION:{escape_text(office_location(appt.office))}",
        f"GEO:{appt.office.latitude:.6f};{appt.office.longitude:.6f}",
        "DESCRIPTION:" + escape_text("Votre rendez-vous pour votre projet d'entreprise. Apportez vos questions."),
        f"ORGANIZER:mailto:{appt.organizer_email}",
        f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:{appt.caller_email}",
        "STATUS:CONFIRMED", "END:VEVENT", "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)


def french_when(value: dt.datetime, timezone: str) -> str:
    local = value.astimezone(ZoneInfo(timezone))
    day = "1er" if local.day == 1 else str(local.day)
    return f"{DAYS[local.weekday()]} {day} {MONTHS[local.month - 1]} {local.year} à {local:%H}h{local:%M}"


def confirmation_text(appt: Appointment, timezone: str) -> tuple[str, str]:
    """(subject, body) of the confirmation e-mail, in French."""
    when = french_when(appt.starts_at, timezone)
    subject = f"Confirmation de votre rendez-vous : {appt.partner.name}"
    body = (
        "Bonjour,\n\n"
        f"Votre rendez-vous avec {appt.partner.name} est confirmé le {when}.\n"
        f"Adresse : {office_location(appt.office)}.\n\n"
        "Vous trouverez en pièces jointes la brochure de présentation et l'invitation à ajouter à votre agenda.\n"
        "En cas d'empêchement, merci de rappeler le numéro unique.\n\n"
        "Cordialement,\nLe numéro unique des entreprises des Hauts-de-France\n"
    )
    return subject, body


def brochure_text(partner: Partner) -> tuple[str, str]:
    subject = f"Votre brochure d'information : {partner.name}"
    body = ("Bonjour,\n\nSuite à votre appel, voici la brochure de présentation de "
            f"{partner.name} en pièce jointe.\n\nCordialement,\n"
            "Le numéro unique des entreprises des Hauts-de-France\n")
    return subject, body
