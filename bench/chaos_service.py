"""The service as a child process of the chaos suite (a kill -9 must hit a process of its own).

    python -m bench.chaos_service

What ``aiguilleur serve`` runs (settings from the environment, stopped by SIGTERM/SIGINT), without
importing the rest of the CLI: the suite measures the service, not the sub-commands.
"""

from __future__ import annotations

import asyncio
import signal

from aiguilleur.logs import configure
from aiguilleur.service import serve_until_stopped
from config.loader import load_hotline
from config.settings import Settings


async def main() -> None:
    settings = Settings()
    configure(settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_until_stopped(settings, load_hotline(settings.hotline_file), stop)


if __name__ == "__main__":
    asyncio.run(main())
