"""ivr.fastagi against a fake Asterisk speaking real FastAGI framing over 127.0.0.1.

The fake sends the AGI environment in the order and form of Asterisk 22's
res_agi.c (``launch_netscript`` then ``setup_env``: one write per line, a blank
line at the end) and answers each command with the reply lines res_agi writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import structlog
from hypothesis import example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from ivr.agi_codec import (
    MAX_COMMAND_BYTES,
    AgiArgumentError,
    AgiCommandError,
    AgiHangup,
    GetDataResult,
    agi_quote,
    build_command,
    parse_agi_headers,
    sanitize_text,
)
from ivr.fastagi import AgiApplication, AgiRequest, serve, serve_forever, stop

UNIQUEID = "1700000000.42"
LINKEDID = "1700000000.40"
CHANNEL = "PJSIP/caller-00000001"
IO_TIMEOUT = 5.0


def asterisk_environment(
    *,
    script: bytes = b"ivr",
    calleridname: bytes = b"Jean Dupont",
    extra: tuple[bytes, ...] = (),
) -> list[bytes]:
    """The FastAGI preamble, one line per ast_agi_send() as Asterisk 22 writes it."""
    return [
        b"agi_network: yes\n",
        b"agi_network_script: " + script + b"\n",
        b"agi_request: agi://127.0.0.1/" + script + b"\n",
        f"agi_channel: {CHANNEL}\n".encode(),
        b"agi_language: fr\n",
        b"agi_type: PJSIP\n",
        f"agi_uniqueid: {UNIQUEID}\n".encode(),
        b"agi_version: 22.10.0\n",
        b"agi_callerid: 0612345678\n",
        b"agi_calleridname: " + calleridname + b"\n",
        b"agi_callingpres: 0\n",
        b"agi_callingani2: 0\n",
        b"agi_callington: 0\n",
        b"agi_callingtns: 0\n",
        b"agi_dnid: 0800100200\n",
        b"agi_rdnis: unknown\n",
        b"agi_context: hotline-in\n",
        b"agi_extension: s\n",
        b"agi_priority: 2\n",
        b"agi_enhanced: 0.0\n",
        b"agi_accountcode: \n",
        b"agi_threadid: 140234567891234\n",
        *extra,
        b"\n",
    ]


def asterisk_reply(command: bytes) -> bytes:
    """What res_agi answers to each command when all goes well."""
    replies = [
        (b'GET VARIABLE "CHANNEL(linkedid)"', f"200 result=1 ({LINKEDID})".encode()),
        (b"GET DATA ", b"200 result=1"),
        (b"STREAM FILE ", b"200 result=0 endpos=8000"),
        (b"EXEC ", b"200 result=0"),
        (b"ANSWER", b"200 result=0"),
    ]
    for prefix, reply in replies:
        if command.startswith(prefix):
            return reply
    if command.startswith((b"SET VARIABLE ", b"VERBOSE ", b"HANGUP")):
        return b"200 result=1"
    return b"510 Invalid or unknown command"


def asterisk_parse_args(line: str) -> list[str]:
    """Python port of res_agi.c parse_args(): how Asterisk splits a command line."""
    argv: list[str] = []
    quoted = escaped = False
    whitespace = True
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                argv.append("")
                whitespace = False
            continue
        if char in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            argv.append("")
            whitespace = False
        argv[-1] += char
        escaped = False
    return argv


@dataclass
class FakeAsterisk:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    commands: list[bytes] = field(default_factory=list)

    async def send(self, *chunks: bytes, pause: float = 0.0) -> None:
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            if pause:
                await asyncio.sleep(pause)

    async def read_command(self) -> bytes:
        line = await asyncio.wait_for(self.reader.readuntil(b"\n"), IO_TIMEOUT)
        self.commands.append(line)
        return line

    async def reply(self, *lines: bytes) -> None:
        await self.send(b"".join(line + b"\n" for line in lines))

    async def start(self, *, calleridname: bytes = b"Jean Dupont") -> None:
        """Send the AGI environment and answer the linkedid lookup."""
        await self.send(*asterisk_environment(calleridname=calleridname))
        assert await self.read_command() == b'GET VARIABLE "CHANNEL(linkedid)"\n'
        await self.reply(f"200 result=1 ({LINKEDID})".encode())

    async def play(self, answer: Callable[[bytes], bytes] = asterisk_reply) -> None:
        """Answer every command until the server closes the connection."""
        while True:
            try:
                command = await self.read_command()
            except asyncio.IncompleteReadError as exc:
                assert exc.partial == b""
                return
            await self.reply(answer(command))

    async def read_until_closed(self) -> bytes:
        """Everything the server still sends before closing (b'' if just closed)."""
        with contextlib.suppress(ConnectionResetError):
            return await asyncio.wait_for(self.reader.read(), IO_TIMEOUT)
        return b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@dataclass
class Server:
    app: AgiApplication
    port: int
    fakes: list[FakeAsterisk] = field(default_factory=list)

    async def connect(self) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        fake = FakeAsterisk(reader, writer)
        self.fakes.append(fake)
        return fake

    async def sessions_done(self) -> None:
        if pending := self.app.sessions:
            await asyncio.wait(pending, timeout=IO_TIMEOUT)
        assert not self.app.sessions


@contextlib.asynccontextmanager
async def running(app: AgiApplication, *, limit: int | None = None) -> AsyncIterator[Server]:
    kwargs = {} if limit is None else {"limit": limit}
    server = await serve(app, "127.0.0.1", 0, **kwargs)
    running_server = Server(app, server.sockets[0].getsockname()[1])
    try:
        yield running_server
    finally:
        for fake in running_server.fakes:
            await fake.close()
        await stop(server, app)


@pytest.fixture
async def agi() -> AsyncIterator[Server]:
    async with running(AgiApplication(header_timeout=IO_TIMEOUT)) as server:
        yield server


def events(logs: list[dict[str, object]]) -> list[object]:
    """Logged events above debug level."""
    return [entry["event"] for entry in logs if entry["log_level"] != "debug"]


# -- routes -----------------------------------------------------------------


async def test_sync_route_is_accepted_and_called(agi: Server) -> None:
    seen: list[str | None] = []

    def route(request: AgiRequest) -> None:
        seen.append(request.headers.get("agi_network_script"))

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    await fake.start()
    assert await fake.read_until_closed() == b""
    assert seen == ["ivr"]


async def test_callable_object_returning_awaitable_is_awaited(agi: Server) -> None:
    class Route:
        async def __call__(self, request: AgiRequest) -> None:
            await request.answer()

    agi.app.add_route("ivr", Route())
    fake = await agi.connect()
    await fake.start()
    await fake.play()
    assert fake.commands[-1] == b"ANSWER\n"


async def test_unknown_script_closes_the_connection(agi: Server) -> None:
    fake = await agi.connect()
    await fake.send(*asterisk_environment(script=b"nope"))
    with capture_logs() as logs:
        assert await fake.read_until_closed() == b""
        await agi.sessions_done()
    assert events(logs) == ["fastagi.no_route"]


# -- AGI environment ----------------------------------------------------------


async def test_utf8_character_split_across_writes_arrives_whole(agi: Server) -> None:
    names: list[str | None] = []

    async def route(request: AgiRequest) -> None:
        names.append(request.calleridname)

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    preamble = asterisk_environment()
    cut = preamble.index(b"agi_calleridname: Jean Dupont\n")
    await fake.send(*preamble[:cut], pause=0.001)
    await fake.send(b"agi_calleridname: Jos\xc3", b"\xa9\n", pause=0.02)
    await fake.send(*preamble[cut + 1 :], pause=0.001)
    await fake.read_command()  # linkedid lookup
    await fake.reply(f"200 result=1 ({LINKEDID})".encode())
    assert await fake.read_until_closed() == b""
    assert names == ["José"]


async def test_non_utf8_caller_name_does_not_crash_the_session(agi: Server) -> None:
    async def route(request: AgiRequest) -> None:
        await request.set_variable("CALLER_NAME", request.calleridname or "")

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    with capture_logs() as logs:
        await fake.start(calleridname=b"\xff\xfe")
        await fake.play()
        await agi.sessions_done()
    assert fake.commands[-1] == 'SET VARIABLE "CALLER_NAME" "\ufffd\ufffd"\n'.encode()
    assert not [entry for entry in logs if entry["log_level"] in {"error", "warning"}]


def test_header_lines_without_separator_are_ignored_and_values_kept_as_text() -> None:
    headers = parse_agi_headers(b"agi_network: yes\ngarbage line\nagi_arg_1: a: b\n: no key\nagi_accountcode: \n\n")
    assert headers == {"agi_network": "yes", "agi_arg_1": "a: b", "agi_accountcode": ""}


async def test_linkedid_header_if_present_skips_the_lookup(agi: Server) -> None:
    linkedids: list[str | None] = []

    async def route(request: AgiRequest) -> None:
        linkedids.append(request.linkedid)
        await request.answer()

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    await fake.send(*asterisk_environment(extra=(b"agi_linkedid: 1699999999.1\n",)))
    await fake.play()
    assert fake.commands == [b"ANSWER\n"]
    assert linkedids == ["1699999999.1"]


class ObservedApplication(AgiApplication):
    """Signals when a connection reaches the handler."""

    def __init__(self) -> None:
        super().__init__()
        self.connected = asyncio.Event()

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connected.set()
        await super().handler(reader, writer)


async def test_eof_inside_headers_ends_the_session_without_spinning() -> None:
    called: list[AgiRequest] = []

    async def route(request: AgiRequest) -> None:
        called.append(request)

    app = ObservedApplication()
    app.add_route("ivr", route)
    async with running(app) as server:
        fake = await server.connect()
        await fake.send(*asterisk_environment()[:5])
        await asyncio.wait_for(app.connected.wait(), IO_TIMEOUT)
        (session,) = app.sessions
        cpu_before = time.process_time()
        with capture_logs() as logs:
            fake.writer.write_eof()
            await asyncio.wait_for(session, 1.0)
        assert time.process_time() - cpu_before < 0.5
        assert not app.sessions
        assert called == []
        assert events(logs) == ["fastagi.headers_incomplete"]
        assert await fake.read_until_closed() == b""


async def test_silent_peer_is_dropped_after_the_header_timeout() -> None:
    async with running(AgiApplication(header_timeout=0.05)) as server:
        fake = await server.connect()
        with capture_logs() as logs:
            assert await fake.read_until_closed() == b""
            await server.sessions_done()
        assert events(logs) == ["fastagi.headers_timeout"]


async def test_oversized_headers_close_the_session() -> None:
    app = AgiApplication()
    app.add_route("ivr", lambda request: None)
    async with running(app, limit=1024) as server:
        fake = await server.connect()
        with capture_logs() as logs:
            await fake.send(b"agi_network: yes\n" + b"agi_arg_1: " + b"x" * 2000 + b"\n")
            assert await fake.read_until_closed() == b""
            await server.sessions_done()
        assert events(logs) == ["fastagi.headers_too_large"]


# -- command results ------------------------------------------------------------


@pytest.mark.parametrize("last_bytes", [b"", b"200 res"], ids=["at-line-start", "mid-line"])
async def test_eof_during_a_command_raises_agihangup_and_route_cleans_up(agi: Server, last_bytes: bytes) -> None:
    steps: list[str] = []

    async def route(request: AgiRequest) -> None:
        try:
            await request.answer()
            await request.get_data("fr/menu-besoin", 5000, 1)
        except AgiHangup:
            steps.append("hangup")
            raise
        finally:
            steps.append("cleanup")

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    with capture_logs() as logs:
        await fake.start()
        assert await fake.read_command() == b"ANSWER\n"
        await fake.reply(b"200 result=0")
        assert await fake.read_command() == b'GET DATA "fr/menu-besoin" 5000 1\n'
        await fake.send(last_bytes)
        await fake.close()
        await agi.sessions_done()
    assert steps == ["hangup", "cleanup"]
    assert events(logs) == ["fastagi.hangup"]


async def test_get_data_distinguishes_digits_timeout_and_hangup(agi: Server) -> None:
    results: list[GetDataResult | str] = []

    async def route(request: AgiRequest) -> None:
        for _ in range(4):
            try:
                results.append(await request.get_data("fr/menu-taille", 3000, 3))
            except AgiHangup:
                results.append("hangup")

    replies = iter([b"200 result=123", b"200 result= (timeout)", b"200 result=4 (timeout)"])
    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    await fake.start()
    await fake.play(lambda command: next(replies, b"200 result=-1"))
    assert results == [
        GetDataResult("123", timed_out=False),
        GetDataResult("", timed_out=True),
        GetDataResult("4", timed_out=True),
        "hangup",
    ]


async def test_510_and_520_raise_command_error_and_keep_the_stream_in_sync(agi: Server) -> None:
    outcomes: list[object] = []

    async def route(request: AgiRequest) -> None:
        for call in (
            lambda: request.command("FOO"),
            lambda: request.get_data("fr/menu", 0, 2),
            request.answer,
        ):
            try:
                outcomes.append(await call())
            except AgiCommandError as exc:
                outcomes.append((exc.code, exc.message))

    usage = [
        b"520-Invalid command syntax.  Proper usage follows:",
        b" Usage: GET DATA <file to be streamed> [timeout] [max digits]",
        b"520 End of proper usage.",
    ]
    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    await fake.start()
    assert await fake.read_command() == b"FOO\n"
    await fake.reply(b"510 Invalid or unknown command")
    await fake.read_command()
    await fake.reply(*usage)
    await fake.play()
    assert outcomes[0] == (510, "510 Invalid or unknown command")
    assert outcomes[1] == (520, b"\n".join(usage).decode())
    assert outcomes[2] is None
    assert fake.commands[-1] == b"ANSWER\n"


async def test_hangup_line_before_a_reply_is_a_hangup_and_dead_channel_commands_still_work(
    agi: Server,
) -> None:
    outcomes: list[str] = []

    async def route(request: AgiRequest) -> None:
        try:
            await request.set_variable("IVR_STEP", "need")
        except AgiHangup:
            outcomes.append("hangup")
        await request.set_variable("IVR_ABANDONED", "1")  # allowed on a dead channel
        outcomes.append("cleaned up")
        await request.get_data("fr/menu", 100, 1)  # not allowed: 511

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    with capture_logs() as logs:
        await fake.start()
        await fake.read_command()
        await fake.reply(b"HANGUP", b"200 result=1")
        await fake.read_command()
        await fake.reply(b"200 result=1")
        await fake.read_command()
        await fake.reply(b"511 Command Not Permitted on a dead channel")
        assert await fake.read_until_closed() == b""
    assert outcomes == ["hangup", "cleaned up"]
    assert events(logs) == ["fastagi.hangup"]


async def test_stream_file_get_variable_exec_verbose_and_hangup_wire_format(agi: Server) -> None:
    results: list[object] = []

    async def route(request: AgiRequest) -> None:
        results.append(await request.stream_file("fr/bienvenue", "0#"))
        results.append(await request.get_variable("CALLERID(num)"))
        results.append(await request.exec_app("Queue", "support", "t", "", "", "60"))
        await request.verbose("menu: besoin=1\n")
        await request.hangup()

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    await fake.start()
    await fake.play(
        lambda command: (
            b"200 result=1 (0612 345 678)"
            if command.startswith(b"GET VARIABLE")
            else b"200 result=35 endpos=1200"
            if command.startswith(b"STREAM FILE")
            else asterisk_reply(command)
        )
    )
    assert results == ["#", "0612 345 678", 0]
    assert fake.commands == [
        b'GET VARIABLE "CHANNEL(linkedid)"\n',
        b'STREAM FILE "fr/bienvenue" "0#"\n',
        b'GET VARIABLE "CALLERID(num)"\n',
        b'EXEC "Queue" "support,t,,,60"\n',
        b'VERBOSE "menu: besoin=1 " 1\n',
        b"HANGUP\n",
    ]


async def test_send_command_keeps_panoramisk_results_with_our_framing(agi: Server) -> None:
    results: list[dict[str, object]] = []

    async def route(request: AgiRequest) -> None:
        results.append(await request.send_command("GET DATA fr/menu 100 1"))
        results.append(await request.send_command("GET DATA"))
        results.append(await request.send_command("ANSWER"))
        await request.send_command("ANSWER")  # EOF -> AgiHangup, not ValueError

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    with capture_logs() as logs:
        await fake.start()
        await fake.read_command()
        await fake.reply(b"200 result=4")
        await fake.read_command()
        await fake.reply(
            b"520-Invalid command syntax.  Proper usage follows:", b" Usage: GET DATA", b"520 End of proper usage."
        )
        await fake.read_command()
        await fake.reply(b"200 result=0")
        await fake.read_command()
        await fake.close()
        await agi.sessions_done()
    assert results[0]["result"] == ("4", "")
    assert results[1]["error"] == "AGIUsageError" and "Usage: GET DATA" in str(results[1]["msg"])
    assert results[2]["result"] == ("0", "")
    assert events(logs) == ["fastagi.hangup"]


# -- safe encoding --------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["x\nHANGUP\n", "${SHELL(rm -rf /)}", 'Jo "le" \\ ${X} $[1+1]', "a\r\n200 result=1\x00b", ""],
)
async def test_untrusted_value_is_exactly_one_command_line_with_the_value_intact(agi: Server, value: str) -> None:
    async def route(request: AgiRequest) -> None:
        await request.set_variable("CALLER_NAME", value)
        await request.answer()

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    await fake.start()
    await fake.play()
    assert len(fake.commands) == 3  # linkedid lookup, SET VARIABLE, ANSWER
    set_line = fake.commands[1]
    assert set_line.count(b"\n") == 1 and b"\x00" not in set_line and b"\r" not in set_line
    assert asterisk_parse_args(set_line[:-1].decode()) == [
        "SET",
        "VARIABLE",
        "CALLER_NAME",
        sanitize_text(value),
    ]
    assert fake.commands[2] == b"ANSWER\n"


TEXT_WITHOUT_CONTROLS = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="".join(map(chr, [*range(32), 127]))),
    max_size=300,
)


@settings(database=None)
@given(TEXT_WITHOUT_CONTROLS)
@example('"')
@example("\\")
@example('\\"')
@example(" ")
def test_agi_quote_round_trips_through_asterisk_parse_args(value: str) -> None:
    line = build_command("SET VARIABLE", "X", value).decode()
    assert asterisk_parse_args(line[:-1]) == ["SET", "VARIABLE", "X", value]


@settings(database=None)
@given(st.text(max_size=300))
@example("\ud800 lone surrogate")
@example("\n\n\x00\t")
def test_any_text_sanitized_is_one_safe_line(value: str) -> None:
    line = build_command("SET VARIABLE", "X", sanitize_text(value))
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\x00" not in line
    assert len(asterisk_parse_args(line[:-1].decode())) == 4


@pytest.mark.parametrize("arg", [True, 1.5, b"bytes", None])
def test_build_command_accepts_only_text_and_integers(arg: object) -> None:
    with pytest.raises(AgiArgumentError):
        build_command("GET DATA", "fr/x", arg, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["a\nb", "a\x00b", "tab\there", "\x7f"])
def test_agi_quote_refuses_control_characters(value: str) -> None:
    with pytest.raises(AgiArgumentError):
        agi_quote(value)


def test_command_longer_than_asterisk_buffer_is_refused() -> None:
    assert len(build_command("VERBOSE", "x" * (MAX_COMMAND_BYTES - 13), 1)) == MAX_COMMAND_BYTES
    with pytest.raises(AgiArgumentError):
        build_command("VERBOSE", "x" * (MAX_COMMAND_BYTES - 12), 1)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda r: r.exec_app("Queue", "support,t"), id="comma"),
        pytest.param(lambda r: r.exec_app("Playback", "${SHELL(id)}"), id="dollar"),
        pytest.param(lambda r: r.exec_app("Dial", "PJSIP/a|PJSIP/b"), id="pipe"),
        pytest.param(lambda r: r.exec_app("Playback", "x(", "y"), id="unbalanced"),
        pytest.param(lambda r: r.exec_app("Play back", "x"), id="app-name"),
        pytest.param(lambda r: r.set_variable("FILE(/etc/passwd)", "x"), id="function-path"),
        pytest.param(lambda r: r.set_variable("A B", "x"), id="name-space"),
        pytest.param(lambda r: r.stream_file("fr/x", "1; rm"), id="escape-digits"),
        pytest.param(lambda r: r.get_data("fr/x\n", 1000, 1), id="file-newline"),
    ],
)
async def test_unsafe_arguments_are_refused_before_anything_is_sent(
    agi: Server, call: Callable[[AgiRequest], Awaitable[object]]
) -> None:
    errors: list[BaseException] = []

    async def route(request: AgiRequest) -> None:
        try:
            await call(request)
        except AgiArgumentError as exc:
            errors.append(exc)
        await request.answer()

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    await fake.start()
    await fake.play()
    assert len(errors) == 1
    assert fake.commands[1:] == [b"ANSWER\n"]


# -- lifecycle and logging ----------------------------------------------------------


def blocking_route(events: list[str]) -> Callable[[AgiRequest], Awaitable[None]]:
    async def route(request: AgiRequest) -> None:
        try:
            await request.get_data("fr/menu-besoin", 5000, 1)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    return route


async def test_stop_cancels_sessions_in_progress_and_closes_their_sockets() -> None:
    events: list[str] = []
    app = AgiApplication()
    app.add_route("ivr", blocking_route(events))
    server = await serve(app, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fake = FakeAsterisk(reader, writer)
    try:
        await fake.start()
        await fake.read_command()  # GET DATA, never answered
        await asyncio.wait_for(stop(server, app), IO_TIMEOUT)
        assert events == ["cancelled"]
        assert not app.sessions
        assert await fake.read_until_closed() == b""
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
    finally:
        await fake.close()


async def test_cancelling_serve_forever_stops_the_sessions() -> None:
    events: list[str] = []
    app = AgiApplication()
    app.add_route("ivr", blocking_route(events))
    started: asyncio.Future[asyncio.Server] = asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(serve_forever(app, "127.0.0.1", 0, on_started=started.set_result))
    port = (await started).sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fake = FakeAsterisk(reader, writer)
    try:
        await fake.start()
        await fake.read_command()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(serving, IO_TIMEOUT)
        assert events == ["cancelled"]
        assert not app.sessions
        assert await fake.read_until_closed() == b""
    finally:
        await fake.close()


async def test_route_exception_is_logged_with_the_session_ids(agi: Server) -> None:
    async def route(request: AgiRequest) -> None:
        await request.answer()
        raise RuntimeError("menu bug")

    agi.app.add_route("ivr", route)
    fake = await agi.connect()
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await fake.start()
        await fake.play()
        await agi.sessions_done()
    failures = [entry for entry in logs if entry["event"] == "fastagi.route_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "error"
    assert failures[0]["exc_info"] is True
    assert failures[0]["uniqueid"] == UNIQUEID
    assert failures[0]["linkedid"] == LINKEDID
    assert failures[0]["channel"] == CHANNEL
    assert structlog.contextvars.get_contextvars() == {}
