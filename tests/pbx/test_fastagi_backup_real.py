"""The dialplan tries a second service instance before the degraded path, for real.

The sandbox Asterisk 22 is generated with its first FastAGI address on a port where nothing
listens (that instance is down) and a backup address where a real service instance runs (IVR,
AMI follower, CDR writer on PostgreSQL). A SIPp caller answers the whole menu: the record says
the IVR completed it (not ``degraded``) and the caller was routed by skill.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from aiguilleur.confgen import render
from aiguilleur.service import Service, start_service
from config.models import Hotline
from config.settings import AmiSettings, FastAgiSettings, PbxSettings, Settings
from ivr.prompt_audio import generate as generate_prompts
from ivr.prompts import SOUNDS_SUBDIR, catalogue
from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root
from sandbox.ports import free_tcp_port
from sandbox.sipp import AgentsUas, CallScript, free_udp_port, run_calls
from tests.conftest import drop_database, recreate_database

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]



@pytest.fixture(scope="module")
def pbx(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, SandboxPbx, int]]:
    work = tmp_path_factory.mktemp("backup")
    dead_port = free_tcp_port()  # the first instance: down, nothing listens
    settings = Settings(
        database_url=f"postgresql://postgres@127.0.0.1:5432/aiguilleur_backup_{os.getpid()}",
        state_dir=work,
        now="2026-11-23T10:00:00+01:00",  # a fixed open instant (Monday 10:00 in Paris)
        pbx=PbxSettings(sip_port=free_udp_port(), line_contact_port=free_udp_port(), rtp_start=33000,
                        rtp_end=33999, trunk_contact_port=None),
        ami=AmiSettings(port=free_tcp_port(), ping_interval=1, pong_timeout=10),
        fastagi=FastAgiSettings(port=free_tcp_port()),  # the second instance: the service of this test
    )
    dialplan_fastagi = FastAgiSettings(port=dead_port, backup_host=settings.fastagi.host,
                                       backup_port=settings.fastagi.port)
    conf_dir = work / "asterisk_conf"
    conf_dir.mkdir()
    for name, text in render(hotline, settings.pbx, settings.ami, dialplan_fastagi).items():
        (conf_dir / name).write_text(text, encoding="utf-8")
    generate_prompts(catalogue(hotline), work / "prompts")
    node = SandboxPbx(ensure_root(default_cache_dir()), f"backup-{os.getpid()}", conf_dir)
    node.install_sounds(work / "prompts", SOUNDS_SUBDIR)
    assert settings.pbx.line_contact_port is not None
    try:
        with node, AgentsUas(settings.pbx.line_contact_port, ring_ms=300, talk_ms=3000):
            yield settings, node, dead_port
    finally:
        shutil.rmtree(node.instance_dir, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(pbx: tuple[Settings, SandboxPbx, int], hotline: Hotline) -> AsyncIterator[Service]:
    settings, node, _dead = pbx
    assert settings.database_url is not None
    await recreate_database(settings.database_url)
    svc = await start_service(settings, hotline, asterisk_log_dir=Path(node.instance_dir / "log"))
    try:
        await svc.ami.wait_ready(timeout=15)
        await svc.desk.login_all()
        yield svc
    finally:
        await svc.stop()
        await drop_database(settings.database_url)


async def test_the_second_instance_runs_the_ivr_when_the_first_is_down(
    pbx: tuple[Settings, SandboxPbx, int], service: Service, hotline: Hotline
) -> None:
    settings, node, dead_port = pbx
    assert f"agi://127.0.0.1:{dead_port}/ivr" in (node.instance_dir / "etc" / "extensions.conf").read_text()
    number = "0320000091"
    script = CallScript(digits=["1", "2", "2", "59"], caller_number=number, hold_after_ms=5000)
    result = await asyncio.to_thread(run_calls, [script], port=settings.pbx.sip_port, number=hotline.number,
                                     timeout_s=90)
    assert result.ok, result.describe()
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        row = None
        for _ in range(100):
            row = await conn.fetchrow("SELECT * FROM cdr WHERE src = $1", number)
            if row is not None and row["outcome"] is not None:
                break
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    assert row is not None
    assert not row["degraded"], dict(row)
    assert row["ivr_exit"] == "completed" and row["queue"] == "rank-cma-mel"
    assert row["outcome"] == "answered" and row["partner"] == "cma"
