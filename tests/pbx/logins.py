"""Lines are dynamic queue members: a test PBX needs its advisors logged in, as `make run` does."""

from __future__ import annotations

import asyncio

from config.models import Hotline
from config.settings import AmiSettings
from queues.advisors import AdvisorDesk
from queues.ami import AmiClient


async def log_every_line_in_async(ami: AmiSettings, hotline: Hotline) -> None:
    """Every line logs in (the login path of ``*45``), over a short-lived AMI session."""
    client = AmiClient(ami, on_event=lambda _event: None)
    await client.start()
    try:
        await client.wait_ready(15)
        await AdvisorDesk(client, lambda: hotline).login_all()
    finally:
        await client.stop()


def log_every_line_in(ami: AmiSettings, hotline: Hotline) -> None:
    """The same, from synchronous code (fixtures, threads) with no running event loop."""
    asyncio.run(log_every_line_in_async(ami, hotline))
