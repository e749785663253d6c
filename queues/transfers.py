"""Advisors transfer a caller to another partner's queue: the codes and names. Pure.

Shared by the dialplan generator (``aiguilleur.confgen``: ``features.conf`` and the
transfer contexts) and the advisor desk (``queues.advisors``: the web's transfer
action), so the softphone and the web reach the same extension.

- Partners are numbered from 1 in the order of ``partners`` in ``config/hotline.yaml``
  (one digit up to 9 partners, two digits, zero-padded, from 10); the transfer
  extension of a partner is ``TRANSFER_PREFIX`` + that number (``*54``: the 4th partner).
- On a queue call, an advisor presses ``BLIND_TRANSFER_CODE`` (blind) or
  ``ATTENDED_TRANSFER_CODE`` (attended: talk to the advisor who answers, then hang up
  to hand the caller over), then dials the partner's extension. Asterisk looks the
  digits up in ``TRANSFER_CONTEXT`` (the dialplan global ``TRANSFER_CONTEXT`` names it).
- The caller joins ``partner-<id>`` (that partner's lines at penalty 0, the others at
  the floor, widened by the queue rule) with ``TRANSFER_PRIORITY``: ahead of first-time
  callers (0) and recent callers asking for their partner again (1).
"""

from __future__ import annotations

from cdr.vocabulary import CallVar
from config.models import Hotline
from queues.errors import DomainError
from routing.router import PARTNER_QUEUE_PREFIX, REPEAT_CALLER_PRIORITY

BLIND_TRANSFER_CODE = "#1"
ATTENDED_TRANSFER_CODE = "*2"
TRANSFER_PREFIX = "*5"
TRANSFER_CONTEXT = "advisor-transfer"  # the partner extensions, where transfer digits are looked up
TRANSFER_QUEUE_CONTEXT = "advisor-transfer-queue"  # exten = queue: the transferred caller joins it
TRANSFER_PRIORITY = REPEAT_CALLER_PRIORITY + 1
TRANSFER_DIGIT_TIMEOUT_SECONDS = 3
# The IVR's answers, on the caller's channel (ivr.session); an attended transfer's Local
# channel copies them from the caller's channel, so both ways queue with the same profile.
PROFILE_VARIABLES = (CallVar.NEED, CallVar.SECTOR, CallVar.SIZE, CallVar.DEPARTEMENT)


class UnknownPartner(DomainError):
    """A transfer to a partner the hotline does not have."""

    code, status = "unknown_partner", 404


class NoCallToTransfer(DomainError):
    """The line is not talking to a caller: nothing to transfer (or to listen to)."""

    code, status = "no_call", 409


def partner_numbers(hotline: Hotline) -> dict[str, str]:
    """Partner id -> its number in config order (``"1"``, ``"2"``...; ``"01"``... from 10 partners)."""
    width = len(str(len(hotline.partners)))
    return {p.id: str(i).zfill(width) for i, p in enumerate(hotline.partners, start=1)}


def transfer_extensions(hotline: Hotline) -> dict[str, str]:
    """Partner id -> the extension an advisor dials after the transfer code (``*51``, ``*52``...)."""
    return {partner: TRANSFER_PREFIX + number for partner, number in partner_numbers(hotline).items()}


def transfer_extension(hotline: Hotline, partner: str) -> str:
    extensions = transfer_extensions(hotline)
    if partner not in extensions:
        raise UnknownPartner(f"partenaire inconnu {partner!r} (partenaires : {', '.join(extensions)})")
    return extensions[partner]


def transfer_queue(partner: str) -> str:
    """The queue a caller transferred to ``partner`` joins."""
    return PARTNER_QUEUE_PREFIX + partner
