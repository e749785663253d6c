"""SIPp callers and advisors for the sandbox Asterisk (loopback only, stdlib only): the processes.

Two roles, each one ``sipp`` child process (never ``-bg``) that only this module stops:
:func:`run_calls` (the callers of a list of :class:`CallScript`) and :class:`AgentsUas` (the
36 advisors' lines). The scenarios they play are rendered by ``sandbox.sipp_scenario`` (their
design is told there); the command line is ``sandbox.sipp_cli``::

    python -m sandbox.sipp call --port P --number N --digits 1 2 2 59 [--dtmf info|rfc2833]
                                [--caller-number ...] [--caller-name ...]
    python -m sandbox.sipp agents --port P [--ring-ms 500] [--talk-ms 4000]
    python -m sandbox.sipp scenarios [--write]
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from sandbox.ports import free_udp_port as free_udp_port  # re-exported: the tests and benches import it from here
from sandbox.sipp_scenario import CallScript as CallScript  # re-exported: run_calls' argument
from sandbox.sipp_scenario import SippError as SippError  # re-exported: what run_calls raises
from sandbox.sipp_scenario import render_agents_scenario, render_caller_scenario

_SIPP_TAIL_LINES = 40  # lines of SIPp's stderr and error log kept in a failed run's description

@dataclass(frozen=True)
class SippCallLog:
    """What SIPp's log actions said of one call (index = position in the scripts)."""

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
    calls: list[SippCallLog]
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


def _parse_caller_log(log: Path, total: int) -> list[SippCallLog]:
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
    return [SippCallLog(i, call_ids[i], answered[i], ended[i]) for i in range(total)]


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


if __name__ == "__main__":
    from sandbox.sipp_cli import main

    sys.exit(main())
