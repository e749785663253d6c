"""SIPp callers and advisors for the sandbox Asterisk (loopback only, stdlib only).

Two roles, each one ``sipp`` child process (never ``-bg``) that only this module stops:

- **callers** (:func:`run_calls`): every :class:`CallScript` is one call from the
  operator trunk (SIPp binds ``127.0.0.2``, which the generated ``pjsip.conf``
  identifies as the ``pstn`` endpoint) to the hotline number.  All the scripts of
  a run share ONE generated scenario and ONE sipp process, so ``-m len(scripts)``
  and ``-l concurrent`` bound the run exactly: an injection CSV read in sequence
  gives call *i* its caller number, display name, pauses (``<pause variable=>``)
  and INFO digits, and the branch of the scenario it takes.  A branch is an INFO
  call with *n* digits or an RFC 4733 call with a given digit sequence (a display
  name holding ``;``, which a SIPp CSV field cannot carry, gets its own INVITE
  branch).  SIPp refuses scenario files over 64 KiB, hence this design rather
  than one branch per script.  DTMF goes as SIP INFO (``application/dtmf-relay``,
  ``Signal=N`` / ``Duration=250``) or as RFC 4733 events (``101
  telephone-event/8000`` offered in the SDP, one ``play_pcap_audio`` per digit).
  The RFC 4733 pcaps are generated per run, not the shipped
  ``/usr/share/sip-tester/dtmf_2833_*.pcap``: those carry a fixed RTP timestamp
  per digit, so a repeated digit ("22") replays an event Asterisk has already
  seen and is dropped (measured: steps 1, 22, 59 arrived as 1, 25, 9); ours keep
  sequence numbers and event timestamps increasing through the call.
- **advisors** (:class:`AgentsUas`): one SIPp UAS plays all 36 lines (their AORs
  have a static contact on its port): 180, ``ring_ms``, 200 with PCMU SDP, ACK,
  ``talk_ms``, then it sends BYE, unless Asterisk hangs up first (BYE answered
  200) or cancels the ringing (CANCEL answered 200 + 487).  Lines listed in
  ``no_answer_lines`` ring until cancelled.

Both tolerate a BYE from Asterisk at any point after the 200 (``optional="global"``
receive), 100/180/183 in any order, and answer stray INFO/NOTIFY/OPTIONS/UPDATE
(``-aa``).  Per-call facts come from ``<log>`` actions (``-trace_logs``): Call-ID,
answered, who hung up.  The rendered default scenarios are kept in
``sandbox/sipp/`` for reading and manual runs (``python -m sandbox.sipp
scenarios --write`` regenerates them).

CLI::

    python -m sandbox.sipp call --port P --number N --digits 1 2 2 59 [--dtmf info|rfc2833]
                                [--caller-number ...] [--caller-name ...]
    python -m sandbox.sipp agents --port P [--ring-ms 500] [--talk-ms 4000]
    python -m sandbox.sipp scenarios [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

DtmfMode = Literal["info", "rfc2833"]
DTMF_MODES: tuple[DtmfMode, ...] = ("info", "rfc2833")
DTMF_DIGITS = "0123456789*#"
SCENARIO_DIR = Path(__file__).resolve().parent / "sipp"

#: How long one DTMF digit lasts (INFO ``Duration=`` and the RFC 4733 event).
DIGIT_MS = 250
#: The RFC 4733 payload type offered in the caller's SDP.
TELEPHONE_EVENT_PT = 101
#: A display name longer than this (in UTF-8 bytes, escapes included) is cut: a
#: conservative bound that keeps the INVITE and the headers SIPp copies back
#: (``[last_From:]``...) far from SIPp's fixed-size header buffers.
MAX_DISPLAY_NAME_BYTES = 512

_SIPP_TAIL_LINES = 40


class SippError(RuntimeError):
    """SIPp could not be found, started or stopped, or a scenario is invalid."""


# --------------------------------------------------------------------------- scripts


@dataclass(frozen=True)
class CallScript:
    """What one caller does.

    ``digits`` has one entry per IVR step; the digits of one entry are sent
    ``digit_gap_ms`` apart.  An empty entry is a silent step: the caller says
    nothing for ``silent_step_ms`` more, which should exceed the IVR's per-step
    timeout (5 s in ``config/hotline.yaml``) so the IVR gives up on that step.
    Times are counted from the caller's ACK of the 200 OK (the IVR answers at
    once): ``pause_before_ms`` before the first step, ``pause_between_ms`` between
    steps, ``hold_after_ms`` after the last digit (queue wait + conversation)
    before the caller hangs up, unless the far end hung up first.  With
    ``hangup_early_after_ms`` the caller hangs up at that point (counted from the
    ACK too) if the script is not over by then.
    """

    digits: list[str]
    dtmf: DtmfMode = "info"
    caller_number: str = "0320123456"
    caller_name: str = "Appelant SIPp"
    pause_before_ms: int = 2000
    pause_between_ms: int = 2000
    hold_after_ms: int = 5000
    hangup_early_after_ms: int | None = None
    digit_gap_ms: int = 250
    silent_step_ms: int = 6000

    def __post_init__(self) -> None:
        if isinstance(self.digits, str):
            raise ValueError("digits is a list of steps, e.g. ['1', '2', '59'], not a string")
        for step in self.digits:
            if not isinstance(step, str) or any(ch not in DTMF_DIGITS for ch in step):
                raise ValueError(f"bad DTMF step {step!r}: only 0-9 * # (or '' for silence)")
        if self.dtmf not in DTMF_MODES:
            raise ValueError(f"dtmf must be one of {DTMF_MODES}, not {self.dtmf!r}")
        for name in (
            "pause_before_ms", "pause_between_ms", "hold_after_ms", "digit_gap_ms",
            "silent_step_ms",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, not {value!r}")
        early = self.hangup_early_after_ms
        if early is not None and (not isinstance(early, int) or early < 0):
            raise ValueError(f"hangup_early_after_ms must be None or an int >= 0, not {early!r}")

    def events(self) -> tuple[list[tuple[int, str]], int]:
        """Return ``([(ms after ACK, digit), ...], ms after ACK of the caller's BYE)``."""
        events: list[tuple[int, str]] = []
        t = self.pause_before_ms
        for index, step in enumerate(self.digits):
            if index:
                t += self.pause_between_ms
            if not step:
                t += self.silent_step_ms
            for pos, digit in enumerate(step):
                if pos:
                    t += self.digit_gap_ms
                events.append((t, digit))
                t += DIGIT_MS
        end = t + self.hold_after_ms
        early = self.hangup_early_after_ms
        if early is not None and early < end:
            end = early
            events = [(at, digit) for at, digit in events if at < end]
        return events, end

    def gaps(self) -> tuple[list[str], list[int]]:
        """Return ``(digits sent, pauses)``: ``len(pauses) == len(digits) + 1``.

        ``pauses[0]`` runs from the ACK to the first digit, ``pauses[i]`` from digit
        ``i-1`` to digit ``i``, and the last one from the last digit to the BYE.
        """
        events, end = self.events()
        pauses: list[int] = []
        now = 0
        for at, _digit in events:
            pauses.append(at - now)
            now = at
        pauses.append(max(end - now, 0))
        return [digit for _at, digit in events], pauses


@dataclass(frozen=True)
class CallRecord:
    """What the log actions of one call said (index = position in the scripts)."""

    index: int
    call_id: str
    answered: bool
    ended_by: Literal["caller", "remote", ""]  # "" = did not end cleanly


@dataclass(frozen=True)
class SippResult:
    """Outcome of :func:`run_calls`; ``failed`` counts every call not successful."""

    total: int
    successful: int
    failed: int
    calls: list[CallRecord]
    returncode: int
    elapsed_s: float
    command: list[str]
    stderr_tail: str = ""
    errors_tail: str = ""
    work_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.successful == self.total and self.failed == 0

    @property
    def call_ids(self) -> list[str]:
        """Call-ID of each script ('' if that call never started)."""
        return [record.call_id for record in self.calls]

    def describe(self) -> str:
        """A human summary, with SIPp's error output when something failed."""
        lines = [
            f"sipp: {self.successful}/{self.total} calls successful, {self.failed} failed, "
            f"exit {self.returncode}, {self.elapsed_s:.1f} s",
        ]
        for record in self.calls:
            state = "answered" if record.answered else "not answered"
            ended = f"hung up by {record.ended_by}" if record.ended_by else "did not end cleanly"
            lines.append(f"  call {record.index}: {record.call_id or '-'} {state}, {ended}")
        if not self.ok:
            lines.append(f"  command: {' '.join(self.command)}")
            if self.stderr_tail:
                lines.append("--- sipp stderr ---\n" + self.stderr_tail)
            if self.errors_tail:
                lines.append("--- sipp error log ---\n" + self.errors_tail)
        return "\n".join(lines)


# --------------------------------------------------------------------------- escaping


def sip_quoted_string(name: str) -> str:
    """Return ``name`` as a SIP quoted-string (RFC 3261 §25.1), quotes included.

    CR, LF and other control characters cannot appear in a header, even escaped:
    they become spaces.  ``\\`` and ``"`` are escaped as quoted-pairs.  Non-ASCII
    text stays (UTF-8 on the wire); the result is cut to
    :data:`MAX_DISPLAY_NAME_BYTES` UTF-8 bytes without splitting a character.
    """
    clean = "".join(" " if (ord(ch) < 0x20 or ord(ch) == 0x7F) else ch for ch in name)
    clean = clean.encode("utf-8", "replace").decode("utf-8")
    out: list[str] = []
    size = 0
    for ch in clean:
        piece = "\\" + ch if ch in '\\"' else ch
        size += len(piece.encode("utf-8"))
        if size > MAX_DISPLAY_NAME_BYTES:
            break
        out.append(piece)
    return '"' + "".join(out) + '"'


def sip_uri_user(number: str) -> str:
    """Return ``number`` percent-encoded for the user part of a SIP URI."""
    if not number:
        return "anonymous"
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()+")
    return "".join(
        ch if ch in safe else "".join(f"%{byte:02X}" for byte in ch.encode("utf-8"))
        for ch in number
    )


def sipp_literal(text: str) -> str:
    """Escape text so SIPp sends it verbatim inside a scenario message.

    SIPp reads ``[...]`` as a keyword and ``\\xHH`` as a byte, so ``[``, ``]`` and
    ``\\`` are written as ``\\x5B``, ``\\x5D`` and ``\\x5C``.  This also makes
    ``]]>`` impossible, so the result is safe inside a CDATA section.
    """
    return text.replace("\\", "\\x5C").replace("[", "\\x5B").replace("]", "\\x5D")


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _message(lines: Iterable[str]) -> str:
    """A SIP message for a ``<send>``: one header per line, SIPp adds the CRs."""
    return _cdata("\n" + "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- RFC 4733


def _dtmf_pcap(path: Path, digit: str, seq: int, timestamp: int) -> int:
    """Write an RFC 4733 event for ``digit`` as a pcap SIPp can play; return packets used.

    An Ethernet/IPv4/UDP capture (SIPp replays the UDP payload from the caller's
    media port to the port in Asterisk's SDP answer): ``DIGIT_MS / 20`` updates
    20 ms apart (marker bit on the first, duration growing), then the end packet
    three times, all with the same event timestamp; ``seq`` and ``timestamp`` are
    chosen by the caller so they keep increasing through a call.
    """
    event = DTMF_DIGITS.index(digit) if digit.isdigit() else (10 if digit == "*" else 11)
    step = 160  # 20 ms at 8 kHz
    total = DIGIT_MS * 8
    packets: list[tuple[float, bytes]] = []
    updates = DIGIT_MS // 20
    for i in range(updates):
        packets.append((i * 0.020, struct.pack("!BBH", event, 10, min((i + 1) * step, total))))
    for j in range(3):
        packets.append(((updates - 1) * 0.020 + 0.005 * (j + 1),
                        struct.pack("!BBH", event, 0x80 | 10, total)))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n, (at, payload) in enumerate(packets):
        marker = 0x80 if n == 0 else 0
        rtp = struct.pack(
            "!BBHII", 0x80, marker | TELEPHONE_EVENT_PT, (seq + n) & 0xFFFF,
            timestamp & 0xFFFFFFFF, 0x5A1990D0,
        ) + payload
        udp = struct.pack("!HHHH", 49176, 10000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
            bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]),
        )
        frame = b"\x00\x11\x22\x33\x44\x55" + b"\x00\x11\x22\x33\x44\x66" + b"\x08\x00" + ip + udp
        sec = int(at)
        usec = round((at - sec) * 1_000_000)
        out += struct.pack("<IIII", 1_600_000_000 + sec, usec, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return len(packets)


# --------------------------------------------------------------------------- caller scenario


_UAC_SDP = [
    "v=0",
    "o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]",
    "s=aiguilleur caller",
    "c=IN IP[media_ip_type] [media_ip]",
    "t=0 0",
    f"m=audio [media_port] RTP/AVP 0 {TELEPHONE_EVENT_PT}",
    "a=rtpmap:0 PCMU/8000",
    f"a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000",
    f"a=fmtp:{TELEPHONE_EVENT_PT} 0-15",
    "a=ptime:20",
    "a=sendrecv",
]

# In-dialog requests from the caller: the dialog is matched on Call-ID and tags,
# so they carry a plain From (the hostile display name only goes in the INVITE).
_UAC_FROM = "From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
_UAC_TO = "To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]"


def _uac_request(method: str, cseq: int, extra: Sequence[str] = (), body: str = "") -> str:
    lines = [
        f"{method} [next_url] SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        _UAC_FROM,
        _UAC_TO,
        "Call-ID: [call_id]",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:caller@[local_ip]:[local_port]>",
        "Max-Forwards: 70",
        *extra,
        "Content-Length: [len]",
        "",
    ]
    if body:
        lines.append(body)
    return _message(lines)


@dataclass(frozen=True)
class CallerScenario:
    """A rendered caller scenario: XML, injection CSV and the pcaps it plays."""

    xml: str
    csv: str
    pcap_files: list[Path]


#: SIPp 3.6 refuses a scenario file over 64 KiB ("Unable to load or parse ... xml
#: scenario file"); keep a margin.
MAX_SCENARIO_BYTES = 60_000
#: First injection field holding a pause (then the digits, for INFO timelines).
_FIRST_GAP_FIELD = 5


def _invite(from_display: str, from_user: str) -> str:
    return _message([
        "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        f"From: {from_display} <sip:{from_user}@[local_ip]:[local_port]>"
        ";tag=[pid]SIPpTag00[call_number]",
        "To: <sip:[service]@[remote_ip]:[remote_port]>",
        "Call-ID: [call_id]",
        "CSeq: 1 INVITE",
        f"Contact: <sip:{from_user}@[local_ip]:[local_port]>",
        "Max-Forwards: 70",
        "User-Agent: aiguilleur-sipp",
        "Content-Type: application/sdp",
        "Content-Length: [len]",
        "",
        *_UAC_SDP,
    ])


def render_caller_scenario(scripts: Sequence[CallScript], pcap_dir: Path) -> CallerScenario:
    """Render one scenario for all ``scripts`` (RFC 4733 pcaps are written to ``pcap_dir``).

    The injection CSV gives call *i* (line *i*, read in sequence): ``field0`` its
    index, ``field1`` its INVITE branch (0 = From taken from ``field3``/``field4``,
    k > 0 = a literal From for a display name holding ``;``, which the CSV cannot
    carry), ``field2`` its timeline branch, ``field3`` the quoted display name,
    ``field4`` the URI user, then the pauses (ms) and, for INFO, the digits.  A
    timeline branch is an INFO call with *n* digits, or an RFC 4733 call with a
    given digit sequence (the pcap file of each digit is fixed in the XML).
    """
    if not scripts:
        raise ValueError("no call scripts")
    literal_callers: dict[tuple[str, str], int] = {}
    timelines: dict[tuple[str, tuple[str, ...]], int] = {}
    rows: list[str] = ["SEQUENTIAL"]
    for index, script in enumerate(scripts):
        display = sip_quoted_string(script.caller_name)
        user = sip_uri_user(script.caller_number)
        caller = 0
        if ";" in display:
            key = (display, user)
            caller = literal_callers.setdefault(key, len(literal_callers) + 1)
            display, user = "-", "-"
        digits, pauses = script.gaps()
        shape = (script.dtmf, tuple(digits) if script.dtmf == "rfc2833" else ("?",) * len(digits))
        timeline = timelines.setdefault(shape, len(timelines))
        fields = [str(index), str(caller), str(timeline), display, user]
        fields += [str(ms) for ms in pauses]
        fields += digits
        rows.append(";".join(fields) + ";")

    x: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Generated by sandbox/sipp.py (render_caller_scenario). Injection file, one",
        "     line per call: index;invite branch;timeline branch;display;user;pauses...;",
        "     digits... (INFO). -->",
        '<scenario name="aiguilleur callers">',
        "  <nop>",
        "    <action>",
    ]
    # (SIPp refuses a variable set but never read: "Variable $x is referenced 1 times!")
    if literal_callers:
        x += [
            '      <assignstr assign_to="caller_s" value="[field1]"/>',
            '      <todouble assign_to="caller" variable="caller_s"/>',
        ]
    for c in range(1, len(literal_callers) + 1):
        x.append(f'      <test assign_to="caller{c}" variable="caller" compare="equal" value="{c}"/>')
    if len(timelines) > 1:
        x += [
            '      <assignstr assign_to="timeline_s" value="[field2]"/>',
            '      <todouble assign_to="timeline" variable="timeline_s"/>',
        ]
    for t in range(1, len(timelines)):
        x.append(
            f'      <test assign_to="timeline{t}" variable="timeline" compare="equal" value="{t}"/>'
        )
    x += [
        '      <log message="START [field0] [call_id]"/>',
        "    </action>",
        "  </nop>",
    ]
    for c in range(1, len(literal_callers) + 1):
        x.append(f'  <nop next="caller{c}" test="caller{c}"/>')

    branches = [(0, _invite("[field3]", "[field4]"))] + [
        (c, _invite(sipp_literal(display), user))
        for (display, user), c in literal_callers.items()
    ]
    for c, invite in branches:
        x += [
            f'  <label id="caller{c}"/>',
            f'  <send retrans="500">{invite}</send>',
            # each branch waits for its answer itself: a <nop> jump right after the
            # send would race the 100 Trying ("Aborting call on unexpected message")
            f'  <label id="provisional{c}"/>',
            f'  <recv response="100" optional="true" next="provisional{c}"/>',
            f'  <recv response="180" optional="true" next="provisional{c}"/>',
            f'  <recv response="183" optional="true" next="provisional{c}"/>',
        ]
        if c == 0:
            x += [
                "  <!-- Asterisk hangs up (the advisor left, the IVR ended the call...):",
                "       matched at any point of the call (global), not only here. -->",
                '  <recv request="BYE" optional="global" next="remote_bye"/>',
            ]
        x.append('  <recv response="200" rrs="true" next="answered"/>')

    x += [
        '  <label id="answered"/>',
        f"  <send>{_uac_request('ACK', 1)}</send>",
        '  <nop><action><log message="ANSWERED [field0] [call_id]"/></action></nop>',
    ]
    for t in range(1, len(timelines)):
        x.append(f'  <nop next="timeline{t}" test="timeline{t}"/>')

    pcaps: list[Path] = []
    for (mode, sequence), t in timelines.items():
        count = len(sequence)
        x += [f'  <label id="timeline{t}"/>', "  <nop>", "    <action>"]
        for i in range(count + 1):
            x += [
                f'      <assignstr assign_to="p{i}_s" value="[field{_FIRST_GAP_FIELD + i}]"/>',
                f'      <todouble assign_to="p{i}" variable="p{i}_s"/>',
            ]
        x += ["    </action>", "  </nop>"]
        cseq = 2
        seq = 1000
        for n, digit in enumerate(sequence):
            x.append(f'  <pause variable="p{n}"/>')
            if mode == "info":
                field = _FIRST_GAP_FIELD + count + 1 + n
                body = f"Signal=[field{field}]\nDuration={DIGIT_MS}"
                x.append(
                    "  <send>"
                    + _uac_request("INFO", cseq, ["Content-Type: application/dtmf-relay"], body)
                    + "</send>"
                )
                x.append('  <recv response="200"/>')
                cseq += 1
            else:
                pcap_dir.mkdir(parents=True, exist_ok=True)
                pcap = pcap_dir / f"dtmf-t{t}-{n}.pcap"
                # event timestamps 2 s apart in RTP time: always increasing, whatever
                # the pauses of a given call
                seq += _dtmf_pcap(pcap, digit, seq, 16000 * (n + 1))
                pcaps.append(pcap)
                x.append(
                    f'  <nop><action><exec play_pcap_audio="{_xml_attr(str(pcap))}"/>'
                    "</action></nop>"
                )
        x += [
            f'  <pause variable="p{count}"/>',
            f"  <send retrans=\"500\">{_uac_request('BYE', cseq)}</send>",
            '  <recv response="481" optional="true" next="caller_hung_up"/>',
            '  <recv response="200" next="caller_hung_up"/>',
        ]

    x += [
        '  <label id="remote_bye"/>',
        "  <send>"
        + _message([
            "SIP/2.0 200 OK",
            "[last_Via:]",
            "[last_From:]",
            "[last_To:]",
            "[last_Call-ID:]",
            "[last_CSeq:]",
            "Content-Length: 0",
            "",
        ])
        + "</send>",
        '  <nop next="end"><action><log message="END [field0] remote"/></action></nop>',
        '  <label id="caller_hung_up"/>',
        '  <nop><action><log message="END [field0] caller"/></action></nop>',
        '  <label id="end"/>',
        "  <nop/>",
        "</scenario>",
        "",
    ]
    xml = "\n".join(x)
    size = len(xml.encode("utf-8", "replace"))
    if size > MAX_SCENARIO_BYTES:
        raise SippError(
            f"the caller scenario would be {size} bytes, over SIPp's 64 KiB limit: "
            f"{len(timelines)} timeline branches (distinct RFC 4733 digit sequences, INFO "
            f"digit counts) and {len(literal_callers)} display names with ';'; "
            "split the scripts over several run_calls()"
        )
    return CallerScenario(xml=xml, csv="\n".join(rows) + "\n", pcap_files=pcaps)


# --------------------------------------------------------------------------- agents scenario


def render_agents_scenario(
    ring_ms: int = 500, talk_ms: int = 4000, no_answer_lines: Iterable[str] = ()
) -> str:
    """Render the advisors' UAS scenario (any To user; one SIPp plays every line)."""
    if ring_ms < 0 or talk_ms < 0:
        raise ValueError("ring_ms and talk_ms must be >= 0")
    silent = sorted(set(no_answer_lines))
    for line in silent:
        if not re.fullmatch(r"[A-Za-z0-9_.!~*'()+-]+", line):
            raise ValueError(f"bad line name {line!r}")
    to_tag = ";tag=[pid]SIPpTag01[call_number]"
    reply_head = ["[last_Via:]", "[last_From:]", f"[last_To:]{to_tag}", "[last_Call-ID:]"]
    contact = "Contact: <sip:[$to_user]@[local_ip]:[local_port]>"
    ringing = _message([
        "SIP/2.0 180 Ringing", *reply_head, "[last_CSeq:]", contact, "Content-Length: 0", "",
    ])
    x: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Generated by sandbox/sipp.py (render_agents_scenario): one UAS answers",
        f"     for every line: 180, {ring_ms} ms, 200 (PCMU), ACK, {talk_ms} ms, BYE. -->",
        '<scenario name="aiguilleur agents">',
        '  <recv request="INVITE" rrs="true">',
        "    <action>",
        '      <ereg regexp="sip:([^@;>]+)@" search_in="hdr" header="To:"'
        ' assign_to="junk,to_user"/>',
        '      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to_hdr"/>',
        '      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from_hdr"/>',
        '      <ereg regexp="([0-9]+)" search_in="hdr" header="CSeq:"'
        ' assign_to="junk,invite_cseq"/>',
    ]
    if silent:
        alternatives = "|".join(re.escape(line) for line in silent)
        x.append(
            f'      <ereg regexp="sip:({_xml_attr(alternatives)})@" search_in="hdr" header="To:"'
            ' assign_to="silent"/>'
        )
    x += [
        '      <log message="INVITE [call_id] [$to_user]"/>',
        "    </action>",
        "  </recv>",
    ]
    if silent:
        x.append('  <nop next="no_answer" test="silent"/>')
    ok_bye = _message([
        "SIP/2.0 200 OK", "[last_Via:]", "[last_From:]", "[last_To:]", "[last_Call-ID:]",
        "[last_CSeq:]", "Content-Length: 0", "",
    ])
    ok_cancel = _message([
        "SIP/2.0 200 OK", "[last_Via:]", "[last_From:]", f"[last_To:]{to_tag}",
        "[last_Call-ID:]", "[last_CSeq:]", "Content-Length: 0", "",
    ])
    terminated = _message([
        "SIP/2.0 487 Request Terminated", *reply_head, "CSeq: [$invite_cseq] INVITE",
        "Content-Length: 0", "",
    ])
    x += [
        f"  <send>{ringing}</send>",
        "  <!-- Ring: a CANCEL must be expected where the call stands (SIPp answers an",
        "       unexpected CANCEL itself and aborts the call, even with a global recv),",
        "       so the ringing is a CANCEL wait that times out into the answer. -->",
        f'  <recv request="CANCEL" timeout="{max(ring_ms, 1)}" ontimeout="answer"'
        ' next="remote_cancel"/>',
        '  <label id="answer"/>',
        '  <send retrans="500">'
        + _message([
            "SIP/2.0 200 OK", *reply_head, "[last_CSeq:]", contact,
            "Content-Type: application/sdp", "Content-Length: [len]", "",
            "v=0",
            "o=agent 53655765 2353687637 IN IP[local_ip_type] [local_ip]",
            "s=aiguilleur agent",
            "c=IN IP[media_ip_type] [media_ip]",
            "t=0 0",
            "m=audio [media_port] RTP/AVP 0",
            "a=rtpmap:0 PCMU/8000",
            "a=ptime:20",
            "a=sendrecv",
        ])
        + "</send>",
        "  <!-- The caller hung up: BYE, matched at any point of the call (global). -->",
        '  <recv request="BYE" optional="global" next="remote_bye"/>',
        '  <recv request="CANCEL" optional="true" next="remote_cancel"/>',
        '  <recv request="ACK">',
        '    <action><log message="ANSWERED [call_id] [$to_user]"/></action>',
        "  </recv>",
        f'  <pause milliseconds="{talk_ms}"/>',
        '  <send retrans="500">'
        + _message([
            "BYE [next_url] SIP/2.0",
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
            f"From: [$to_hdr]{to_tag}",
            "To: [$from_hdr]",
            "Call-ID: [call_id]",
            "CSeq: 1 BYE",
            contact,
            "Max-Forwards: 70",
            "Content-Length: 0",
            "",
        ])
        + "</send>",
        '  <recv response="481" optional="true" next="agent_hung_up"/>',
        '  <recv response="200" next="agent_hung_up"/>',
        "",
        '  <label id="remote_bye"/>',
        f"  <send>{ok_bye}</send>",
        '  <nop next="end"><action><log message="END [call_id] remote"/></action></nop>',
        "",
        '  <label id="remote_cancel"/>',
        f"  <send>{ok_cancel}</send>",
        f"  <send>{terminated}</send>",
        '  <recv request="ACK" next="end">',
        '    <action><log message="END [call_id] cancelled"/></action>',
        "  </recv>",
    ]
    if silent:
        x += [
            "",
            "  <!-- Lines that never pick up: ring until Asterisk cancels. -->",
            '  <label id="no_answer"/>',
            f"  <send>{ringing}</send>",
            '  <recv request="CANCEL" next="remote_cancel"/>',
        ]
    x += [
        "",
        '  <label id="agent_hung_up"/>',
        '  <nop><action><log message="END [call_id] agent"/></action></nop>',
        '  <label id="end"/>',
        "  <nop/>",
        "</scenario>",
        "",
    ]
    return "\n".join(x)


# --------------------------------------------------------------------------- processes


def find_sipp() -> str:
    """Return the path of the ``sipp`` binary (Debian ``sip-tester``)."""
    found = shutil.which("sipp") or shutil.which("sipp", path="/usr/bin:/usr/local/bin")
    if not found:
        raise SippError("sipp not found: apt-get install sip-tester")
    return found


_PCAP_NOISE = ("In pcap ", "max pkt length ", "base port ")


def _tail(path: Path, lines: int = _SIPP_TAIL_LINES, drop: str = "\0") -> str:
    """Last ``lines`` lines of a SIPp output file, without its pcap loading chatter
    nor the lines containing ``drop``."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [
        line for line in text.splitlines()
        if not line.startswith(_PCAP_NOISE) and drop not in line
    ]
    return "\n".join(kept[-lines:])


def udp_port_free(host: str, port: int) -> bool:
    """True if nothing is bound to UDP ``host:port`` (nor to the wildcard)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_udp_port(host: str = "127.0.0.1") -> int:
    """Return a UDP port the kernel says is free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _common_args(local_ip: str) -> list[str]:
    """Options of every run: loopback control socket, no keyboard, answer pings."""
    return [
        "-i", local_ip, "-mi", local_ip, "-ci", "127.0.0.1",
        "-nostdin", "-aa", "-trace_logs", "-trace_err", "-trace_stat", "-fd", "1",
    ]


def _stop_pid(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int:
    """Stop our sipp child (SIGINT, then SIGKILL) and reap it; return its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    return proc.returncode


def _stat_counts(stat_file: Path) -> tuple[int, int] | None:
    """(successful, failed) cumulated in SIPp's last ``-trace_stat`` line, if any."""
    try:
        lines = [line for line in stat_file.read_text(errors="replace").splitlines() if line]
    except OSError:
        return None
    if len(lines) < 2:
        return None
    head = lines[0].split(";")
    last = lines[-1].split(";")
    try:
        ok = int(last[head.index("SuccessfulCall(C)")])
        bad = int(last[head.index("FailedCall(C)")])
    except (ValueError, IndexError):
        return None
    return ok, bad


_LOG_LINE = re.compile(r"^(START|ANSWERED|END) (\d+) ?(\S*)")


def _parse_caller_log(log: Path, total: int) -> list[CallRecord]:
    call_ids = [""] * total
    answered = [False] * total
    ended: list[Literal["caller", "remote", ""]] = [""] * total
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        match = _LOG_LINE.match(line.strip())
        if not match:
            continue
        kind, index_s, arg = match.groups()
        index = int(index_s)
        if not 0 <= index < total:
            continue
        if kind == "START":
            call_ids[index] = arg
        elif kind == "ANSWERED":
            answered[index] = True
        elif arg == "caller":
            ended[index] = "caller"
        elif arg == "remote":
            ended[index] = "remote"
    return [CallRecord(i, call_ids[i], answered[i], ended[i]) for i in range(total)]


def run_calls(
    scripts: list[CallScript],
    *,
    target: str = "127.0.0.1",
    port: int,
    number: str,
    local_ip: str = "127.0.0.2",
    concurrent: int = 10,
    timeout_s: float = 120,
    rate_cps: float = 20.0,
    keep_dir: Path | None = None,
    trace_messages: bool = False,
) -> SippResult:
    """Place one call per script to ``number`` at ``target:port`` and wait for them all.

    At most ``concurrent`` calls at once, started at ``rate_cps`` calls per second;
    SIPp quits after ``timeout_s`` (calls still open then count as failed).  With
    ``keep_dir`` the scenario, CSV, pcaps and SIPp's logs are written there and
    kept (else a temporary directory is removed); ``trace_messages`` adds every
    SIP message sent and received to ``messages.log`` there.
    """
    if not scripts:
        raise ValueError("run_calls needs at least one CallScript")
    if not re.fullmatch(r"[0-9A-Za-z*#+_.-]+", number):
        raise ValueError(f"bad number {number!r}")
    if concurrent < 1:
        raise ValueError("concurrent must be >= 1")
    sipp = find_sipp()
    with contextlib.ExitStack() as stack:
        if keep_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aiguilleur-sipp-")))
        else:
            work = Path(keep_dir).resolve()
            work.mkdir(parents=True, exist_ok=True)
            for stale in (*work.glob("*.log"), *work.glob("*.csv"), *work.glob("pcap/*.pcap")):
                stale.unlink()
        rendered = render_caller_scenario(scripts, work / "pcap")
        scenario = work / "callers.xml"
        scenario.write_bytes(rendered.xml.encode("utf-8", "replace"))
        (work / "callers.csv").write_text(rendered.csv)
        files = {
            name: work / name
            for name in ("stat.csv", "logs.log", "errors.log", "stderr.log", "screen.log")
        }
        cmd = [
            sipp, f"{target}:{port}", "-sf", str(scenario), "-inf", str(work / "callers.csv"),
            "-s", number, *_common_args(local_ip),
            # SIPp's default Call-ID is "<n>-<pid>@<ip>": pids come back, runs must not
            "-cid_str", f"%u-%p-{secrets.token_hex(4)}@%s",
            "-m", str(len(scripts)), "-l", str(concurrent), "-r", f"{rate_cps:g}",
            "-timeout", f"{max(1, int(timeout_s))}s", "-timeout_error",
            "-stf", str(files["stat.csv"]), "-log_file", str(files["logs.log"]),
            "-error_file", str(files["errors.log"]),
            "-trace_screen", "-screen_file", str(files["screen.log"]),
        ]
        if trace_messages:
            cmd += ["-trace_msg", "-message_file", str(work / "messages.log")]
        started = time.monotonic()
        with files["stderr.log"].open("wb") as err:
            proc = subprocess.Popen(
                cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True,
            )
            try:
                returncode = proc.wait(timeout_s + 15)
            except subprocess.TimeoutExpired:
                returncode = _stop_pid(proc)
            except BaseException:
                _stop_pid(proc)
                raise
        elapsed = time.monotonic() - started
        calls = _parse_caller_log(files["logs.log"], len(scripts))
        counts = _stat_counts(files["stat.csv"])
        # a call logs END only at the end of the scenario, i.e. when SIPp counts it
        # successful; SIPp's stat file (dumped every second and at exit) cross-checks
        logged = sum(1 for call in calls if call.ended_by)
        successful = min(max(logged, counts[0] if counts is not None else 0), len(scripts))
        result = SippResult(
            total=len(scripts),
            successful=successful,
            failed=len(scripts) - successful,
            calls=calls,
            returncode=returncode,
            elapsed_s=elapsed,
            command=cmd,
            work_dir=work if keep_dir is not None else None,
        )
        if not result.ok:
            result = dataclasses.replace(
                result,
                stderr_tail=_tail(files["stderr.log"]),
                errors_tail=_tail(files["errors.log"]),
            )
        return result


class AgentsUas:
    """One SIPp UAS answering for every line (static AOR contacts on ``port``).

    ``start()`` returns once SIPp listens; ``stop()`` stops that pid only (SIGINT,
    then SIGKILL) and keeps the logs readable; ``cleanup()`` (and leaving the
    ``with`` block) also removes a temporary work directory, so read
    :meth:`answered` & co. inside the block.  Calls to ``no_answer_lines`` ring
    until Asterisk cancels them.
    """

    def __init__(
        self,
        port: int,
        *,
        ring_ms: int = 500,
        talk_ms: int = 4000,
        local_ip: str = "127.0.0.1",
        no_answer_lines: Iterable[str] = (),
        work_dir: Path | None = None,
        trace_messages: bool = False,
    ) -> None:
        self.port = port
        self.ring_ms = ring_ms
        self.talk_ms = talk_ms
        self.local_ip = local_ip
        self.no_answer_lines = frozenset(no_answer_lines)
        self.trace_messages = trace_messages
        self.command: list[str] = []
        self._keep = work_dir is not None
        self._work_arg = work_dir
        self._work: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.returncode: int | None = None

    # ------------------------------------------------------------------ files

    @property
    def work_dir(self) -> Path:
        if self._work is None:
            raise SippError("AgentsUas not started")
        return self._work

    @property
    def log_file(self) -> Path:
        return self.work_dir / "logs.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------------ life

    def start(self, timeout: float = 10.0) -> None:
        """Start the UAS and wait until it listens on ``local_ip:port``."""
        with self._lock:
            if self.running():
                raise SippError(f"AgentsUas already running (pid {self.pid})")
            if not udp_port_free(self.local_ip, self.port):
                raise SippError(f"UDP {self.local_ip}:{self.port} is already in use")
            sipp = find_sipp()
            text = render_agents_scenario(self.ring_ms, self.talk_ms, self.no_answer_lines)
            if self._work_arg is not None:
                self._work = Path(self._work_arg).resolve()
                self._work.mkdir(parents=True, exist_ok=True)
            else:
                self._work = Path(tempfile.mkdtemp(prefix="aiguilleur-agents-"))
            work = self._work
            scenario = work / "agents.xml"
            scenario.write_text(text)
            for name in ("logs.log", "errors.log"):
                (work / name).write_text("")
            cmd = [
                sipp, "-sf", str(scenario), "-p", str(self.port), *_common_args(self.local_ip),
                "-stf", str(work / "stat.csv"), "-log_file", str(work / "logs.log"),
                "-error_file", str(work / "errors.log"),
                "-trace_screen", "-screen_file", str(work / "screen.log"),
            ]
            if self.trace_messages:
                cmd += ["-trace_msg", "-message_file", str(work / "messages.log")]
            self.command = cmd
            with (work / "stderr.log").open("wb") as err:
                self._proc = subprocess.Popen(
                    cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=err, start_new_session=True,
                )
            try:
                self._wait_listening(timeout)
            except BaseException:
                self._stop_locked()
                if not self._keep:
                    shutil.rmtree(work, ignore_errors=True)
                    self._work = None
                raise

    def _wait_listening(self, timeout: float) -> None:
        assert self._proc is not None and self._work is not None
        deadline = time.monotonic() + timeout
        while udp_port_free(self.local_ip, self.port):
            if self._proc.poll() is not None:
                raise SippError(
                    f"sipp UAS exited during startup (exit {self._proc.returncode}):\n"
                    + _tail(self._work / "stderr.log") + "\n" + _tail(self._work / "errors.log")
                )
            if time.monotonic() > deadline:
                raise SippError(f"sipp UAS not listening on {self.port} after {timeout} s")
            time.sleep(0.02)

    def _stop_locked(self) -> None:
        if self._proc is not None:
            self.returncode = _stop_pid(self._proc)
            self._proc = None

    def stop(self) -> None:
        """Stop the UAS started by :meth:`start` (only that pid); its logs stay readable."""
        with self._lock:
            self._stop_locked()

    def cleanup(self) -> None:
        """Stop, then remove the temporary work directory."""
        self.stop()
        if self._work is not None and not self._keep:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    # ------------------------------------------------------------------ facts

    def _log_lines(self, kind: str) -> list[list[str]]:
        if self._work is None:
            return []
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return []
        return [line.split() for line in text.splitlines() if line.startswith(kind + " ")]

    def answered(self) -> int:
        """Calls answered so far (the 200 OK was ACKed)."""
        return len(self._log_lines("ANSWERED"))

    def answered_lines(self) -> list[str]:
        """The line (To user) of each answered call, in order."""
        return [parts[2] for parts in self._log_lines("ANSWERED") if len(parts) > 2]

    def offered(self) -> int:
        """INVITEs received so far (every ring, answered or not)."""
        return len(self._log_lines("INVITE"))

    def offered_lines(self) -> list[str]:
        """The line (To user) of each INVITE received, in order (rung, answered or not)."""
        return [parts[2] for parts in self._log_lines("INVITE") if len(parts) > 2]

    def ended(self) -> dict[str, int]:
        """How the finished calls ended: ``agent``, ``remote`` or ``cancelled`` counts."""
        counts: dict[str, int] = {}
        for parts in self._log_lines("END"):
            if len(parts) > 2:
                counts[parts[2]] = counts.get(parts[2], 0) + 1
        return counts

    def errors_tail(self) -> str:
        """SIPp's stderr and error log, without the expected end-of-ring timeouts."""
        if self._work is None:
            return ""
        ring_over = "receive timeout on message"  # every answer: the CANCEL wait timed out
        return "\n".join(
            part
            for part in (
                _tail(self.work_dir / "stderr.log", drop=ring_over),
                _tail(self.work_dir / "errors.log", drop=ring_over),
            )
            if part
        )

    def __enter__(self) -> AgentsUas:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                _stop_pid(proc, 2.0)


# --------------------------------------------------------------------------- reference files


def reference_scenarios() -> dict[str, str]:
    """The default scenarios kept in ``sandbox/sipp/`` (file name -> text).

    ``callers_example.xml`` + ``.csv``: one INFO caller pressing 1, 2, 2, 59
    (``sipp 127.0.0.1:5060 -sf callers_example.xml -inf callers_example.csv
    -s 0800596280 -i 127.0.0.2 -m 1``); ``agents.xml``: the advisors' UAS with
    ring 500 ms / talk 4000 ms (``sipp -sf agents.xml -i 127.0.0.1 -p 5070``).
    """
    example = CallScript(["1", "2", "2", "59"], dtmf="info")
    with tempfile.TemporaryDirectory(prefix="aiguilleur-sipp-ref-") as tmp:
        callers = render_caller_scenario([example], Path(tmp))
    return {
        "callers_example.xml": callers.xml,
        "callers_example.csv": callers.csv,
        "agents.xml": render_agents_scenario(),
    }


def stale_reference_scenarios(directory: Path = SCENARIO_DIR) -> list[str]:
    """Names of the reference files missing from or different in ``directory``."""
    stale: list[str] = []
    for name, text in reference_scenarios().items():
        try:
            current = (directory / name).read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            stale.append(name)
    return stale


# --------------------------------------------------------------------------- CLI


def _cmd_call(args: argparse.Namespace) -> int:
    script = CallScript(
        digits=list(args.digits),
        dtmf=args.dtmf,
        caller_number=args.caller_number,
        caller_name=args.caller_name,
        pause_before_ms=args.pause_before_ms,
        pause_between_ms=args.pause_between_ms,
        hold_after_ms=args.hold_after_ms,
        hangup_early_after_ms=args.hangup_early_after_ms,
        digit_gap_ms=args.digit_gap_ms,
        silent_step_ms=args.silent_step_ms,
    )
    result = run_calls(
        [script] * args.count,
        target=args.target,
        port=args.port,
        number=args.number,
        local_ip=args.local_ip,
        concurrent=args.concurrent,
        timeout_s=args.timeout,
        keep_dir=args.keep_dir,
    )
    print(result.describe())
    return 0 if result.ok else 1


def _cmd_agents(args: argparse.Namespace) -> int:
    uas = AgentsUas(
        args.port,
        ring_ms=args.ring_ms,
        talk_ms=args.talk_ms,
        local_ip=args.local_ip,
        no_answer_lines=args.no_answer,
        work_dir=args.keep_dir,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    # SIGINT too: a shell starts background jobs with SIGINT ignored, so Python
    # would never raise KeyboardInterrupt there
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    uas.start()
    print(
        f"advisors UAS listening on {args.local_ip}:{args.port} (sipp pid {uas.pid}, "
        f"files in {uas.work_dir}); Ctrl-C to stop",
        flush=True,
    )
    shown = (-1, -1)
    try:
        while not stop.is_set() and uas.running():
            now = (uas.offered(), uas.answered())
            if now != shown:
                print(f"offered {now[0]}, answered {now[1]}, ended {uas.ended()}", flush=True)
                shown = now
            stop.wait(1.0)
    finally:
        alive = uas.running()
        uas.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        answered = uas.answered()
        if not alive:
            print("sipp UAS exited:\n" + uas.errors_tail(), file=sys.stderr)
        uas.cleanup()
    print(f"stopped; {answered} calls answered")
    return 0 if alive else 1


def _cmd_scenarios(args: argparse.Namespace) -> int:
    if args.write:
        SCENARIO_DIR.mkdir(parents=True, exist_ok=True)
        for name, text in reference_scenarios().items():
            (SCENARIO_DIR / name).write_text(text, encoding="utf-8")
            print(SCENARIO_DIR / name)
        return 0
    stale = stale_reference_scenarios()
    for name in stale:
        print(f"stale: {SCENARIO_DIR / name} (python -m sandbox.sipp scenarios --write)")
    return 1 if stale else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sandbox.sipp``."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.sipp", description="SIPp callers and advisors (loopback)."
    )
    sub = parser.add_subparsers(dest="action", required=True)

    call = sub.add_parser("call", help="place call(s) and wait for the outcome")
    call.add_argument("--port", type=int, required=True, help="Asterisk's SIP port")
    call.add_argument("--number", required=True, help="the dialled number, e.g. 0800596280")
    call.add_argument(
        "--digits", nargs="*", default=[],
        help="one entry per IVR step, e.g. 1 2 2 59 ('' = stay silent)",
    )
    call.add_argument("--dtmf", choices=DTMF_MODES, default="info")
    call.add_argument("--caller-number", default="0320123456")
    call.add_argument("--caller-name", default="Appelant SIPp")
    call.add_argument("--pause-before-ms", type=int, default=2000)
    call.add_argument("--pause-between-ms", type=int, default=2000)
    call.add_argument("--hold-after-ms", type=int, default=5000)
    call.add_argument("--hangup-early-after-ms", type=int, default=None)
    call.add_argument("--digit-gap-ms", type=int, default=250)
    call.add_argument("--silent-step-ms", type=int, default=6000)
    call.add_argument("--count", type=int, default=1, help="how many such calls")
    call.add_argument("--concurrent", type=int, default=10)
    call.add_argument("--target", default="127.0.0.1")
    call.add_argument("--local-ip", default="127.0.0.2")
    call.add_argument("--timeout", type=float, default=120.0)
    call.add_argument("--keep-dir", type=Path, default=None, help="keep scenario and logs here")
    call.set_defaults(func=_cmd_call)

    agents = sub.add_parser("agents", help="run the advisors' UAS until Ctrl-C")
    agents.add_argument("--port", type=int, required=True, help="the lines' contact port")
    agents.add_argument("--ring-ms", type=int, default=500)
    agents.add_argument("--talk-ms", type=int, default=4000)
    agents.add_argument("--local-ip", default="127.0.0.1")
    agents.add_argument("--no-answer", nargs="*", default=[], metavar="LINE")
    agents.add_argument("--keep-dir", type=Path, default=None, help="keep scenario and logs here")
    agents.set_defaults(func=_cmd_agents)

    scenarios = sub.add_parser("scenarios", help="check (or --write) sandbox/sipp/*.xml")
    scenarios.add_argument("--write", action="store_true")
    scenarios.set_defaults(func=_cmd_scenarios)

    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (SippError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
