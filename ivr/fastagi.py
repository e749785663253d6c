"""FastAGI adapter: panoramisk's server with its known gaps covered here, once.

We keep ``panoramisk.fast_agi.Application`` / ``Request`` and
``panoramisk.utils.parse_agi_result``, and override only what is broken on
Python 3.11 or unsafe for a telephony service:

1. ``add_route`` accepts plain (sync) callables: panoramisk wraps them with the
   removed ``asyncio.coroutine`` (AttributeError on 3.11).
2. ``handler`` reads the AGI environment with ``readuntil(b"\\n\\n")`` (bounded
   by the stream limit and ``header_timeout``) and decodes the whole block at
   once as UTF-8 with ``errors="replace"``: a character split across TCP
   segments survives ("José"), raw non-UTF-8 caller names cannot crash the
   session, and EOF ends the session (panoramisk loops forever on
   ``read() == b""``).
3. Command results are read line by line as bytes; EOF raises ``AgiHangup``
   (panoramisk: ``int('')`` ValueError), ``HANGUP``/``511``/``result=-1`` are
   hang-ups, ``510``/``520`` (multi-line usage block included) raise
   ``AgiCommandError`` and the stream stays in sync.
4. Only ``Exception`` is caught around a route (panoramisk catches
   ``BaseException`` and swallows cancellation); it is logged as
   ``fastagi.route_failed`` with ``uniqueid``/``linkedid`` bound through
   ``structlog.contextvars``; the socket is always closed.
5. Sessions are tracked so that :func:`stop` cancels them and waits.

linkedid: Asterisk 22's ``setup_env()`` (res_agi.c) sends ``agi_request,
agi_channel, agi_language, agi_type, agi_uniqueid, agi_version, agi_callerid,
agi_calleridname, agi_callingpres, agi_callingani2, agi_callington,
agi_callingtns, agi_dnid, agi_rdnis, agi_context, agi_extension,
agi_priority, agi_enhanced, agi_accountcode, agi_threadid, agi_arg_N``, after
``agi_network: yes`` and ``agi_network_script`` -- no linkedid. So, unless an
``agi_linkedid`` header is present, the session's first command is
``GET VARIABLE "CHANNEL(linkedid)"`` (``handle_getvariable`` calls
``ast_func_read`` for names ending in ``)``), and ``linkedid`` is then bound
for every log line of the session (``fetch_linkedid=False`` turns it off).

The AGI codec (quoting, command lines, replies, the safe encoding rule) is ``ivr.agi_codec``:
pure, property-tested; this module is the server around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeAlias

import structlog
from panoramisk.fast_agi import Application, Request
from panoramisk.utils import parse_agi_result

from ivr.agi_codec import (
    APP_NAME,
    CONTROL_CHARS,
    ESCAPE_DIGITS,
    MAX_COMMAND_BYTES,
    MAX_DIGITS,
    AgiArgumentError,
    AgiCommandError,
    AgiHangup,
    AgiProtocolError,
    AgiResponse,
    GetDataResult,
    build_command,
    check_exec_arg,
    check_variable_name,
    parse_200,
    parse_agi_headers,
    sanitize_text,
)

__all__ = [
    "HEADER_TIMEOUT",
    "STREAM_LIMIT",
    "AgiApplication",
    "AgiRequest",
    "Route",
    "serve",
    "serve_forever",
    "stop",
]

log = structlog.get_logger(__name__)

#: StreamReader limit: the AGI environment and any result line must fit.
STREAM_LIMIT: Final = 64 * 1024
#: Seconds to wait for the AGI environment after a connection is accepted.
HEADER_TIMEOUT: Final = 10.0

# panoramisk's Application.__init__ only stores ``loop`` (and calls the
# deprecated asyncio.get_event_loop() when it is None); the FastAGI path never
# uses it.
_LOOP_NOT_USED: Final = object()


Route: TypeAlias = Callable[["AgiRequest"], Awaitable[None] | None]


class AgiRequest(Request):  # type: ignore[misc]  # panoramisk is untyped
    """One FastAGI session: the AGI environment plus typed, safe commands.

    Issue one command at a time (AGI is strictly request/response).
    """

    app: AgiApplication
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def __init__(
        self,
        app: AgiApplication,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(app=app, headers=headers, reader=reader, writer=writer, encoding="utf-8")
        self.linkedid: str | None = headers.get("agi_linkedid") or None
        #: True once Asterisk reported the hang-up (HANGUP line, 511, result=-1).
        self.hungup = False
        self._eof = False

    @property
    def uniqueid(self) -> str | None:
        return self.headers.get("agi_uniqueid")

    @property
    def channel(self) -> str | None:
        return self.headers.get("agi_channel")

    @property
    def script(self) -> str | None:
        return self.headers.get("agi_network_script")

    @property
    def callerid(self) -> str | None:
        return self.headers.get("agi_callerid")

    @property
    def calleridname(self) -> str | None:
        return self.headers.get("agi_calleridname")

    # -- wire -------------------------------------------------------------

    async def _write(self, line: bytes) -> None:
        if self._eof:
            raise AgiHangup("FastAGI connection already closed")
        self.writer.write(line)
        try:
            await self.writer.drain()
        except ConnectionError as exc:
            self._eof = True
            raise AgiHangup(f"FastAGI connection lost: {exc}") from exc

    async def _read_line(self) -> str:
        try:
            raw = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            self._eof = True
            detail = f" mid-line after {len(exc.partial)} bytes" if exc.partial else ""
            raise AgiHangup(f"Asterisk closed the FastAGI connection{detail}") from None
        except asyncio.LimitOverrunError:
            self._eof = True  # framing is lost
            raise AgiProtocolError(f"AGI reply line longer than {STREAM_LIMIT} bytes") from None
        except ConnectionError as exc:
            self._eof = True
            raise AgiHangup(f"FastAGI connection lost: {exc}") from exc
        return raw[:-1].decode("utf-8", errors="replace").removesuffix("\r")

    async def _read_reply(self) -> tuple[str, str, bool]:
        """(status line, whole message, hang-up newly reported before it)."""
        newly_hungup = False
        while True:
            line = await self._read_line()
            if line == "HANGUP":
                # Sent when the channel hangs up (AGISIGHUP); the reply to the
                # command in flight still follows, so keep reading.
                newly_hungup = newly_hungup or not self.hungup
                self.hungup = True
                continue
            if not line or line.startswith("100"):  # "100 result=0 Trying..."
                continue
            break
        # isascii: "²00".isdigit() is true, int("²00") raises ValueError (fuzz-found, tests/fuzz).
        if not (len(line) >= 3 and line[:3].isascii() and line[:3].isdigit()):
            raise AgiProtocolError(f"not an AGI reply: {line!r}")
        if line.startswith("520-"):
            block = [line]
            while not block[-1].startswith("520 "):
                block.append(await self._read_line())
            return line, "\n".join(block), newly_hungup
        return line, line, newly_hungup

    async def command(self, verb: str, *args: str | int) -> AgiResponse:
        """Send ``verb`` with safely quoted ``args``; return the 200 reply.

        Raises ``AgiHangup`` (EOF, HANGUP, 511, ``result=-1``, ``(hangup)``),
        ``AgiCommandError`` (510, 520, other codes) or ``AgiArgumentError``.
        """
        await self._write(build_command(verb, *args))
        status, message, newly_hungup = await self._read_reply()
        code = int(status[:3])
        if code == 200:
            response = parse_200(status)
            if response.result == "-1" or response.data == "hangup":
                self.hungup = True
                raise AgiHangup(f"{verb}: {status}")
            if newly_hungup:
                raise AgiHangup(f"HANGUP received during {verb}")
            return response
        if code == 511:  # "Command Not Permitted on a dead channel"
            self.hungup = True
            raise AgiHangup(f"{verb}: {message}")
        raise AgiCommandError(code, message)

    async def send_command(self, command: str) -> dict[str, Any]:
        """panoramisk-compatible raw command, with our framing (EOF -> AgiHangup).

        ``command`` is sent as is: build it with ``agi_quote`` if it holds data.
        """
        if CONTROL_CHARS.search(command):
            raise AgiArgumentError(f"control character in AGI command {command!r}")
        try:
            line = (command + "\n").encode("utf-8")
        except UnicodeEncodeError:
            raise AgiArgumentError(f"AGI command is not valid text: {command!r}") from None
        if len(line) > MAX_COMMAND_BYTES:
            raise AgiArgumentError(f"AGI command longer than {MAX_COMMAND_BYTES} bytes")
        await self._write(line)
        status, message, _ = await self._read_reply()
        result: dict[str, Any] = parse_agi_result(status)
        if status.startswith("520-"):
            result["msg"] = message
        return result

    # -- typed helpers ----------------------------------------------------

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def get_data(self, file: str, timeout_ms: int, max_digits: int) -> GetDataResult:
        """Play ``file`` and collect up to ``max_digits`` DTMF digits."""
        if timeout_ms < 0 or not 1 <= max_digits <= MAX_DIGITS:
            raise AgiArgumentError(f"GET DATA timeout={timeout_ms} max_digits={max_digits}")
        response = await self.command("GET DATA", file, timeout_ms, max_digits)
        return GetDataResult(digits=response.result, timed_out=response.data == "timeout")

    async def stream_file(self, file: str, escape_digits: str = "") -> str | None:
        """Play ``file``; return the escape digit pressed, or None."""
        if not ESCAPE_DIGITS.match(escape_digits):
            raise AgiArgumentError(f"invalid escape digits {escape_digits!r}")
        response = await self.command("STREAM FILE", file, escape_digits)
        try:
            code = int(response.result)
            return chr(code) if code > 0 else None
        except (ValueError, OverflowError):  # not a number, or past chr()'s range (fuzz-found, tests/fuzz)
            raise AgiProtocolError(f"STREAM FILE: {response.line!r}") from None

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable; ``value`` may be untrusted (see module doc)."""
        check_variable_name(name)
        await self.command("SET VARIABLE", name, sanitize_text(value))

    async def get_variable(self, name: str) -> str | None:
        """A channel variable (or ``FUNC(arg)``) value, None when unset."""
        check_variable_name(name)
        response = await self.command("GET VARIABLE", name)
        if response.result != "1":
            return None
        return response.data if response.data is not None else ""

    async def exec_app(self, app: str, *args: str) -> int:
        """Run a dialplan application; ``args`` are joined with ``,``.

        Returns the application's result; -2 (not found) raises AgiCommandError.
        """
        if not APP_NAME.match(app):
            raise AgiArgumentError(f"invalid application name {app!r}")
        for arg in args:
            check_exec_arg(arg)
        options = (",".join(args),) if args else ()
        response = await self.command("EXEC", app, *options)
        try:
            result = int(response.result)
        except ValueError:
            raise AgiProtocolError(f"EXEC: {response.line!r}") from None
        if result == -2:
            raise AgiCommandError(200, f"application {app} not found")
        return result

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", sanitize_text(message), level)

    async def hangup(self) -> None:
        await self.command("HANGUP")


class AgiApplication(Application):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk FastAGI application with the gaps listed in the module doc covered."""

    def __init__(
        self,
        *,
        fetch_linkedid: bool = True,
        header_timeout: float = HEADER_TIMEOUT,
        request_class: type[AgiRequest] = AgiRequest,
    ) -> None:
        super().__init__(default_encoding="utf-8", loop=_LOOP_NOT_USED)
        self.fetch_linkedid = fetch_linkedid
        self.header_timeout = header_timeout
        self.request_class = request_class
        self._sessions: set[asyncio.Task[Any]] = set()
        self._closing = False

    @property
    def sessions(self) -> frozenset[asyncio.Task[Any]]:
        """Tasks of the sessions in progress."""
        return frozenset(self._sessions)

    def add_route(self, path: str, endpoint: Route) -> None:
        """Route ``agi_network_script == path`` to ``endpoint`` (async or sync)."""
        if not callable(endpoint):
            raise TypeError(f"FastAGI route must be callable, not {endpoint!r}")
        if inspect.iscoroutinefunction(endpoint):
            super().add_route(path, endpoint)
            return

        @functools.wraps(endpoint)
        async def call_sync(request: AgiRequest) -> None:
            result = endpoint(request)
            if inspect.isawaitable(result):
                await result

        super().add_route(path, call_sync)

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``asyncio.start_server`` callback: one FastAGI session."""
        task = asyncio.current_task()
        if self._closing or task is None:
            writer.transport.abort()
            return
        self._sessions.add(task)
        try:
            await self._session(reader, writer)
        finally:
            self._sessions.discard(task)
            await _close_writer(writer)

    async def close_sessions(self) -> None:
        """Refuse new sessions, cancel the running ones and wait for them."""
        self._closing = True
        await asyncio.sleep(0)  # let just-accepted connections see _closing
        while self._sessions:
            tasks = list(self._sessions)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_headers(self, reader: asyncio.StreamReader, peer: object) -> bytes | None:
        try:
            async with asyncio.timeout(self.header_timeout):
                return await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                log.warning("fastagi.headers_incomplete", peer=peer, received=len(exc.partial))
            else:
                log.debug("fastagi.closed_before_headers", peer=peer)
        except asyncio.LimitOverrunError:
            log.warning("fastagi.headers_too_large", peer=peer, limit=STREAM_LIMIT)
        except TimeoutError:
            log.warning("fastagi.headers_timeout", peer=peer, timeout=self.header_timeout)
        except ConnectionError as exc:
            log.warning("fastagi.connection_lost", peer=peer, error=str(exc))
        return None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        raw = await self._read_headers(reader, peer)
        if raw is None:
            return
        headers = parse_agi_headers(raw)
        script = headers.get("agi_network_script")
        tokens = dict(
            structlog.contextvars.bind_contextvars(
                uniqueid=headers.get("agi_uniqueid"),
                channel=headers.get("agi_channel"),
                agi_script=script,
            )
        )
        try:
            route = self._route.get(script) if script is not None else None
            if route is None:
                log.error("fastagi.no_route", peer=peer)
                return
            request = self.request_class(self, headers, reader, writer)
            try:
                if request.linkedid is None and self.fetch_linkedid:
                    request.linkedid = await request.get_variable("CHANNEL(linkedid)")
                if request.linkedid is not None:
                    tokens.update(structlog.contextvars.bind_contextvars(linkedid=request.linkedid))
                log.debug("fastagi.session_started", peer=peer)
                await route(request)
            except AgiHangup as exc:
                log.info("fastagi.hangup", reason=str(exc))
            except Exception:
                log.exception("fastagi.route_failed")
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    # Every reply was read, so nothing is left to send: close() releases the
    # socket at once. If something is left (error path), abort rather than
    # wait on a peer that may never read it.
    if writer.transport.get_write_buffer_size():
        writer.transport.abort()
    else:
        writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def serve(
    app: AgiApplication,
    host: str,
    port: int,
    *,
    backlog: int = 1024,
    limit: int = STREAM_LIMIT,
) -> asyncio.Server:
    """Start listening; stop with :func:`stop` (not just ``server.close()``)."""
    return await asyncio.start_server(app.handler, host, port, backlog=backlog, limit=limit)


async def stop(server: asyncio.Server, app: AgiApplication) -> None:
    """Stop accepting, cancel the sessions in progress, wait for all of them."""
    server.close()
    await app.close_sessions()
    with contextlib.suppress(OSError):
        await server.wait_closed()


async def serve_forever(
    app: AgiApplication,
    host: str,
    port: int,
    *,
    on_started: Callable[[asyncio.Server], object] | None = None,
) -> None:
    """Serve until cancelled; cancellation stops the listener and every session."""
    server = await serve(app, host, port)
    try:
        if on_started is not None:
            on_started(server)
        # Not server.serve_forever(): from 3.12 its cancellation path waits for
        # the connections to end, which would wait on our own live sessions.
        await asyncio.get_running_loop().create_future()
    finally:
        await stop(server, app)
