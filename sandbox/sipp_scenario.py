"""SIPp scenarios for the sandbox: the callers' and the advisors' XML, their injection CSV and pcaps.

Pure rendering (text and files in a given directory); ``sandbox.sipp`` runs them.

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
"""

from __future__ import annotations

import re
import struct
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
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
