"""The AGI codec: quoting, command lines, the environment block and replies. Pure: text in, text out.

The FastAGI server (``ivr.fastagi``) sends what this builds and parses what Asterisk answers;
property-tested against a port of res_agi.c's ``parse_args`` (``tests/fuzz``).

Safe encoding rule (facts from res_agi.c ``parse_args``/``run_agi``):

* Asterisk reads one command per line (``fgets``): a ``\\n`` in a value would
  end the command and start another; a NUL truncates it (C string). A line is
  read into ``char buf[AGI_BUF_LEN]`` (2048): a longer line is cut and its
  tail parsed as a *second command*. So every argument is rejected if it holds
  an ASCII control character, and a whole command is limited to
  ``MAX_COMMAND_BYTES`` (2047 bytes with its newline).
* ``parse_args`` splits on space/tab outside double quotes; ``"`` toggles
  quoting; ``\\`` makes the next character literal. ``agi_quote`` wraps every
  argument in double quotes and backslash-escapes ``\\`` and ``"``: Asterisk
  gets exactly the original text as one argument (property-tested against a
  port of ``parse_args``).
* ``SET VARIABLE`` hands the value to ``pbx_builtin_setvar_helper`` verbatim:
  no ``${}`` evaluation at set time (the value stays literal text in the
  channel). But a *name* ending in ``)`` is a dialplan-function write, so
  names are checked against a strict pattern (they are code, not caller data).
  ``set_variable``/``verbose`` take untrusted text: control characters are
  replaced by a space (and lone surrogates by ``?``), then the value is quoted.
* ``EXEC`` passes only ``argv[2]`` to the application, and the application
  splits it on ``,`` (``|`` too in compat mode), honouring quotes, ``\\``,
  ``()`` and ``[]``. ``${}`` in EXEC options is *not* evaluated unless the
  channel sets ``AGIEXECFULL=yes`` (Asterisk >= 20/18.x docs: "exec does not
  evaluate dialplan functions and variables unless ... AGIEXECFULL"). So
  ``exec_app`` refuses control characters, ``, | " \\ $`` and unbalanced
  ``()``/``[]`` in each argument, then joins the arguments with ``,`` into one
  quoted AGI argument. Untrusted text belongs in ``set_variable``, never in
  ``exec_app``. The dialplan must not pass caller-derived variables as
  application arguments unfiltered (a ``,`` in them would split arguments
  after substitution).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_COMMAND_BYTES",
    "AgiArgumentError",
    "AgiCommandError",
    "AgiError",
    "AgiHangup",
    "AgiProtocolError",
    "AgiResponse",
    "GetDataResult",
    "agi_quote",
    "build_command",
    "parse_agi_headers",
    "sanitize_text",
]

#: res_agi reads a command into ``char buf[AGI_BUF_LEN]`` (2048) with fgets:
#: at most 2047 bytes including the newline, or the tail becomes a new command.
MAX_COMMAND_BYTES: Final = 2047

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_VERB = re.compile(r"[A-Z]+(?: [A-Z]+)*\Z")
_checked_verbs: set[str] = set()
# Plain (optionally inherited: _X / __X) variable, or a function write like
# CHANNEL(language) / CDR(userfield) with a conservative argument.
_VARIABLE_NAME = re.compile(r"(?:_{0,2}[A-Za-z][A-Za-z0-9_]*|[A-Z][A-Z0-9_]*\([A-Za-z0-9_.-]*\))\Z")
APP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_EXEC_ARG_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f,|"\\$]')
ESCAPE_DIGITS = re.compile(r"[0-9*#A-Da-d]*\Z")
MAX_DIGITS = 1024  # handle_getdata's buffer


class AgiError(Exception):
    """Base class of this adapter's errors."""


class AgiHangup(AgiError):
    """The channel hung up, or Asterisk closed the FastAGI connection."""


class AgiCommandError(AgiError):
    """Asterisk rejected a command (510 unknown, 520 usage, other codes)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AgiProtocolError(AgiError):
    """A reply that is not AGI framing (garbage, or a line over the limit)."""


class AgiArgumentError(AgiError, ValueError):
    """An argument that cannot be sent safely (control character, too long...)."""


@dataclass(frozen=True, slots=True)
class AgiResponse:
    """A ``200`` reply: ``200 result=<result> [(<data>)] [key=value...]``."""

    code: int
    result: str
    data: str | None
    line: str

    def field(self, name: str) -> str | None:
        """Value of a trailing ``name=value`` (e.g. ``endpos``), if present."""
        match = re.search(rf"(?:^|\s){re.escape(name)}=(\S*)", self.line[4:])
        return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class GetDataResult:
    """DTMF collected by GET DATA; ``timed_out`` when Asterisk said ``(timeout)``."""

    digits: str
    timed_out: bool


def agi_quote(value: str) -> str:
    """Quote one AGI argument so that res_agi's ``parse_args`` yields ``value``.

    Raises ``AgiArgumentError`` for ASCII control characters (a newline would
    start a second command, a NUL would truncate it) and unencodable text.
    """
    if CONTROL_CHARS.search(value):
        raise AgiArgumentError(f"control character in AGI argument {value!r}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise AgiArgumentError(f"AGI argument is not valid text: {value!r}") from None
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sanitize_text(value: str) -> str:
    """Make untrusted text sendable: control characters become a space."""
    value = CONTROL_CHARS.sub(" ", value)
    if not value.isascii():
        value = value.encode("utf-8", errors="replace").decode("utf-8")
    return value


def build_command(verb: str, *args: str | int) -> bytes:
    """One AGI command line: ``VERB "arg" 123\\n``; strings are always quoted."""
    if verb not in _checked_verbs:
        if not _VERB.match(verb):
            raise AgiArgumentError(f"invalid AGI verb {verb!r}")
        _checked_verbs.add(verb)
    parts = [verb]
    for arg in args:
        if isinstance(arg, str):
            parts.append(agi_quote(arg))
        elif isinstance(arg, int) and not isinstance(arg, bool):
            parts.append(str(int(arg)))
        else:
            raise AgiArgumentError(f"AGI argument must be str or int, not {arg!r}")
    line = (" ".join(parts) + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise AgiArgumentError(f"{verb} command is {len(line)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES}")
    return line


def parse_agi_headers(raw: bytes) -> dict[str, str]:
    """The AGI environment block as text; lines without ``": "`` are ignored."""
    headers: dict[str, str] = {}
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        key, sep, value = line.partition(": ")
        if sep and key:
            headers[key] = value.removesuffix("\r")
    return headers


def check_variable_name(name: str) -> None:
    if not _VARIABLE_NAME.match(name):
        raise AgiArgumentError(f"invalid channel variable name {name!r}")


def check_exec_arg(arg: str) -> None:
    bad = _EXEC_ARG_FORBIDDEN.search(arg)
    if bad:
        raise AgiArgumentError(f"character {bad.group()!r} not allowed in EXEC argument {arg!r}")
    depth = {"(": 0, "[": 0}
    closing = {")": "(", "]": "["}
    for char in arg:
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                break
    if any(depth.values()):
        raise AgiArgumentError(f"unbalanced brackets in EXEC argument {arg!r}")


def parse_200(line: str) -> AgiResponse:
    rest = line[4:]
    if not rest.startswith("result="):
        return AgiResponse(200, "", None, line)
    result, _, tail = rest[7:].partition(" ")
    data: str | None = None
    if tail.startswith("("):
        end = tail.rfind(")")
        data = tail[1:end] if end > 0 else tail[1:]
    return AgiResponse(200, result, data, line)
