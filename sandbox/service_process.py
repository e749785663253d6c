"""A service instance as a child process of its own: ``aiguilleur serve``, settings from its environment.

Used where a kill -9 must hit a whole process (the cluster's two instances: ``make run-cluster``,
``tests/pbx/test_cluster_service_real.py``). Its structlog JSON lines go to ``log_path``; it is
started, killed and stopped by its pid only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def service_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its own ``AIGUILLEUR_*`` settings (the sandbox cache
    excepted) nor ``DATABASE_URL``, plus ``settings``: a child service reads only what it is given."""
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("AIGUILLEUR_") or k == "AIGUILLEUR_CACHE") and k != "DATABASE_URL"}
    env.update(settings)
    return env


def log_events(path: Path, offset: int, *names: str) -> list[dict[str, object]]:
    """The structlog JSON events named ``names`` (all when none) written to ``path`` after byte ``offset``."""
    found: list[dict[str, object]] = []
    with contextlib.suppress(OSError), path.open("rb") as handle:
        handle.seek(offset)
        for raw in handle:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and (not names or event.get("event") in names):
                found.append(event)
    return found


@dataclass
class ServiceProcess:
    """One ``aiguilleur serve`` child process (see the module docstring)."""

    name: str
    env: dict[str, str]
    log_path: Path
    fastagi_port: int
    nodes: int = 1  # AMI links to wait for at start
    module: str = "aiguilleur.cli"  # run as ``python -m <module> serve``
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 40.0) -> float:
        """Start it; return once every AMI link is up and FastAGI listens (the seconds taken)."""
        started = time.monotonic()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "serve"], cwd=REPO_ROOT, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"service {self.name} exited {self.process.returncode}: see {self.log_path}")
            seen = Counter(str(e.get("event")) for e in self.events(offset, "ami.connected", "service.started"))
            if seen["ami.connected"] >= self.nodes and seen["service.started"] and listening(self.fastagi_port):
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"service {self.name} was not ready within {timeout} s: see {self.log_path}")

    def kill(self) -> float:
        """SIGKILL it (its pid); return when (epoch s)."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"service {self.name} is not running")
        at = time.time()
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        return at

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (it flushes its writer), SIGKILL after ``timeout``; nothing if not running."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def events(self, offset: int = 0, *names: str) -> list[dict[str, object]]:
        """Its log events named ``names`` (all when none) written after byte ``offset``."""
        return log_events(self.log_path, offset, *names)
