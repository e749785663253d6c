"""Start and stop the web application on the service's loop (``settings.http``, loopback by default)."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, replace

import structlog
from aiohttp import web

from config.settings import HttpSettings
from web.app import make_app
from web.deps import WebDeps

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


def tls_context(http: HttpSettings) -> ssl.SSLContext | None:
    """The server's TLS context when ``tls_cert``/``tls_key`` are set; a bad pair names the files."""
    if http.tls_cert is None or http.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(http.tls_cert, http.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"http.tls_cert {http.tls_cert} / http.tls_key {http.tls_key}: {error}") from None
    return context


async def start_web(http: HttpSettings, deps: WebDeps) -> WebServer:
    """Serve the web application on ``http``; a port that cannot be bound raises, nothing left running."""
    context = tls_context(http)
    if context is None and not http.behind_tls_proxy and not _is_loopback(http.host):
        log.warning("web.not_loopback", host=http.host, hint="sessions travel in clear: put TLS in front")
    token = http.metrics_token.get_secret_value() if http.metrics_token is not None else None
    deps = replace(deps, metrics_token=token, secure_cookies=deps.secure_cookies or http.behind_tls_proxy)
    runner = web.AppRunner(make_app(deps), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, http.host, http.port, ssl_context=context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()  # setup() started the app's background tasks (live feed): a busy port ends them
        raise
    url = f"{'https' if context else 'http'}://{http.host}:{http.port}"
    log.info("web.started", url=url)
    return WebServer(runner, url)
