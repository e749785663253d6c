"""Advisors' controls over AMI: log in, log out, pause with a reason, unpause, transfer
the caller to another partner; and the member changes that apply new rules to the lines
already logged in.

The same actions exist as feature codes on the softphones (``aiguilleur.confgen``,
context ``lines``); both paths end in the same app_queue calls, so the live state
and queue_log cannot tell them apart. Logging in goes through the dialplan
(``advisor-login``) because only ``AddQueueMember`` takes a member's wrap-up time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from config.models import Hotline
from queues.ami import AmiActionError, AmiClient
from queues.errors import DomainError
from queues.member_mirror import SetPaused
from queues.state import member_line
from queues.state_seed import seed_from_queue_status
from queues.transfers import TRANSFER_CONTEXT, NoCallToTransfer, transfer_extension
from routing.router import queue_names
from routing.rules import (
    LOGIN_CONTEXT,
    MEMBERSHIP_FIELD_SEP,
    JoinQueue,
    LeaveQueue,
    MemberChange,
    SetPenalty,
    membership_of,
)

log = structlog.get_logger(__name__)

LOGIN_TIMEOUT = 10.0


# ChanSpy's options per mode (q: quiet, E: end with the spied channel; w: whisper, B: barge).
LISTEN_MODES: dict[str, str] = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}
LISTEN_LABELS: dict[str, str] = {"listen": "Écoute", "whisper": "Chuchotement", "barge": "Intervention"}
LISTEN_RING_SECONDS = 30  # how long the supervisor's softphone rings


class AdvisorError(DomainError):
    """An advisor action that cannot be done (a bad pause reason, mode or softphone)."""

    code = "advisor_refused"


class UnknownLine(AdvisorError):
    """No such line in the hotline."""

    code, status = "unknown_line", 404


class NotLoggedIn(AdvisorError):
    """The line is not in the queues: it cannot be paused or unpaused."""

    code, status = "not_logged_in", 409


def interface_of(line: str) -> str:
    return f"PJSIP/{line}"


@dataclass(frozen=True)
class MemberSnapshot:
    """What app_queue says about the dynamic members right now (from QueueStatus)."""

    penalties: Mapping[str, Mapping[str, int]]  # line -> queue -> penalty
    paused: Mapping[str, str]  # line -> reason, for lines paused in at least one queue


async def read_members(ami: AmiClient, line: str | None = None) -> MemberSnapshot:
    """Ask app_queue who is logged in where (read-only, safe to resend); one line or all."""
    action = {"Action": "QueueStatus"}
    if line is not None:
        action["Member"] = interface_of(line)
    replies = await ami.send(action, idempotent=True)
    seed = seed_from_queue_status(replies, taken_at=0.0)
    penalties: dict[str, dict[str, int]] = {}
    paused: dict[str, str] = {}
    for member in seed.members:
        line, _ = member_line(member)
        penalties.setdefault(line, {})[member.get("Queue", "")] = int(member.get("Penalty", "0") or 0)
        if member.get("Paused") == "1":
            paused[line] = member.get("PausedReason", "")
    return MemberSnapshot(penalties, paused)


class AdvisorDesk:
    """Advisor actions for the CLI, the web API and the service; ``rules()`` is the hotline that runs."""

    def __init__(self, ami: AmiClient, rules: Callable[[], Hotline]) -> None:
        self._ami = ami
        self._rules = rules

    def _check_line(self, line: str) -> Hotline:
        hotline = self._rules()
        partner = hotline.partner_of(line)
        if partner is None or line not in partner.line_ids():
            known = ", ".join(line_id for line_id, _ in hotline.lines()[:3])
            raise UnknownLine(f"unknown line {line!r} (lines look like {known}, ...)")
        return hotline

    async def login(self, line: str, *, fix_penalties: bool = True) -> None:
        """Add the line to every queue with its penalties and wrap-up (no-op where it is already)."""
        hotline = self._check_line(line)
        membership = membership_of(hotline, line)
        await self._join(line)  # the dialplan reads the partner's membership from its globals
        # Lines already in some queue kept their old penalty (MEMBERALREADY): set them right.
        if not fix_penalties:
            log.info("advisor.login", line=line, queues=len(membership.penalties))
            return
        members = await read_members(self._ami, line)
        for queue, penalty in membership.penalties.items():
            current = members.penalties.get(line, {}).get(queue)
            if current is not None and current != penalty:
                await self.apply_change(SetPenalty(line, queue, penalty))
        log.info("advisor.login", line=line, queues=len(membership.penalties))

    async def logout(self, line: str) -> None:
        """Remove the line from every queue it is in (the rules' and any other, e.g. a lingering one)."""
        hotline = self._check_line(line)
        member_of = (await read_members(self._ami, line)).penalties.get(line, {})
        for queue in [*queue_names(hotline), *sorted(set(member_of) - set(queue_names(hotline)))]:
            await self._remove(line, queue)
        log.info("advisor.logout", line=line)

    async def pause(self, line: str, reason: str) -> None:
        """Pause the line in every queue with ``reason`` (one of the configured reasons, or free text)."""
        self._check_line(line)
        if not reason or any(c in reason for c in "\r\n|,"):
            raise AdvisorError(f"invalid pause reason {reason!r}")
        await self._pause(line, True, reason)
        log.info("advisor.pause", line=line, reason=reason)

    async def unpause(self, line: str) -> None:
        self._check_line(line)
        await self._pause(line, False, "")
        log.info("advisor.unpause", line=line)

    async def transfer(self, line: str, partner: str) -> str:
        """Blind-transfer the caller talking to ``line`` to ``partner``'s queue; returns the extension.

        What the advisor's softphone does with the blind-transfer code then ``*5N``
        (``queues.transfers``): AMI BlindTransfer of the advisor's channel, so Asterisk
        logs BLINDTRANSFER and the caller's own channel, with its IVR answers, joins
        ``partner-<id>``. ``UnknownPartner`` / ``NoCallToTransfer`` (ValueErrors) before
        anything is sent.
        """
        hotline = self._check_line(line)
        exten = transfer_extension(hotline, partner)
        channel = await self._talking_channel(line)
        if channel is None:
            raise NoCallToTransfer(f"{line} n'a pas d'appel en cours à transférer")
        await self._ami.send({"Action": "BlindTransfer", "Channel": channel,
                              "Context": TRANSFER_CONTEXT, "Exten": exten})
        log.info("advisor.transfer", line=line, partner=partner, exten=exten, channel=channel)
        return exten

    async def listen(self, supervisor_line: str, line: str, mode: str) -> str:
        """Call the supervisor's softphone and, once it answers, let them hear ``line``'s call.

        ``listen``: hear both sides, unheard; ``whisper``: speak to the advisor only; ``barge``:
        speak to both. AMI Originate of the supervisor's line into ChanSpy on the advisor's
        channel that is talking (``q``: no beep or name announced, ``E``: the supervisor's call
        ends with the advisor's). Returns the spied channel. ``NoCallToTransfer`` (no call on the
        line) or ``AdvisorError`` (unknown line, not a supervisor line, unknown mode) before
        anything is sent.
        """
        hotline = self._check_line(line)
        if supervisor_line not in hotline.advisors.supervisor_lines:
            raise AdvisorError(f"{supervisor_line!r} is not a supervisor's line "
                               f"({', '.join(hotline.advisors.supervisor_lines)})")
        options = LISTEN_MODES.get(mode)
        if options is None:
            raise AdvisorError(f"mode: one of {', '.join(LISTEN_MODES)}")
        channel = await self._talking_channel(line)
        if channel is None:
            raise NoCallToTransfer(f"{line} n'a pas d'appel en cours à écouter")
        await self._ami.send({
            "Action": "Originate",
            "Channel": interface_of(supervisor_line),
            "Application": "ChanSpy",
            "Data": f"{channel},{options}",
            "CallerID": f'"{LISTEN_LABELS[mode]} {line}" <{line}>',
            "Async": "true",
            "Timeout": str(int(LISTEN_RING_SECONDS * 1000)),
            "Variable": "CDR_PROP(disable)=1",  # the supervisor's leg is not a hotline call
        })
        log.info("advisor.listen", supervisor_line=supervisor_line, line=line, mode=mode, channel=channel)
        return channel

    async def _talking_channel(self, line: str) -> str | None:
        """The line's channel that is up and in a bridge (talking to a caller), from CoreShowChannels."""
        replies = await self._ami.send({"Action": "CoreShowChannels"}, idempotent=True)
        prefix = f"{interface_of(line)}-"
        for reply in replies:
            if (reply.get("Event") == "CoreShowChannel" and reply.get("Channel", "").startswith(prefix)
                    and reply.get("BridgeId") and reply.get("ChannelState") == "6"):
                return reply["Channel"]
        return None

    async def _pause(self, line: str, paused: bool, reason: str, queue: str | None = None) -> None:
        """Pause or unpause ``line`` in ``queue``, or in every queue it is in (no ``queue``)."""
        action = {"Action": "QueuePause", "Interface": interface_of(line), "Paused": "true" if paused else "false"}
        if queue is not None:
            action["Queue"] = queue
        if reason:
            action["Reason"] = reason
        try:
            await self._ami.send(action)
        except AmiActionError as error:
            raise NotLoggedIn(f"{line} n'est connectée à aucune file ({error})") from error

    async def _join(self, line: str, membership: str = "", wrapup_seconds: int | None = None) -> None:
        """Run the dialplan's login loop for ``line``; returns once added.

        Without ``membership`` (``queue:penalty/...``) the line joins what the dialplan's globals
        give its partner: a whole membership does not fit in one AMI header line (1024 bytes).
        ``_`` prefixes: the Local channel's ;2 half, which runs the loop, inherits them.
        """
        variables = ["CDR_PROP(disable)=1"]
        if membership:
            variables += [f"_AIGUILLEUR_MEMBERSHIP={membership}", f"_AIGUILLEUR_WRAPUP={wrapup_seconds}"]
        await self._ami.send({
            "Action": "Originate",
            "Channel": f"Local/{line}@{LOGIN_CONTEXT}/n",
            "Application": "Wait",
            "Data": "0",
            "Async": "false",
            "Timeout": str(int(LOGIN_TIMEOUT * 1000)),
            # A login is not a call: no CDR for the originated half either (the dialplan disables the other).
            "Variable": ",".join(variables),
        }, timeout=LOGIN_TIMEOUT)

    async def _remove(self, line: str, queue: str) -> None:
        try:
            await self._ami.send({"Action": "QueueRemove", "Queue": queue, "Interface": interface_of(line)})
        except AmiActionError as error:
            # "Not there": already out of that queue; logging out twice is not an error. "No such
            # queue": a queue a rules apply dropped (with its members) at the reload.
            if not any(text in str(error).lower() for text in ("not there", "no such queue")):
                raise

    async def apply_change(self, change: MemberChange | SetPaused) -> None:
        """One member change computed by ``routing.rules.plan_member_changes`` (or
        ``queues.member_mirror.plan_mirror``, which also pauses)."""
        if isinstance(change, SetPenalty):
            await self._ami.send({
                "Action": "QueuePenalty", "Interface": interface_of(change.line),
                "Penalty": str(change.penalty), "Queue": change.queue,
            })
        elif isinstance(change, JoinQueue):
            await self._join(change.line, f"{change.queue}{MEMBERSHIP_FIELD_SEP}{change.penalty}",
                             change.wrapup_seconds)
        elif isinstance(change, LeaveQueue):
            await self._remove(change.line, change.queue)
        elif isinstance(change, SetPaused):
            await self._pause(change.line, change.paused, change.reason, change.queue)

    async def login_all(self) -> None:
        """Every configured line logs in (the sandbox stack, where SIPp plays the advisors)."""
        hotline = self._rules()
        slots = asyncio.Semaphore(8)

        async def one(line: str) -> None:
            async with slots:
                await self.login(line, fix_penalties=False)

        await asyncio.gather(*(one(line) for line, _ in hotline.lines()))
