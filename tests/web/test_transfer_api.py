"""The advisor's "transférer vers <partenaire>" action: roles, CSRF, errors and the page, on the real PostgreSQL.

The desk here stands in for ``queues.advisors.AdvisorDesk`` (no Asterisk in this tier);
the real one, over AMI on the sandbox Asterisk, is driven by
``tests/pbx/test_partner_transfer_real.py`` through this same route.
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest

from config.models import Hotline
from queues.advisors import UnknownLine
from queues.transfers import NoCallToTransfer, transfer_extension
from tests.web.conftest import PASSWORD, WebStack

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]


class TransferDesk:
    """Transfers the call of the lines in ``talking``; raises as the real desk does otherwise."""

    def __init__(self, hotline: Hotline, talking: set[str]) -> None:
        self.hotline = hotline
        self.talking = talking
        self.transfers: list[tuple[str, str]] = []

    async def transfer(self, line: str, partner: str) -> str:
        if self.hotline.partner_of(line) is None:
            raise UnknownLine(f"unknown line {line!r}")
        exten = transfer_extension(self.hotline, partner)  # UnknownPartner
        if line not in self.talking:
            raise NoCallToTransfer(f"{line} n'a pas d'appel en cours à transférer")
        self.transfers.append((line, partner))
        return exten


@pytest.fixture
def desk(web_stack: WebStack, hotline: Hotline) -> Iterator[TransferDesk]:
    desk = TransferDesk(hotline, {"cma-01", "cci-02"})
    before = web_stack.deps.desk
    web_stack.deps.desk = desk  # type: ignore[assignment]  # transfer only: the one action these tests send
    try:
        yield desk
    finally:
        web_stack.deps.desk = before


async def post(web_stack: WebStack, user: str, line: str, body: object) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{web_stack.url}/api/agents/{line}/transfer", json=body, headers=web_stack.bearer(user)) as r:
        return r.status, await r.json()


async def test_an_advisor_transfers_their_own_call_to_another_partners_queue(
        web_stack: WebStack, desk: TransferDesk) -> None:
    status, body = await post(web_stack, "alice", "cma-01", {"partner": "cci"})
    assert status == 200
    assert body == {"line": "cma-01", "action": "transfer", "partner": "cci", "queue": "partner-cci", "exten": "*54"}
    assert desk.transfers == [("cma-01", "cci")]


async def test_an_advisor_cannot_transfer_another_lines_call_but_a_supervisor_can(
        web_stack: WebStack, desk: TransferDesk) -> None:
    status, body = await post(web_stack, "alice", "cci-02", {"partner": "cma"})
    assert (status, body["error"]) == (403, "not_your_line")
    assert desk.transfers == []
    status, _ = await post(web_stack, "sam", "cci-02", {"partner": "cma"})
    assert status == 200 and desk.transfers == [("cci-02", "cma")]


@pytest.mark.parametrize(("line", "body", "status", "error"), [
    ("cma-01", {"partner": "nope"}, 404, "unknown_partner"),
    ("cma-01", {}, 400, "bad_partner"),
    ("cma-01", {"partner": "cci", "extra": 1}, 400, "bad_partner"),
    ("cma-01", {"partner": "../cci"}, 400, "bad_partner"),
    ("cma-02", {"partner": "cci"}, 409, "no_call"),
    ("zz-99", {"partner": "cci"}, 404, "unknown_line"),
])
async def test_transfer_errors_say_what_is_wrong_and_transfer_nothing(
        web_stack: WebStack, desk: TransferDesk, line: str, body: dict[str, object], status: int, error: str) -> None:
    got_status, got = await post(web_stack, "sam", line, body)
    assert (got_status, got["error"]) == (status, error)
    assert desk.transfers == []


async def test_a_cookie_session_must_send_its_csrf_token_to_transfer(web_stack: WebStack, desk: TransferDesk) -> None:
    # unsafe=True: keep the cookie an IP address host (127.0.0.1) sets
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{web_stack.url}/api/login", json={"name": "alice", "password": PASSWORD}) as r:
            csrf = (await r.json())["csrf"]
        url = f"{web_stack.url}/api/agents/cma-01/transfer"
        async with http.post(url, json={"partner": "cci"}) as r:
            assert r.status == 403 and (await r.json())["error"] == "csrf_token"
        async with http.post(url, json={"partner": "cci"},
                             headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}) as r:
            assert r.status == 403
        assert desk.transfers == []
        async with http.post(url, json={"partner": "cci"}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
    assert desk.transfers == [("cma-01", "cci")]


async def test_the_advisor_page_offers_a_french_transfer_button_per_other_partner(
        web_stack: WebStack, hotline: Hotline) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            f"{web_stack.url}/advisor", headers=web_stack.bearer("alice")) as r:
        assert r.status == 200
        page = await r.text()
    assert "Transférer l&#x27;appel en cours" in page or "Transférer l'appel en cours" in page
    for partner in hotline.partners:
        shown = f'data-transfer="{partner.id}"' in page
        assert shown == (partner.id != "cma"), partner.id  # alice is a CMA advisor
    assert "Transférer vers CCI" in page
    assert 'data-transfer="cci" disabled' in page  # no call on her line now: nothing to transfer


async def test_the_transfer_route_is_in_the_openapi_document(web_stack: WebStack) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{web_stack.url}/api/openapi.json") as r:
        doc = await r.json()
    op = doc["paths"]["/api/agents/{line}/transfer"]["post"]
    assert {"200", "403", "404", "409"} <= set(op["responses"])
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TransferBody"}
