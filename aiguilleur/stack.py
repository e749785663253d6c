"""``make run``: the whole hotline on this machine, stopped by Ctrl-C.

Starts (and stops, in reverse, only what it started): the prompts, the
sandbox Asterisk 22, a SIPp UAS playing the 36 advisors' softphones, a SIPp UAS
playing the callers called back (on the trunk side), and the
service (FastAGI IVR + AMI follower + CDR writer on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from aiguilleur.confgen import render
from aiguilleur.service import Service, start_service
from config.models import Hotline
from config.settings import Settings
from ivr.prompt_audio import generate as generate_prompts
from ivr.prompts import SOUNDS_SUBDIR, catalogue

if TYPE_CHECKING:
    from sandbox.pbx import SandboxPbx

log = structlog.get_logger(__name__)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def run_stack(settings: Settings, hotline: Hotline, stop: asyncio.Event) -> None:
    async with stack_up(settings, hotline):
        _say("  place a call:      make call        (or: .venv/bin/aiguilleur call --digits 1 2 2 59)")
        _say("  see call records:  make cdr         (or: .venv/bin/aiguilleur cdr)")
        _say("  stop everything:   Ctrl-C")
        await stop.wait()
        _say("stopping...")


def hotline_prompts(settings: Settings, hotline: Hotline) -> list[str]:
    """The hotline's prompts as sound files in ``<state_dir>/prompts`` (recordings win); return the ids (re)made."""
    return generate_prompts(catalogue(hotline), settings.state_dir / "prompts", settings.state_dir / "recordings")


def sandbox_pbx(settings: Settings, hotline: Hotline, root: Path, instance: str) -> SandboxPbx:
    """The hotline's sandbox Asterisk, not started: conf rendered into ``<state_dir>/asterisk_conf``, prompts installed.

    The prompts must be made first (``hotline_prompts``).
    """
    from sandbox.pbx import SandboxPbx

    conf_dir = settings.state_dir / "asterisk_conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render(hotline, settings.pbx, settings.ami, settings.fastagi).items():
        (conf_dir / name).write_text(text, encoding="utf-8")
    pbx = SandboxPbx(root, instance, conf_dir)
    pbx.install_sounds(settings.state_dir / "prompts", SOUNDS_SUBDIR)
    return pbx


@asynccontextmanager
async def stack_up(settings: Settings, hotline: Hotline, *, instance: str = "run") -> AsyncIterator[Service]:
    """Everything up (prompts, PBX, lines, service); stopped in reverse on exit.

    ``instance``: the sandbox Asterisk's instance name (``make run``: "run"; a benchmark its own).
    """
    from sandbox.pbx import default_cache_dir, ensure_root
    from sandbox.sipp import AgentsUas

    async with AsyncExitStack() as stack:
        changed = await asyncio.to_thread(hotline_prompts, settings, hotline)
        log.info("prompts.ready", regenerated=len(changed))

        _say("Preparing the sandbox Asterisk 22 (first time: about a minute)...")
        root = await asyncio.to_thread(ensure_root, default_cache_dir(), _say)
        pbx = sandbox_pbx(settings, hotline, root, instance)
        conf_dir = pbx.conf_dir

        # The service first, so the first call already finds the IVR.
        # Rules applied live are written where this Asterisk reads and where a restart copies from.
        settings = settings.model_copy(update={"asterisk_etc_dirs": [pbx.instance_dir / "etc", conf_dir]})
        service = await start_service(settings, hotline, asterisk_log_dir=pbx.instance_dir / "log")
        stack.push_async_callback(service.stop)

        await asyncio.to_thread(pbx.start)
        stack.callback(pbx.stop)
        log.info("pbx.started", pid=pbx.pid, sip=f"{settings.pbx.sip_host}:{settings.pbx.sip_port}")

        if settings.pbx.line_contact_port is not None:
            agents = AgentsUas(settings.pbx.line_contact_port, local_ip=settings.pbx.line_contact_host)
            agents.start()
            stack.callback(agents.stop)

        if settings.pbx.trunk_contact_port is not None:
            # The callers called back (callbacks, J+8 follow-ups) answer on the trunk side.
            callers = AgentsUas(settings.pbx.trunk_contact_port, local_ip=settings.pbx.trunk_contact_host)
            callers.start()
            stack.callback(callers.stop)
            log.info("trunk_callers.started", pid=callers.pid,
                     sip=f"{settings.pbx.trunk_contact_host}:{settings.pbx.trunk_contact_port}")

        await service.ami.wait_ready(timeout=15)
        # SIPp plays the 36 advisors, all at their desks: each line logs in as with *45.
        await service.desk.login_all()
        _say("")
        _say(f"aiguilleur is up: {hotline.name}")
        _say(f"  regional number {hotline.number} on sip:{settings.pbx.sip_host}:{settings.pbx.sip_port}")
        _say(f"  {len(hotline.lines())} partner lines answered by a SIPp softphone on port "
             f"{settings.pbx.line_contact_port}, all logged in")
        if settings.pbx.trunk_contact_port is not None:
            _say(f"  callers called back answered by a SIPp UAS on "
                 f"{settings.pbx.trunk_contact_host}:{settings.pbx.trunk_contact_port} (the trunk side)")
        _say("  advisors' feature codes: *45 log in, *46 log out, *47<digit> pause, *48 unpause")
        if service.web is not None:
            _say(f"  web (wallboard, advisor page, rules, reports): {service.web.url}/")
            _say("  first web admin:   .venv/bin/aiguilleur users add --role admin NAME")
        yield service
