"""Fuzz: the FastAGI codec (``ivr.agi_codec``) and server (``ivr.fastagi``): environment, commands, replies, sessions.

- any bytes as the AGI environment parse to text headers; a well-formed block comes back whole;
- every command line we build is one line Asterisk splits back into exactly our verb and
  arguments (``asterisk_parse_args``, the port of res_agi.c's ``parse_args`` in
  tests/unit/test_fastagi.py), or ``AgiArgumentError`` before anything is sent;
- EXEC options split back into our arguments under app.c's argument separation;
- any reply bytes give a result or an ``AgiError``, never another exception; a well-formed
  ``200`` reply comes back whole;
- any bytes from a peer, headers and replies, end a whole session without a route failure.

In memory: a StreamReader fed the peer's bytes, a writer that keeps what we send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from ivr.agi_codec import (
    MAX_COMMAND_BYTES,
    AgiArgumentError,
    AgiError,
    AgiHangup,
    build_command,
    parse_agi_headers,
    sanitize_text,
)
from ivr.fastagi import STREAM_LIMIT, AgiApplication, AgiRequest
from tests.fuzz.harness import fuzz
from tests.unit.test_fastagi import asterisk_parse_args

_loop: asyncio.AbstractEventLoop | None = None


@pytest.fixture(autouse=True, scope="module")
def event_loop_for_examples() -> Iterator[None]:
    """One loop for every example of the module (a loop per example would cost more than the example)."""
    global _loop
    _loop = asyncio.new_event_loop()
    yield
    _loop.close()
    _loop = None


def run(coro: Awaitable[Any]) -> Any:
    assert _loop is not None
    return _loop.run_until_complete(coro)


class MemoryWriter:
    """The parts of StreamWriter (and its transport) the adapter uses."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.transport = self
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.sent += data

    async def drain(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        pass


def reader_of(data: bytes) -> asyncio.StreamReader:
    # Bound to the module's loop explicitly: outside a running loop StreamReader asks the
    # policy for the thread's loop, which an earlier async test may have set to None.
    reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=_loop)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def sent_commands(writer: MemoryWriter) -> list[list[str]]:
    """What we sent, as Asterisk reads it: one command per line, each split by parse_args."""
    raw = bytes(writer.sent)
    assert raw == b"" or raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    for line in lines:
        assert len(line) + 1 <= MAX_COMMAND_BYTES and b"\x00" not in line and b"\r" not in line
    return [asterisk_parse_args(line.decode()) for line in lines]


# -- the AGI environment ----------------------------------------------------------------

NO_NEWLINE = st.characters(exclude_categories=("Cs",), exclude_characters="\n")
HEADER_KEY = st.text(NO_NEWLINE, min_size=1, max_size=16).filter(lambda key: ": " not in key)
HEADER_VALUE = st.text(NO_NEWLINE, max_size=24).filter(
    lambda value: not value.endswith("\r"))


@fuzz("fastagi", long=150_000)
@given(st.binary(max_size=300))
def test_any_environment_bytes_parse_to_text_headers(raw: bytes) -> None:
    headers = parse_agi_headers(raw)
    assert all(key and "\n" not in key and "\n" not in value for key, value in headers.items())


@fuzz("fastagi", long=40_000)
@given(st.dictionaries(HEADER_KEY, HEADER_VALUE, max_size=8), st.sampled_from(["\n", "\r\n"]))
@example({"agi_calleridname": "a: b\u2028c", "agi_arg_1": ""}, "\n")
def test_environment_block_round_trips(headers: dict[str, str], newline: str) -> None:
    raw = "".join(f"{key}: {value}{newline}" for key, value in headers.items()).encode() + b"\n"
    assert parse_agi_headers(raw) == headers


# -- commands ---------------------------------------------------------------------------

VERB = st.lists(st.sampled_from(["SET", "VARIABLE", "GET", "DATA", "STREAM", "FILE", "EXEC", "VERBOSE", "X"]),
                min_size=1, max_size=3).map(" ".join)
ARG = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from(' "\\\t\n\x00$,|()[]{}:;a\u00e9\u20ac'), max_size=20),
    st.integers(-(2**64), 2**64),
    st.text(max_size=3).map(lambda s: s * 700),  # around res_agi's 2,047-byte line
)


def _sendable(arg: str | int) -> bool:
    if isinstance(arg, int):
        return True
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(char) < 32 or ord(char) == 127 for char in arg)


def _line_bytes(verb: str, args: list[str | int]) -> int:
    """The length of the command line: each text argument in quotes, ``\\`` and ``"`` escaped."""
    quoted = [str(a) if isinstance(a, int) else '"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in args]
    return len(" ".join([verb, *quoted]).encode("utf-8", "surrogatepass")) + 1


@fuzz("fastagi", long=80_000)
@given(VERB, st.lists(ARG, max_size=4))
@example("SET VARIABLE", ["X", 'a" "b\\', "${SHELL(id)}"])
@example("VERBOSE", ["\ud800"])
def test_every_command_is_one_line_asterisk_splits_back_into_our_arguments(verb: str, args: list[str | int]) -> None:
    try:
        line = build_command(verb, *args)
    except AgiArgumentError:
        assert not all(map(_sendable, args)) or _line_bytes(verb, args) > MAX_COMMAND_BYTES
        return
    assert all(map(_sendable, args)) and _line_bytes(verb, args) == len(line)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and len(line) <= MAX_COMMAND_BYTES
    assert asterisk_parse_args(line[:-1].decode()) == [*verb.split(), *map(str, args)]


@fuzz("fastagi", long=100_000)
@given(st.text(max_size=60))
@example("x\nHANGUP\n\x00\ud800")
def test_any_text_is_sent_by_set_variable_as_its_sanitized_self(value: str) -> None:
    writer = MemoryWriter()

    async def session() -> None:
        request = AgiRequest(AgiApplication(), {}, reader_of(b"200 result=1\n"), writer)
        await request.set_variable("CALLER_NAME", value)

    run(session())
    clean = sanitize_text(value)
    assert sanitize_text(clean) == clean
    assert sent_commands(writer) == [["SET", "VARIABLE", "CALLER_NAME", clean]]


def app_separate_args(data: str) -> list[str]:
    """Python port of app.c ``__ast_app_separate_args`` (delimiter ``,``, quotes and ``\\`` removed).

    ``(``/``)`` and ``[``/``]`` nest independently (a close never goes below 0); a ``,`` splits only
    at depth 0 outside quotes. Like Asterisk, an empty tail after the last ``,`` yields no argument.
    """
    args: list[str] = []
    paren = bracket = 0
    quoted = False
    current: list[str] = []
    chars = iter(data)
    started = False
    for char in chars:
        started = True
        if char == "(":
            paren += 1
        elif char == ")":
            paren = max(paren - 1, 0)
        elif char == "[":
            bracket += 1
        elif char == "]":
            bracket = max(bracket - 1, 0)
        elif char == '"':
            quoted = not quoted
            continue
        elif char == "\\":
            char = next(chars, "")
        elif char == "," and not (paren or bracket or quoted):
            args.append("".join(current))
            current, started = [], False
            continue
        current.append(char)
    if started:
        args.append("".join(current))
    return args


EXEC_ARG = st.text(st.sampled_from("ab1 ,|\"\\$()[]{}:-_.\u00e9\n"), max_size=8)


@fuzz("fastagi", long=40_000)
@given(st.lists(EXEC_ARG, max_size=4))
@example(["a(b,c)", "[x,y]", "d"])
@example(["([)]", ""])
def test_exec_options_split_back_into_our_arguments(args: list[str]) -> None:
    writer = MemoryWriter()

    async def session() -> None:
        request = AgiRequest(AgiApplication(), {}, reader_of(b"200 result=0\n"), writer)
        await request.exec_app("Playback", *args)

    try:
        run(session())
    except AgiArgumentError:
        assert writer.sent == b""
        return
    assert not any(bad in arg for arg in args for bad in ',|"\\$\n')
    commands = sent_commands(writer)
    assert commands[0][:2] == ["EXEC", "Playback"]
    options = commands[0][2:]
    assert options == ([",".join(args)] if args else [])
    split = app_separate_args(options[0]) if options else []
    if args and args[-1] == "":  # Asterisk drops one empty tail: an absent argument to the application
        args = args[:-1]
    assert split == args


# -- replies ----------------------------------------------------------------------------

RESULT = st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(st.characters(
    exclude_categories=("Cs", "Zs"), exclude_characters=" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85"), max_size=8))
REPLY_LINE = st.one_of(
    st.builds(lambda result, data, tail: f"200 result={result}{data}{tail}".encode(), RESULT,
              st.one_of(st.just(""), st.text(max_size=10).map(lambda d: f" ({d})")),
              st.sampled_from(["", " endpos=8000", " endpos=", " x"])),
    st.sampled_from([
        b"HANGUP", b"510 Invalid or unknown command", b"511 Command Not Permitted on a dead channel",
        b"520-Invalid command syntax.  Proper usage follows:", b"Usage: GET DATA <file>", b"520 End of proper usage.",
        b"100 result=0 Trying...", b"200 result=1 (timeout)", b"200 result=-1", b"200 result=1114112", b"",
        b"200", b"2", "²00 result=1".encode(), b"200 result=99999999999999999999", b"200 result= (hangup)",
        b"200 result=0 (", b"999 ?", b"\xff\xfe",
    ]),
    st.binary(max_size=30),
)
REPLIES = st.lists(st.tuples(REPLY_LINE, st.sampled_from([b"\n", b"\r\n", b""])), max_size=5).map(
    lambda lines: b"".join(line + end for line, end in lines))

Call = Callable[[AgiRequest], Awaitable[object]]
CALLS: list[tuple[str, Call]] = [
    ("answer", lambda r: r.answer()),
    ("get_data", lambda r: r.get_data("aiguilleur/need", 5000, 1)),
    ("stream_file", lambda r: r.stream_file("aiguilleur/hello", "0123456789*#")),
    ("get_variable", lambda r: r.get_variable("CHANNEL(linkedid)")),
    ("exec_app", lambda r: r.exec_app("Playback", "x")),
    ("set_variable", lambda r: r.set_variable("X", "y")),
    ("verbose", lambda r: r.verbose("z")),
    ("send_command", lambda r: r.send_command("ANSWER")),
]


@fuzz("fastagi", long=60_000)
@given(REPLIES, st.lists(st.sampled_from(CALLS), min_size=1, max_size=4))
@example(b"200 result=1114112\n", [CALLS[2]])
@example("²00 result=1\n".encode(), [CALLS[0]])
@example(b"200 result=99999999999999999999\n", [CALLS[2]])
def test_any_reply_gives_a_result_or_an_agi_error(replies: bytes, calls: list[tuple[str, Call]]) -> None:
    writer = MemoryWriter()

    async def session() -> None:
        request = AgiRequest(AgiApplication(), {}, reader_of(replies), writer)
        for _, call in calls:
            try:
                await call(request)
            except AgiHangup:
                return
            except AgiError:
                continue

    run(session())
    assert len(sent_commands(writer)) <= len(calls)


@fuzz("fastagi", long=40_000)
@given(RESULT.filter(lambda r: r != "-1"), st.one_of(st.none(), st.text(st.characters(
    exclude_categories=("Cs",), exclude_characters="\n\r"), max_size=12).filter(lambda d: d != "hangup")),
    st.one_of(st.none(), st.integers(0, 2**40)))
def test_a_200_reply_comes_back_whole(result: str, data: str | None, endpos: int | None) -> None:
    line = f"200 result={result}" + (f" ({data})" if data is not None else "")
    line += f" endpos={endpos}" if endpos is not None else ""

    async def session() -> Any:
        return await AgiRequest(AgiApplication(), {}, reader_of(line.encode() + b"\n"), MemoryWriter()).command("NOOP")

    response = run(session())
    assert (response.code, response.result, response.data, response.line) == (200, result, data, line)
    if endpos is not None and (data is None or " endpos=" not in data):
        assert response.field("endpos") == str(endpos)


# -- whole sessions ---------------------------------------------------------------------

ENVIRONMENT = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["agi_network_script", "agi_uniqueid", "agi_channel", "agi_linkedid",
                                     "agi_calleridname", "agi_callerid"]),
                    st.one_of(st.just("ivr"), st.text(max_size=12)), max_size=6).map(
        lambda headers: "".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n"),
)


class WatchedRequest(AgiRequest):
    """Keeps any exception a command raises that is not an AgiError (there must be none)."""

    unexpected: list[BaseException]

    async def command(self, verb: str, *args: str | int) -> Any:
        try:
            return await super().command(verb, *args)
        except AgiError:
            raise
        except Exception as exc:
            self.unexpected.append(exc)
            raise


@fuzz("fastagi", long=35_000)
@given(ENVIRONMENT, REPLIES, st.lists(st.sampled_from(CALLS), max_size=4))
@example(b"agi_network_script: ivr\n\n", b"200 result=1114112\n", [CALLS[2]])
def test_any_peer_bytes_end_a_session_cleanly(environment: bytes, replies: bytes,
                                              calls: list[tuple[str, Call]]) -> None:
    """Headers then replies from a peer (garbage or not): the session ends, the socket closes.

    Only AgiErrors: a command that fails otherwise (or a route failure that is not the linkedid
    lookup's AgiError) fails the test.
    """
    unexpected: list[BaseException] = []
    WatchedRequest.unexpected = unexpected
    app = AgiApplication(header_timeout=1.0, request_class=WatchedRequest)
    entered: list[bool] = []

    async def route(request: AgiRequest) -> None:
        entered.append(True)
        for _, call in calls:
            try:
                await call(request)
            except AgiHangup:
                raise
            except AgiError:
                continue
            except Exception as exc:
                unexpected.append(exc)
                raise

    app.add_route("ivr", route)
    writer = MemoryWriter()
    with capture_logs() as logs:
        run(app.handler(reader_of(environment + replies), writer))  # type: ignore[arg-type]
    assert not unexpected
    assert writer.closed and not app.sessions
    failed = [entry for entry in logs if entry["event"] == "fastagi.route_failed"]
    assert not (failed and entered), logs  # the route catches every AgiError but hang-ups
    sent_commands(writer)
