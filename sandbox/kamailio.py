"""Run Kamailio (Debian 12's ``kamailio`` 5.6 on the host) as our own child, with our own config.

Never the Debian service: ``sandbox/install-system-deps.sh`` installs the package and
disables its unit; here one ``kamailio -DD -E`` process per instance (``-DD``: the pid we
spawn is Kamailio's main process, its workers are its children and die with it), with the
config of ``kamailio_conf/`` (or one rendered for the test's ports), its own runtime dir,
dispatcher list and control socket under ``work_dir``.  ``stop()`` signals that pid only.

``rpc("dispatcher.list")`` runs ``kamcmd`` on the instance's control socket.
:func:`create_location_db` creates the registrar's PostgreSQL database from the package's
own schema files; :func:`register_lines` registers softphone contacts (plain SIP REGISTERs
over UDP, the way a desk phone does, for the lines one SIPp UAS plays).

Measured here: start to the first answered probe of the nodes ~0.1 s; stop ~0.1 s.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import asyncpg

from sandbox.pbx import pid_alive

KAMAILIO = "/usr/sbin/kamailio"
KAMCMD = "/usr/sbin/kamcmd"
#: The package's PostgreSQL schema (kamailio-postgres-modules): the version table, then usrloc's.
SCHEMA_FILES = (Path("/usr/share/kamailio/postgres/standard-create.sql"),
                Path("/usr/share/kamailio/postgres/usrloc-create.sql"))


class KamailioError(RuntimeError):
    """Kamailio could not be found, started, queried or stopped."""


def find_kamailio() -> str:
    found = shutil.which("kamailio") or (KAMAILIO if os.access(KAMAILIO, os.X_OK) else None)
    if not found:
        raise KamailioError("kamailio not found: bash sandbox/install-system-deps.sh (Debian package kamailio)")
    return found


class SandboxKamailio:
    """One Kamailio process: ``conf_dir`` holds ``kamailio.cfg`` and ``dispatcher.list``."""

    def __init__(
        self, conf_dir: Path, work_dir: Path, *, location_db: str | None = None, shm_mb: int = 32, pkg_mb: int = 8,
    ) -> None:
        self.conf_dir = Path(conf_dir).resolve()
        self.location_db = location_db
        self.work_dir = Path(work_dir).resolve()
        self.shm_mb = shm_mb
        self.pkg_mb = pkg_mb
        self.log_file = self.work_dir / "kamailio.log"
        self.ctl_socket = self.work_dir / "run" / "kamailio_ctl"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    def running(self) -> bool:
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def command(self) -> list[str]:
        return [
            find_kamailio(), "-DD", "-E",
            "-f", str(self.conf_dir / "kamailio.cfg"),
            "-Y", str(self.work_dir / "run"),
            "-m", str(self.shm_mb), "-M", str(self.pkg_mb),
            "-A", f'DISPATCHER_LIST="{self.conf_dir / "dispatcher.list"}"',
            "-A", f'CTL_SOCKET="unix:{self.ctl_socket}"',
            *(["-A", f'LOCATION_DB="{self.location_db}"'] if self.location_db else []),
        ]

    def check(self) -> None:
        """``kamailio -c``: the config parses and every module loads (raises with the output)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "run").mkdir(exist_ok=True)
        res = subprocess.run([*self.command(), "-c"], capture_output=True, text=True, check=False, timeout=30)
        if res.returncode != 0:
            raise KamailioError(f"kamailio -c failed (exit {res.returncode}):\n{res.stderr[-3000:]}")

    def start(self, timeout: float = 10.0) -> None:
        """Start Kamailio and wait until its control socket answers."""
        if self.running():
            raise KamailioError(f"Kamailio already running (pid {self.pid})")
        (self.work_dir / "run").mkdir(parents=True, exist_ok=True)
        self.ctl_socket.unlink(missing_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n--- start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise KamailioError(f"Kamailio exited during startup (exit {self._proc.returncode}):\n{self.tail()}")
            if self.ctl_socket.exists():
                with contextlib.suppress(KamailioError):
                    if "uptime" in self.rpc("core.uptime"):
                        return
            if time.monotonic() > deadline:
                self.stop()
                raise KamailioError(f"Kamailio not ready after {timeout:.1f} s:\n{self.tail()}")
            time.sleep(0.05)

    def rpc(self, *command: str, timeout: float = 5.0) -> str:
        """Run one RPC command (``kamcmd -s unix:SOCKET CMD ARGS``) and return its output."""
        res = subprocess.run(
            [KAMCMD, "-s", f"unix:{self.ctl_socket}", *command],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        if res.returncode != 0:
            raise KamailioError(f"kamcmd {' '.join(command)}: {res.stderr.strip() or res.stdout.strip()}")
        return res.stdout

    def node_flags(self) -> dict[str, str]:
        """Each destination URI of the dispatcher and its flags (``AP`` active, ``IP`` inactive, ...)."""
        flags: dict[str, str] = {}
        uri = ""
        for raw in self.rpc("dispatcher.list").splitlines():
            line = raw.strip()
            if line.startswith("URI:"):
                uri = line.split(":", 1)[1].strip()
            elif line.startswith("FLAGS:") and uri:
                flags[uri] = line.split(":", 1)[1].strip()
        return flags

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM our pid (its workers follow), SIGKILL if it lingers; reap it."""
        proc = self._proc
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        if proc.poll() is None:
            raise KamailioError(f"Kamailio pid {proc.pid} survived SIGKILL")
        self._proc = None

    def __enter__(self) -> SandboxKamailio:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.stop()


async def create_location_db(url: str) -> None:
    """(Re)create the registrar's database at ``url`` (``postgres://.../NAME``) with Kamailio's schema."""
    server, _, name = url.rpartition("/")
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        for path in SCHEMA_FILES:
            if not path.is_file():
                raise KamailioError(f"{path} missing: apt-get install kamailio-postgres-modules")
            await conn.execute(path.read_text())
    finally:
        await conn.close()


async def drop_location_db(url: str) -> None:
    server, _, name = url.rpartition("/")
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def register_lines(
    lines: Iterable[str],
    *,
    registrar: tuple[str, int],
    contact: tuple[str, int],
    expires: int = 300,
    timeout: float = 3.0,
) -> dict[str, int]:
    """REGISTER each line's AOR ``sip:LINE@registrar`` with the contact ``sip:LINE@contact``.

    One UDP socket on 127.0.0.1, one transaction per line (retransmitted once after 0.5 s);
    returns each line's final status code (0 when nothing came back).
    """
    host, port = registrar
    codes: dict[str, int] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local_port = sock.getsockname()[1]
        for line in lines:
            call_id = f"{secrets.token_hex(8)}@aiguilleur"
            branch = f"z9hG4bK{secrets.token_hex(8)}"
            message = (
                f"REGISTER sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch={branch};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{line}@{host}>;tag={secrets.token_hex(4)}\r\n"
                f"To: <sip:{line}@{host}>\r\n"
                f"Call-ID: {call_id}\r\n"
                "CSeq: 1 REGISTER\r\n"
                f"Contact: <sip:{line}@{contact[0]}:{contact[1]}>\r\n"
                f"Expires: {expires}\r\n"
                "User-Agent: aiguilleur-sandbox-softphone\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            codes[line] = 0
            deadline = time.monotonic() + timeout
            resend = time.monotonic()
            while time.monotonic() < deadline and codes[line] < 200:
                if time.monotonic() >= resend:
                    sock.sendto(message, (host, port))
                    resend = time.monotonic() + 0.5
                sock.settimeout(max(0.01, min(resend, deadline) - time.monotonic()))
                try:
                    data = sock.recv(65535).decode(errors="replace")
                except TimeoutError:
                    continue
                if call_id in data and data.startswith("SIP/2.0 "):
                    codes[line] = int(data.split()[1])
    return codes

