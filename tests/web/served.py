"""The web app served from a background thread (its own event loop), for synchronous clients."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from cdr.migrate import migrate
from config.models import Hotline
from config.settings import SmtpSettings
from tests.conftest import drop_database, recreate_database
from tests.web.conftest import USERS, RecordingDesk, api_token, booted_live, create_users, free_tcp_port
from web.app import make_app
from web.deps import WebDeps
from web.ports import FixedHotline
from web.wiring import LazyCommunes, load_rules_gateway


@dataclass
class Served:
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@contextmanager
def served_app(hotline: Hotline, tag: str) -> Iterator[Served]:
    db_url = f"postgresql://postgres@127.0.0.1:5432/aiguilleur_{tag}_{os.getpid()}"
    port = free_tcp_port()
    served = Served(f"http://127.0.0.1:{port}")
    ready, failed = threading.Event(), []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        await recreate_database(db_url)
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=8)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            await create_users(pool)
            desk = RecordingDesk({line for line, _ in hotline.lines()})
            rules = load_rules_gateway(pool)  # the real aiguilleur.rules; no engine runs, so requests stay pending
            deps = WebDeps(pool=pool, live=booted_live(hotline), hotline=FixedHotline(hotline), desk=desk,
                           rules=rules, rules_timeout=0.2, communes=LazyCommunes(),
                           smtp=SmtpSettings(port=free_tcp_port(), timeout=2))  # no SMTP server: mail fails
            runner = web.AppRunner(make_app(deps), access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                for name in USERS:
                    served.tokens[name] = await api_token(served.url, name)
                ready.set()
                await stop.wait()
            finally:
                await runner.cleanup()
        finally:
            await pool.close()
            await drop_database(db_url)

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except Exception as exc:  # reported to the test thread
            failed.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"web-{tag}", daemon=True)
    thread.start()
    ready.wait(60)
    if failed:
        raise failed[0]
    try:
        yield served
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
