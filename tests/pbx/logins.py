"""Lines are dynamic queue members: a test PBX needs its advisors logged in, as `make run` does."""

from __future__ import annotations

import asyncio

from aiguilleur.cluster import log_every_line_in as log_every_line_in_async
from config.models import Hotline
from config.settings import AmiSettings


def log_every_line_in(ami: AmiSettings, hotline: Hotline) -> None:
    """The same as ``aiguilleur.cluster.log_every_line_in``, from synchronous code (fixtures, threads)."""
    asyncio.run(log_every_line_in_async(ami, hotline))
