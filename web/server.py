"""Start and stop the web application on the service's loop (``settings.http``, loopback by default)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import structlog
from aiohttp import web

from config.settings import HttpSettings
from web.app import WebDeps, make_app

log = structlog.get_logger(__name__)


@dataclass
class WebServer:
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()
        log.info("web.stopped")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def start_web(http: HttpSettings, deps: WebDeps) -> WebServer:
    if not _is_loopback(http.host):
        log.warning("web.not_loopback", host=http.host, hint="sessions travel in clear: put TLS in front")
    runner = web.AppRunner(make_app(deps), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, http.host, http.port)
    await site.start()
    url = f"http://{http.host}:{http.port}"
    log.info("web.started", url=url)
    return WebServer(runner, url)
