"""The confirmation e-mail goes through a real SMTP server (aiosmtpd on loopback) and parses back."""

from __future__ import annotations

import contextlib
import datetime as dt
import email
from collections.abc import Iterator
from email.message import EmailMessage, Message
from email.policy import default
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from appointments.invitation import Appointment
from appointments.mailer import MailError, build_message, send
from config.models import Hotline
from config.settings import SmtpSettings
from sandbox.ports import free_tcp_port

PARIS = ZoneInfo("Europe/Paris")


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content or b""
        raw = content.encode() if isinstance(content, str) else bytes(content)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 OK"



@contextlib.contextmanager
def smtp_inbox_on(port: int) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on loopback ``port``, keeping what it receives."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    port = free_tcp_port()
    with smtp_inbox_on(port) as inbox:
        yield inbox, port


def parse(raw: bytes) -> EmailMessage:
    message: Message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


async def test_confirmation_arrives_with_the_brochure_and_the_invitation(
        hotline: Hotline, smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    cma = hotline.partner("cma")
    assert cma is not None
    office = cma.offices[1]  # Arras
    start = dt.datetime(2026, 11, 23, 9, 45, tzinfo=PARIS)
    appt = Appointment("rdv-7@aiguilleur", cma, office, start, start + dt.timedelta(minutes=45),
                       "porteur@example.org", "numero-unique@example.org")
    message = build_message(sender="numero-unique@example.org", to="porteur@example.org", partner=cma,
                            appointment=appt, timezone="Europe/Paris", now=start - dt.timedelta(days=3))
    await send(SmtpSettings(port=port), message)

    (mail_from, rcpt, raw) = inbox.received[0]
    assert (mail_from, rcpt) == ("numero-unique@example.org", ["porteur@example.org"])
    got = parse(raw)
    assert got["Subject"].strip() == "Confirmation de votre rendez-vous : CMA (chambre de métiers et de l'artisanat)"
    body = got.get_body(("plain",))
    assert body is not None and "lundi 23 novembre 2026 à 09h45" in body.get_content()
    parts = {p.get_filename(): p for p in got.iter_attachments()}
    assert set(parts) == {"brochure-cma.pdf", "rendez-vous.ics"}
    pdf = parts["brochure-cma.pdf"].get_content()
    assert parts["brochure-cma.pdf"].get_content_type() == "application/pdf" and pdf.startswith(b"%PDF")
    invitation = parts["rendez-vous.ics"].get_content()
    if isinstance(invitation, bytes):
        invitation = invitation.decode()
    unfolded = invitation.replace("\r\n ", "")
    fields = dict(line.split(":", 1) for line in unfolded.split("\r\n") if ":" in line)
    assert fields["DTSTART"] == "20261123T084500Z" and fields["DTEND"] == "20261123T093000Z"
    assert fields["LOCATION"] == ("CMA Hauts-de-France\\, Pas-de-Calais\\, Centre Jean Monnet\\, avenue de Paris\\, "
                                  "62000 Arras")


async def test_brochure_alone_without_appointment(hotline: Hotline, smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    cci = hotline.partner("cci")
    assert cci is not None
    message = build_message(sender="n@example.org", to="p@example.org", partner=cci, appointment=None,
                            timezone="Europe/Paris", now=dt.datetime(2026, 11, 23, 10, tzinfo=PARIS))
    await send(SmtpSettings(port=port), message)
    got = parse(inbox.received[0][2])
    assert got["Subject"].strip().startswith("Votre brochure d'information")
    assert [p.get_filename() for p in got.iter_attachments()] == ["brochure-cci.pdf"]


async def test_no_smtp_server_is_a_mail_error(hotline: Hotline) -> None:
    cci = hotline.partner("cci")
    assert cci is not None
    message = build_message(sender="n@example.org", to="p@example.org", partner=cci, appointment=None,
                            timezone="Europe/Paris", now=dt.datetime(2026, 11, 23, 10, tzinfo=PARIS))
    with pytest.raises(MailError, match="did not take the message"):
        await send(SmtpSettings(port=free_tcp_port(), timeout=2), message)
