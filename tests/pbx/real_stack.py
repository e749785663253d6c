"""The sandbox stack the real-PBX tests share: settings on free loopback ports, the PBX and its peers, the service.

Each test module keeps its own hotline, SIPp timings, AMI timings, clock and database name;
the pieces come from ``aiguilleur.stack`` (the ``make run`` stack) where they fit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiguilleur.service import Service, start_service
from aiguilleur.stack import hotline_prompts, sandbox_pbx
from config.models import Hotline
from config.settings import AmiSettings, FastAgiSettings, HttpSettings, PbxSettings, Settings
from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root
from sandbox.ports import free_tcp_port
from sandbox.sipp import AgentsUas, free_udp_port
from tests.conftest import drop_database, recreate_database

TRUNK_HOST = "127.0.0.2"  # the callers called back answer there, apart from the lines
RTP_PORTS = 1000  # each module its own RTP range: two stacks never share a port


@dataclass
class RunningStack:
    """What a test sees of a running stack; each module adds its peers and recorders."""

    settings: Settings
    service: Service
    hotline: Hotline

    @property
    def lines(self) -> list[str]:
        return [line for line, _ in self.hotline.lines()]

    def partner_lines(self, partner: str) -> list[str]:
        return [line for line, p in self.hotline.lines() if p.id == partner]


def sandbox_settings(
    work: Path,
    database: str,
    *,
    now: str,
    rtp_start: int,
    ami: Mapping[str, float],
    web: bool = False,
    trunk: bool = False,
    **more: Any,
) -> Settings:
    """Settings for one stack: SIP, lines, AMI, FastAGI (and web, trunk callers) on free loopback ports.

    ``database``: the database's name on the local PostgreSQL; ``ami``: AmiSettings besides the
    port; ``more``: other Settings fields as they are (``smtp=...``).
    """
    pbx = PbxSettings(sip_port=free_udp_port(), line_contact_port=free_udp_port(),
                      trunk_contact_port=free_udp_port(TRUNK_HOST) if trunk else None,
                      rtp_start=rtp_start, rtp_end=rtp_start + RTP_PORTS - 1)
    if web:
        more["http"] = HttpSettings(port=free_tcp_port())
    return Settings(
        database_url=f"postgresql://postgres@127.0.0.1:5432/{database}",
        state_dir=work,
        now=now,
        pbx=pbx,
        ami=AmiSettings(port=free_tcp_port(), **ami),
        fastagi=FastAgiSettings(port=free_tcp_port()),
        **more,
    )


@contextmanager
def running_pbx(settings: Settings, hotline: Hotline, instance: str, *peers: AgentsUas) -> Iterator[SandboxPbx]:
    """The hotline's sandbox Asterisk started (conf rendered, prompts in), then the SIPp peers; stopped in reverse."""
    hotline_prompts(settings, hotline)
    pbx = sandbox_pbx(settings, hotline, ensure_root(default_cache_dir()), instance)
    with pbx, ExitStack() as started:
        for peer in peers:
            started.enter_context(peer)
        yield pbx


@asynccontextmanager
async def running_service(
    settings: Settings, hotline: Hotline, *, asterisk_log_dir: Path | None = None
) -> AsyncIterator[Service]:
    """The service on a fresh private database, its AMI link up; on exit stopped and the database dropped."""
    database_url = settings.database_url
    assert database_url is not None
    await recreate_database(database_url)
    service = await start_service(settings, hotline, asterisk_log_dir=asterisk_log_dir)
    try:
        await service.ami.wait_ready(timeout=15)
        yield service
    finally:
        await service.stop()
        await drop_database(database_url)
