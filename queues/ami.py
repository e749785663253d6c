"""Resilient AMI client: panoramisk's protocol and actions, with its known gaps covered here.

panoramisk 1.4 gaps (design.md, "Known library gaps") and what this module does:

- each read is decoded with ``errors='ignore'``: we parse with
  ``queues.ami_parse.AmiStreamParser`` (one incremental UTF-8 decoder per
  connection, invalid bytes become U+FFFD);
- ``ping()`` never checks the reply: we send ``Ping`` every ``ping_interval``
  and drop the link when no reply comes within ``pong_timeout``;
- reconnect waits a fixed 2 s: we back off exponentially with jitter from
  ``backoff_initial`` to ``backoff_max``, reset after a successful login;
- actions have no timeout: ``send`` has one (default ``action_timeout``);
- unanswered actions are re-sent after a reconnect (duplicate QueueAdd or
  Originate): never here; pending actions fail with ``AmiNotConnected``;
- its list heuristics hang on some replies (``QueueAdd``'s "Added interface
  to queue" is taken for a list start; ``as_list`` with ``Response: Error``
  never completes): a reply is a list only when Asterisk says
  ``EventList: start``, and ends at ``EventList: Complete``;
- events during an outage are lost: ``on_ready`` runs after every login so
  the live state resyncs (QueueStatus);
- after ``Event: Shutdown`` Asterisk answers actions with errors for a
  moment before closing: the link is dropped at the event.

panoramisk's ``Manager`` is not used: its whole job (connect, login, ping,
reconnect, re-queue, dispatch of ``Message`` objects) is the list above, and
its public ``connect``/``send_action`` would bypass these guarantees.
Events leave this module as plain ``dict[str, str]``; the pure core never
sees a panoramisk object.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

import structlog
from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol

from config.settings import AmiSettings
from queues.ami_parse import AmiStreamParser

log = structlog.get_logger(__name__)

EventHandler = Callable[[dict[str, str]], None]
ReadyHandler = Callable[[], Awaitable[None]]
DownHandler = Callable[[], None]

ERROR_RESPONSES: Final = frozenset({"Error", "Fail", "Failure"})
# Ends of list replies seen from Asterisk 22 (tests/pbx/test_ami_real.py checks
# them); the rule itself is generic: ``EventList: Complete`` ends a list.
LIST_COMPLETE_EVENTS: Final = {
    "QueueStatus": "QueueStatusComplete",
    "QueueSummary": "QueueSummaryComplete",
    "CoreShowChannels": "CoreShowChannelsComplete",
    "Status": "StatusComplete",
    "PJSIPShowEndpoints": "EndpointListComplete",
}
# Late replies of abandoned (timed-out) actions to drop instead of passing on as events.
_ABANDONED_MEMORY: Final = 256
_STOP_GRACE: Final = 1.0


class AmiError(Exception):
    """Base of the AMI client's errors; ``code`` is stable for the edges (HTTP, CLI)."""

    code = "ami_error"


class AmiNotConnected(AmiError):
    """The AMI link is down (or went down before the action was answered)."""

    code = "ami_not_connected"


class AmiActionTimeout(AmiError):
    """Asterisk did not answer the action in time."""

    code = "ami_action_timeout"


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``; the message is Asterisk's ``Message``."""

    code = "ami_action_error"

    def __init__(self, message: str, response: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.response: dict[str, str] = dict(response or {})


class AmiLoginError(AmiActionError):
    """Asterisk refused the login (wrong username or secret, or ACL)."""

    code = "ami_login_error"


class Backoff:
    """Exponential reconnect delays with jitter, capped: pure, so tests drive it directly.

    Step ``n`` is ``min(initial * 2**n, maximum)`` minus up to ``jitter`` of it,
    so delays grow until the cap, never exceed it, and several clients
    restarting together still spread out.
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        jitter: float = 0.25,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"need 0 < initial ({initial}) <= maximum ({maximum})")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._rand = rand
        self._step = initial

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful login)."""
        self._step = self.initial

    def next_delay(self) -> float:
        """Return the next delay in seconds and advance."""
        step = self._step
        self._step = min(step * 2, self.maximum)
        return step * (1 - self.jitter * self._rand())


def _checked_headers(action: Mapping[str, str]) -> dict[str, str]:
    """Copy an action's headers, refusing what would break or inject AMI framing."""
    headers = dict(action)
    names = {key.lower() for key in headers}
    if "action" not in names:
        raise ValueError("an AMI action needs an 'Action' header")
    if "actionid" in names:
        raise ValueError("ActionID is set by the client (read it back from the response)")
    for key, value in headers.items():
        if not key or ":" in key or any(c in key or c in value for c in "\r\n"):
            raise ValueError(f"AMI header {key!r}: no ':' in names, no CR/LF anywhere")
    return headers


class _Action(actions.Action):  # type: ignore[misc]  # panoramisk is untyped
    """A panoramisk Action (ActionID, wire format, future) that collects its reply as dicts."""

    future: asyncio.Future[list[dict[str, str]]]

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(headers)
        self.name: str = self["Action"]
        self.replies: list[dict[str, str]] = []
        self.is_list = False

    def add_reply(self, fields: dict[str, str]) -> bool:
        """Record one message carrying our ActionID; True when the reply is complete."""
        self.replies.append(fields)
        if len(self.replies) == 1:
            self.is_list = fields.get("EventList", "").lower() == "start"
            return not self.is_list
        if fields.get("EventList", "").lower() in ("complete", "cancelled"):
            return True
        # Fallback for a list end without the EventList header (older modules).
        return "EventList" not in fields and fields.get("Event", "").endswith("Complete")


class _AmiLink(AMIProtocol):  # type: ignore[misc]  # panoramisk is untyped
    """One TCP connection: panoramisk's protocol with our parser, recorder and no re-queue."""

    responses: dict[str, _Action]
    transport: asyncio.Transport | None

    def __init__(self, on_event: EventHandler, record_to: Path | None) -> None:
        super().__init__()
        loop = asyncio.get_running_loop()
        self.transport = None
        self.responses = {}
        self._on_event = on_event
        self._record_to = record_to
        self._record: IO[bytes] | None = None
        self._parser = AmiStreamParser(recording=False)  # one connection: only its first line is the banner
        self._abandoned: OrderedDict[str, None] = OrderedDict()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.booted: asyncio.Future[None] = loop.create_future()
        self.socket_closed: asyncio.Future[None] = loop.create_future()

    @property
    def banner(self) -> str | None:
        """The banner line Asterisk sent (``Asterisk Call Manager/11.0.0``)."""
        return self._parser.banner

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"  # panoramisk writes actions in self.encoding (default ascii)
        if self._record_to is not None:
            # Blocking appends: a diagnostic/test recorder, not for production volumes.
            self._record = self._record_to.open("ab")

    def data_received(self, data: bytes) -> None:
        if self._record is not None:
            self._record.write(data)
            self._record.flush()
        for fields in self._parser.feed(data):
            if self.lost.done():
                return  # dropped by us mid-read (pong timeout, stop): nothing more is delivered
            self._route(fields)

    def _route(self, fields: dict[str, str]) -> None:
        action_id = fields.get("ActionID")
        if action_id is not None:
            action = self.responses.get(action_id)
            if action is not None:
                if action.add_reply(fields):
                    del self.responses[action_id]
                    if not action.future.done():
                        action.future.set_result(action.replies)
                return
            if action_id in self._abandoned:
                log.debug("ami.late_reply_dropped", action_id=action_id)
                return
        if "Event" not in fields:
            log.debug("ami.unmatched_response", action_id=action_id)
            return
        if fields["Event"] == "FullyBooted" and not self.booted.done():
            self.booted.set_result(None)
        self._on_event(fields)
        if fields["Event"] == "Shutdown":
            # Asterisk keeps the socket open a moment and answers every action,
            # Ping included, "Asterisk is shutting down": this link is over.
            self.drop("Asterisk is shutting down")

    def request(self, headers: Mapping[str, str]) -> _Action:
        """Write an action now; its ``future`` gets the reply dicts."""
        if self.lost.done() or self.transport is None:
            raise AmiNotConnected(f"AMI link is down, {headers.get('Action')} not sent")
        action = _Action(headers)
        self.send(action)
        return action

    def abandon(self, action: _Action) -> None:
        """Forget a pending action (timeout, cancel) and drop its late replies."""
        if self.responses.pop(action.action_id, None) is None:
            return
        self._abandoned[action.action_id] = None
        while len(self._abandoned) > _ABANDONED_MEMORY:
            self._abandoned.popitem(last=False)

    def drop(self, reason: str) -> None:
        """Mark the link down now, fail pending actions and abort the socket."""
        if not self.lost.done():
            self.lost.set_result(reason)
        pending, self.responses = self.responses, {}
        for action in pending.values():
            if not action.future.done():
                action.future.set_exception(
                    AmiNotConnected(f"AMI link lost before {action.name} was answered ({reason})")
                )
        if self.transport is not None and not self.transport.is_closing():
            # abort, not close: a half-open peer never drains the write buffer.
            self.transport.abort()

    def close(self) -> None:
        """Replace panoramisk's close, which re-queues unanswered actions."""
        self.drop("closed locally")

    def connection_lost(self, exc: Exception | None) -> None:
        self.drop(f"connection lost: {exc}" if exc else "connection closed by peer")
        if self._record is not None:
            self._record.close()
            self._record = None
        if not self.socket_closed.done():
            self.socket_closed.set_result(None)

    async def wait_closed(self, grace: float) -> None:
        """Wait up to ``grace`` seconds until the transport has really closed (socket released)."""
        if self.transport is not None:
            await asyncio.wait({self.socket_closed}, timeout=grace)


class AmiClient:
    """One resilient AMI session: reconnects forever, never re-sends, emits plain dicts."""

    def __init__(
        self,
        settings: AmiSettings,
        *,
        on_event: EventHandler,
        on_ready: ReadyHandler | None = None,
        on_down: DownHandler | None = None,
        record_to: Path | None = None,
    ) -> None:
        self._settings = settings
        self._on_event = on_event
        self._on_ready = on_ready
        self._on_down = on_down
        self._record_to = record_to
        # Built here so bad settings fail at construction, not in the background task.
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        self._task: asyncio.Task[None] | None = None
        self._link: _AmiLink | None = None  # newest connection, ready or not
        self._ready_link: _AmiLink | None = None  # logged in and booted
        self._ready = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        """True while logged in on a live link."""
        link = self._ready_link
        return link is not None and not link.lost.done()

    async def start(self) -> None:
        """Start connecting in the background and return at once."""
        if self._task is not None:
            raise RuntimeError("AmiClient already started")
        self._task = asyncio.create_task(self._run(), name="ami-link")
        self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        """Log off, cancel the background tasks and close the socket."""
        task = self._task
        if task is None:
            return
        try:
            await self._logoff()
        finally:
            # Even when stop() itself is cancelled: no orphan reconnect loop.
            task.cancel()
            if self._link is not None:
                self._link.drop("client stopped")
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # stop() itself is being cancelled
        self._task = None
        link, self._link = self._link, None
        if link is not None:
            await link.wait_closed(_STOP_GRACE)

    async def _logoff(self) -> None:
        """Say goodbye to Asterisk if logged in (a courtesy: the socket is closed anyway)."""
        link = self._ready_link
        if link is None or link.lost.done():
            return
        loop = asyncio.get_running_loop()
        grace = min(_STOP_GRACE, self._settings.action_timeout)
        try:
            await self._request(link, {"Action": "Logoff"}, loop.time() + grace)
        except AmiError as exc:
            log.debug("ami.logoff_failed", error=str(exc))
        else:
            link.drop("logged off")  # Asterisk closes after Goodbye: not a lost link

    # The timeout parameters below are the API the callers asked for (ASYNC109).
    async def wait_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until logged in and ``on_ready`` has run; ``AmiNotConnected`` after ``timeout`` s."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            raise AmiNotConnected(f"AMI not connected after {timeout} s") from None

    # ------------------------------------------------------------------ actions

    async def send(
        self,
        action: Mapping[str, str],
        *,
        idempotent: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[dict[str, str]]:
        """Send one action; return its response, then its list events for list actions.

        Raises ``AmiNotConnected`` if the link is down or drops before the
        answer, ``AmiActionTimeout`` after ``timeout`` (default
        ``action_timeout``) and ``AmiActionError`` on ``Response: Error``.
        Nothing is ever sent twice unless ``idempotent=True`` (reads such as
        QueueStatus or CoreSettings): then the call waits for the link and
        sends again on the next link, all within the same ``timeout``. Never
        set it for QueueAdd, Originate or any action with an effect.
        """
        headers = _checked_headers(action)
        limit = self._settings.action_timeout if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            link = self._ready_link
            # A lost link may not be cleared yet (_serve runs on the next loop turn).
            if link is None or link.lost.done():
                if not idempotent:
                    raise AmiNotConnected(f"AMI link is down, {headers['Action']} not sent")
                link = await self._wait_link(deadline, headers["Action"])
            try:
                return await self._request(link, headers, deadline)
            except AmiNotConnected:
                if not idempotent:
                    raise
                log.info("ami.resending_idempotent", action=headers["Action"])

    async def _wait_link(self, deadline: float, name: str) -> _AmiLink:
        try:
            async with asyncio.timeout_at(deadline):
                while (link := self._ready_link) is None or link.lost.done():
                    await self._ready.wait()
                    await asyncio.sleep(0)  # let a link that just dropped clear the event
        except TimeoutError:
            raise AmiNotConnected(f"AMI link still down, {name} not sent") from None
        return link

    async def _request(self, link: _AmiLink, headers: Mapping[str, str], deadline: float) -> list[dict[str, str]]:
        action = link.request(headers)
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout_at(deadline):
                replies = await action.future
        except TimeoutError:
            waited = asyncio.get_running_loop().time() - started
            raise AmiActionTimeout(f"{action.name}: no response within {waited:.3g} s") from None
        finally:
            link.abandon(action)  # no-op once answered or failed
        response = replies[0]
        if response.get("Response") in ERROR_RESPONSES:
            raise AmiActionError(response.get("Message", response["Response"]), response)
        return replies

    # ------------------------------------------------------------------ the link

    def _new_link(self) -> _AmiLink:
        link = _AmiLink(self._emit, self._record_to)
        self._link = link
        return link

    async def _run(self) -> None:
        backoff = self._backoff
        backoff.reset()
        attempt = 0
        while True:
            link = await self._open()
            if link is not None:
                backoff.reset()
                attempt = 0
                await self._serve(link)
            attempt += 1
            delay = backoff.next_delay()
            log.info("ami.reconnecting", attempt=attempt, delay=round(delay, 3))
            await asyncio.sleep(delay)

    async def _open(self) -> _AmiLink | None:
        """Connect, log in and wait for FullyBooted; None (logged) on failure."""
        settings = self._settings
        loop = asyncio.get_running_loop()
        where = {"host": settings.host, "port": settings.port}
        try:
            async with asyncio.timeout(settings.action_timeout):
                _, link = await loop.create_connection(self._new_link, settings.host, settings.port)
        except OSError as exc:  # refused, unreachable, TimeoutError
            log.warning("ami.connect_failed", **where, error=str(exc) or type(exc).__name__)
            return None
        login = {
            "Action": "Login",
            "Username": settings.username,
            "Secret": settings.secret.get_secret_value(),
            "Events": "on",
        }
        try:
            await self._request(link, login, loop.time() + settings.action_timeout)
        except AmiActionError as exc:
            log.error("ami.login_failed", **where, username=settings.username, message=str(exc))
            link.drop("login refused")
            return None
        except (AmiNotConnected, AmiActionTimeout) as exc:
            log.warning("ami.login_failed", **where, username=settings.username, message=str(exc))
            link.drop("login not answered")
            return None
        # Logins are accepted while modules still load; FullyBooted comes right
        # after the login response on a booted Asterisk, else when boot ends.
        waiters: set[asyncio.Future[Any]] = {link.booted, link.lost}
        await asyncio.wait(waiters, timeout=settings.action_timeout, return_when=asyncio.FIRST_COMPLETED)
        if link.lost.done():
            log.warning("ami.connect_failed", **where, error=link.lost.result())
            return None
        if not link.booted.done():
            log.warning("ami.not_fully_booted", **where, waited=settings.action_timeout)
        return link

    async def _serve(self, link: _AmiLink) -> None:
        """Run one logged-in link until it is lost: pinger, on_ready, then on_down."""
        settings = self._settings
        self._ready_link = link
        log.info("ami.connected", host=settings.host, port=settings.port, banner=link.banner)
        tasks = [
            asyncio.create_task(self._ping_loop(link), name="ami-pinger"),
            # A task, so a slow or stuck on_ready never stalls pings or loss handling.
            asyncio.create_task(self._become_ready(link), name="ami-on-ready"),
        ]
        try:
            # shield: cancelling _serve (stop) must not cancel the link's own future.
            await asyncio.shield(link.lost)
        finally:
            self._ready_link = None
            self._ready.clear()
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("ami.helper_task_failed", error=repr(result))
            link.drop("client stopped")
            log.info(
                "ami.disconnected",
                host=settings.host,
                port=settings.port,
                reason=link.lost.result(),
            )
            self._call_on_down()

    async def _ping_loop(self, link: _AmiLink) -> None:
        settings = self._settings
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(settings.ping_interval)
            try:
                await self._request(link, {"Action": "Ping"}, loop.time() + settings.pong_timeout)
            except AmiActionTimeout:
                log.warning("ami.pong_timeout", pong_timeout=settings.pong_timeout)
                link.drop(f"no Ping response within {settings.pong_timeout} s")
                return
            except AmiNotConnected:
                return
            except AmiActionError as exc:  # an answer, even an error, proves the link alive
                log.warning("ami.ping_error", message=str(exc))

    # ------------------------------------------------------------------ callbacks

    def _emit(self, fields: dict[str, str]) -> None:
        try:
            self._on_event(fields)
        except Exception:
            log.exception("ami.on_event_failed", ami_event=fields.get("Event"))

    async def _become_ready(self, link: _AmiLink) -> None:
        """Await on_ready (failures logged), then release ``wait_ready``."""
        if self._on_ready is not None:
            try:
                await self._on_ready()
            except Exception:
                log.exception("ami.on_ready_failed")
        if self._ready_link is link and not link.lost.done():
            self._ready.set()

    def _call_on_down(self) -> None:
        if self._on_down is None:
            return
        try:
            self._on_down()
        except Exception:
            log.exception("ami.on_down_failed")


def _log_crash(task: asyncio.Task[None]) -> None:
    """Make a bug in the link task loud: it would otherwise stop reconnecting silently."""
    if not task.cancelled() and task.exception() is not None:
        log.error("ami.link_task_crashed", error=repr(task.exception()))
