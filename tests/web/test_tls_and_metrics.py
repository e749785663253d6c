"""Hardened access (issue 14, "finish"): HTTPS served by the web itself with Secure session cookies,
no server version disclosed, /metrics behind a token or for loopback clients only. Real aiohttp
servers, a certificate made by openssl for the test, the real PostgreSQL."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from config.settings import HttpSettings
from sandbox.ports import free_tcp_port
from tests.web.conftest import PASSWORD, WebStack
from web.server import start_web

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

TOKEN = "scraper-token-0123456789"


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


async def log_in_by_form(http: aiohttp.ClientSession, url: str) -> str:
    """The login form's answer: its Set-Cookie header."""
    async with http.post(f"{url}/login", data={"name": "sam", "password": PASSWORD, "next": "/"},
                         allow_redirects=False) as r:
        assert r.status == 303
        return r.headers["Set-Cookie"]


async def test_https_sets_secure_cookies_hides_the_version_and_guards_metrics(
    web_stack: WebStack, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    server = await start_web(HttpSettings(port=free_tcp_port(), tls_cert=cert, tls_key=key,
                                          metrics_token=TOKEN), web_stack.deps)
    trust = ssl.create_default_context(cafile=str(cert))
    trust.check_hostname = False  # the certificate names 127.0.0.1 as its CN only
    try:
        assert server.url.startswith("https://")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
            cookie = await log_in_by_form(http, server.url)
            assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
            async with http.get(f"{server.url}/api/openapi.json") as r:
                assert r.status == 200 and r.headers["Server"] == "aiguilleur"
            async with http.get(f"{server.url}/metrics") as r:
                assert r.status == 401 and (await r.json())["error"] == "metrics_refused"
            async with http.get(f"{server.url}/metrics", headers={"Authorization": "Bearer wrong-token-000000"}) as r:
                assert r.status == 401
            async with http.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200 and "aiguilleur_" in await r.text()
    finally:
        await server.stop()


async def test_plain_http_cookies_are_not_secure_and_loopback_reads_metrics(web_stack: WebStack) -> None:
    async with aiohttp.ClientSession() as http:
        cookie = await log_in_by_form(http, web_stack.url)
        assert "Secure" not in cookie
        async with http.get(f"{web_stack.url}/metrics") as r:
            assert r.status == 200 and r.headers["Server"] == "aiguilleur"
            assert "aiohttp" not in r.headers["Server"]


async def test_behind_a_tls_proxy_cookies_are_secure_on_plain_http(web_stack: WebStack) -> None:
    server = await start_web(HttpSettings(port=free_tcp_port(), behind_tls_proxy=True), web_stack.deps)
    try:
        async with aiohttp.ClientSession() as http:
            assert "; Secure" in await log_in_by_form(http, server.url)
    finally:
        await server.stop()
