"""``make demo``: a compressed "tsunami morning" of the 2020 cell through the real sandbox PBX.

The traffic model (config/traffic.yaml) draws the calls of 26 March 2020 from 08:00;
each becomes a SIPp caller typing its answers, started at its compressed arrival
time; the whole stack (IVR, queues, 36 lines, records) handles them for real.
Run ``aiguilleur report`` afterwards for the day's figures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sys

import structlog

from aiguilleur.load_driver import Batch, schedule
from aiguilleur.stack import stack_up
from config.models import Hotline
from config.settings import REPO_ROOT, Settings
from sandbox.sipp import SippResult, run_calls
from sim.caller import generate_calls
from sim.traffic import load_traffic

log = structlog.get_logger(__name__)

SURGE_DAY = dt.date(2020, 3, 26)  # the cell's first day: 800 calls a day
MORNING_S = 8 * 3600.0
# The IVR sees an open Thursday morning whatever the real clock says.
DEMO_NOW = "2026-03-26T09:00:00+01:00"


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _run_batch(settings: Settings, hotline: Hotline, batch: Batch, started: float) -> SippResult:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, started + batch.at - loop.time()))
    return await asyncio.to_thread(
        run_calls, batch.scripts, port=settings.pbx.sip_port, number=hotline.number,
        concurrent=len(batch.scripts), rate_cps=max(1.0, len(batch.scripts) / batch.span), timeout_s=240,
    )


async def run_demo(settings: Settings, hotline: Hotline, *, minutes: int, speedup: float, seed: int) -> int:
    traffic = load_traffic(REPO_ROOT / "config" / "traffic.yaml")
    calls = [c for c in generate_calls(traffic, SURGE_DAY, 1, random.Random(seed))
             if MORNING_S <= c.arrival < MORNING_S + minutes * 60]
    batches = schedule(hotline.menu, calls, start_s=MORNING_S, speedup=speedup)
    wall = minutes * 60 / speedup
    _say(f"demo: {len(calls)} calls of {SURGE_DAY} 08:00-{8 + minutes // 60:02d}:{minutes % 60:02d} "
         f"compressed {speedup:g}x into {wall:.0f} s (seed {seed})")
    async with stack_up(settings.model_copy(update={"now": DEMO_NOW}), hotline) as service:
        started = asyncio.get_running_loop().time()
        results = await asyncio.gather(*(_run_batch(settings, hotline, b, started) for b in batches))
        await asyncio.sleep(2.0)  # last hang-ups reach the correlator
        await service.writer.drain()
        ok = sum(r.successful for r in results)
        failed = sum(r.failed for r in results)
        _say(f"demo: {ok} calls completed, {failed} failed (SIPp), "
             f"{service.writer.written} records written")
        for result in results:
            if not result.ok:
                log.warning("demo.batch_failed", detail=result.describe()[:2000])
    return 0 if failed == 0 else 1
