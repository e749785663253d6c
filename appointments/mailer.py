"""Send the brochure and the appointment confirmation over SMTP (aiosmtplib), at the edge."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib

from appointments.invitation import Appointment, brochure_text, confirmation_text, ics
from config.models import Partner
from config.settings import REPO_ROOT, SmtpSettings


class MailError(Exception):
    code = "mail_failed"


def _attach_brochure(message: EmailMessage, partner: Partner, root: Path) -> None:
    if partner.brochure is None:
        return
    data = (root / partner.brochure).read_bytes()
    message.add_attachment(data, maintype="application", subtype="pdf", filename=f"brochure-{partner.id}.pdf")


def build_message(*, sender: str, to: str, partner: Partner, appointment: Appointment | None, timezone: str,
                  now: dt.datetime, root: Path = REPO_ROOT) -> EmailMessage:
    """The e-mail: the confirmation (brochure + .ics) when there is an appointment, else the brochure alone."""
    subject, body = (confirmation_text(appointment, timezone) if appointment is not None
                     else brochure_text(partner))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(body)
    _attach_brochure(message, partner, root)
    if appointment is not None:
        message.add_attachment(ics(appointment, now).encode("utf-8"), maintype="text", subtype="calendar",
                               params={"method": "REQUEST"}, filename="rendez-vous.ics")
    return message


async def send(settings: SmtpSettings, message: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            message, hostname=settings.host, port=settings.port, timeout=settings.timeout,
            username=settings.username, password=settings.password.get_secret_value() if settings.password else None,
            start_tls=settings.starttls)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailError(f"the SMTP server {settings.host}:{settings.port} did not take the message: {exc}") from None
