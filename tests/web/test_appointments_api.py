"""Rendez-vous et documentation over HTTP: real PostgreSQL, Etalab's communes, a real SMTP server (aiosmtpd).

The service clock is fixed on Monday 23 November 2026, 08:00 in Lille, so the first free slot of
an office is its Monday 09:00.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio

from appointments.communes import load_communes
from config.settings import SmtpSettings
from sandbox.ports import free_tcp_port
from tests.unit.test_appointment_mail import Inbox, parse, smtp_inbox_on
from tests.web.conftest import WebStack
from tests.web.test_api import agent_called, join, leave, ring_over

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=PARIS)
ARRAS, DAINVILLE = "62041", "62263"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    port = free_tcp_port()
    with smtp_inbox_on(port) as inbox:
        yield inbox, port


@pytest_asyncio.fixture(loop_scope="module")
async def stack(web_stack: WebStack, smtp_server: tuple[Inbox, int]) -> AsyncIterator[WebStack]:
    """The module's web stack with the communes, the SMTP server and the fixed clock; no booking left over."""
    index = load_communes()
    web_stack.deps.communes = lambda: index
    web_stack.deps.smtp = SmtpSettings(port=smtp_server[1], sender="numero-unique@example.org", timeout=5)
    web_stack.deps.clock = NOW.timestamp
    smtp_server[0].received.clear()
    await web_stack.pool.execute("TRUNCATE appointments")
    yield web_stack


async def _get(stack: WebStack, path: str, who: str | None = "alice", **query: str) -> tuple[int, Any]:
    headers = stack.bearer(who) if who else {}
    async with aiohttp.ClientSession() as http, http.get(stack.url + path, params=query, headers=headers) as r:
        return r.status, await r.json()


async def _post(stack: WebStack, path: str, body: object, who: str | None = "alice") -> tuple[int, Any]:
    headers = stack.bearer(who) if who else {}
    async with aiohttp.ClientSession() as http, http.post(stack.url + path, json=body, headers=headers) as r:
        return r.status, await r.json()


def _booking(start: str, email: str = "porteur@example.org", office: str = "cma_arras") -> dict[str, object]:
    return {"office": office, "start": start, "email": email, "linkedid": "1795420800.42", "postcode": "62000",
            "commune": ARRAS}


async def test_a_postcode_gives_its_communes_then_the_nearest_offices_with_free_slots(stack: WebStack) -> None:
    status, found = await _get(stack, "/api/agents/cma-01/appointments/offices", postcode="62000")
    assert status == 200, found
    assert found["partner"]["id"] == "cma"
    assert [c["name"] for c in found["communes"]] == ["Arras", "Dainville"]
    assert found["commune"] is None and found["offices"] == []  # two communes: the advisor picks one

    status, found = await _get(stack, "/api/agents/cma-01/appointments/offices", postcode="62000", commune=ARRAS)
    assert status == 200, found
    first = found["offices"][0]
    assert (first["id"], first["tier"], first["tier_label"], first["distance_km"]) == (
        "cma_arras", "commune", "dans la commune", 0.0)
    assert first["label"] == "CMA Hauts-de-France, Pas-de-Calais — Arras (dans la commune, à 0,0 km)"
    assert first["slots"][0] == {"start": "2026-11-23T09:00:00+01:00", "label": "lundi 23 novembre 2026 à 09h00"}
    assert found["offices"][1]["tier"] == "region" and "km" in found["offices"][1]["label"]

    # Dainville: no office of its own, same intercommunalité as Arras, no coordinates to measure from
    status, found = await _get(stack, "/api/agents/cma-01/appointments/offices", postcode="62000", commune=DAINVILLE)
    assert found["offices"][0]["id"] == "cma_arras" and found["offices"][0]["tier_label"] == "même intercommunalité"
    assert found["offices"][0]["distance_km"] is None

    # another partner on request; a supervisor for any line
    status, found = await _get(stack, "/api/agents/cci-02/appointments/offices", "sam", postcode="59000",
                               partner="cci")
    assert status == 200 and found["offices"][0]["id"] == "cci_lille"


async def test_booking_sends_the_confirmation_with_brochure_and_ics_and_takes_the_slot(
        stack: WebStack, smtp_server: tuple[Inbox, int]) -> None:
    inbox, _port = smtp_server
    status, booked = await _post(stack, "/api/agents/cma-01/appointments", _booking("2026-11-23T09:45:00+01:00"))
    assert status == 201, booked
    assert booked["email_sent"] is True
    assert booked["message"] == ("Rendez-vous réservé : CMA Hauts-de-France, Pas-de-Calais, lundi 23 novembre 2026 "
                                 "à 09h45. Confirmation envoyée à porteur@example.org.")
    row = await stack.pool.fetchrow("SELECT * FROM appointments WHERE id = $1", booked["booking"]["id"])
    assert row is not None
    assert (row["office_id"], row["linkedid"], row["booked_by"], row["commune_code"]) == (
        "cma_arras", "1795420800.42", "alice", ARRAS)
    assert row["ends_at"] - row["starts_at"] == dt.timedelta(minutes=45)
    assert row["email_sent_at"] is not None and row["email_error"] is None

    (mail_from, rcpt, raw) = inbox.received[-1]
    assert (mail_from, rcpt) == ("numero-unique@example.org", ["porteur@example.org"])
    got = parse(raw)
    parts = {p.get_filename(): p for p in got.iter_attachments()}
    assert set(parts) == {"brochure-cma.pdf", "rendez-vous.ics"}
    assert parts["brochure-cma.pdf"].get_content().startswith(b"%PDF")
    invitation = parts["rendez-vous.ics"].get_content()
    invitation = invitation.decode() if isinstance(invitation, bytes) else invitation
    fields = dict(line.split(":", 1) for line in invitation.replace("\r\n ", "").split("\r\n") if ":" in line)
    assert fields["DTSTART"] == "20261123T084500Z" and fields["UID"] == f"rdv-{booked['booking']['id']}@aiguilleur"

    _status, found = await _get(stack, "/api/agents/cma-01/appointments/offices", postcode="62000", commune=ARRAS)
    starts = [s["start"] for s in found["offices"][0]["slots"]]
    assert "2026-11-23T09:00:00+01:00" in starts and "2026-11-23T09:45:00+01:00" not in starts


async def test_two_advisors_booking_one_slot_one_gets_409_slot_taken(stack: WebStack) -> None:
    body = _booking("2026-11-23T10:30:00+01:00")
    results = await asyncio.gather(
        _post(stack, "/api/agents/cma-01/appointments", body),
        _post(stack, "/api/agents/cma-02/appointments", {**body, "email": "autre@example.org"}, "sam"))
    assert sorted(status for status, _ in results) == [201, 409]
    lost = next(answer for status, answer in results if status == 409)
    assert lost["error"] == "slot_taken"
    assert lost["message"] == "Ce créneau vient d'être réservé par quelqu'un d'autre : choisissez-en un autre."
    assert await stack.pool.fetchval(
        "SELECT count(*) FROM appointments WHERE office_id = 'cma_arras' AND starts_at = $1",
        dt.datetime(2026, 11, 23, 10, 30, tzinfo=PARIS)) == 1


async def test_smtp_down_is_502_and_the_booking_stays(stack: WebStack) -> None:
    stack.deps.smtp = SmtpSettings(port=free_tcp_port(), timeout=2)  # nobody listens there
    status, answer = await _post(stack, "/api/agents/cma-01/appointments", _booking("2026-11-23T11:15:00+01:00"))
    assert status == 502, answer
    assert answer["error"] == "mail_failed" and answer["email_sent"] is False
    assert "La réservation est gardée" in answer["message"]
    row = await stack.pool.fetchrow("SELECT email_sent_at, email_error FROM appointments WHERE id = $1",
                                    answer["booking"]["id"])
    assert row is not None and row["email_sent_at"] is None and "did not take the message" in row["email_error"]
    status, answer = await _post(stack, "/api/agents/cma-01/brochure", {"email": "p@example.org"})
    assert status == 502 and answer["error"] == "mail_failed"


async def test_brochure_alone_reaches_the_caller(stack: WebStack, smtp_server: tuple[Inbox, int]) -> None:
    status, answer = await _post(stack, "/api/agents/cma-01/brochure", {"email": "p@example.org", "partner": "cci"})
    assert status == 200, answer
    assert answer["message"].startswith("Brochure CCI") and answer["message"].endswith(" envoyée à p@example.org.")
    got = parse(smtp_server[0].received[-1][2])
    assert [p.get_filename() for p in got.iter_attachments()] == ["brochure-cci.pdf"]


async def test_an_advisor_books_for_their_own_line_only_and_a_login_is_needed(stack: WebStack) -> None:
    body = _booking("2026-11-24T14:00:00+01:00")
    assert (await _get(stack, "/api/agents/cci-02/appointments/offices", postcode="59000"))[0] == 403
    status, answer = await _post(stack, "/api/agents/cci-02/appointments", body)
    assert (status, answer["error"]) == (403, "not_your_line")
    assert (await _post(stack, "/api/agents/cci-02/brochure", {"email": "p@example.org"}))[0] == 403
    status, answer = await _post(stack, "/api/agents/cma-01/appointments", body, None)
    assert (status, answer["error"]) == (401, "not_authenticated")
    assert (await _get(stack, "/api/agents/cma-01/appointments/offices", None, postcode="59000"))[0] == 401
    assert (await _get(stack, "/api/agents/zz-99/appointments/offices", "sam", postcode="59000"))[0] == 404
    assert await stack.pool.fetchval("SELECT count(*) FROM appointments WHERE starts_at = $1",
                                     dt.datetime(2026, 11, 24, 14, tzinfo=PARIS)) == 0


async def test_bad_input_is_400_naming_each_field(stack: WebStack) -> None:
    status, answer = await _post(stack, "/api/agents/cma-01/appointments", {
        "office": "nulle_part", "start": "demain matin", "email": "pas-une-adresse", "postcode": "620"})
    assert status == 400 and answer["error"] == "bad_input"
    assert {f["path"] for f in answer["fields"]} == {"office", "start", "email", "postcode"}
    # a time that is no slot start at that office, and a slot already past
    for start in ("2026-11-23T09:10:00+01:00", "2026-11-16T09:00:00+01:00", "2026-11-23T09:00:00"):
        status, answer = await _post(stack, "/api/agents/cma-01/appointments", _booking(start))
        assert status == 400 and [f["path"] for f in answer["fields"]] == ["start"], (start, answer)
    status, answer = await _get(stack, "/api/agents/cma-01/appointments/offices", postcode="99999")
    assert status == 400 and [f["path"] for f in answer["fields"]] == ["postcode"]
    status, answer = await _get(stack, "/api/agents/cma-01/appointments/offices", postcode="59000", commune=ARRAS)
    assert status == 400 and [f["path"] for f in answer["fields"]] == ["commune"]
    status, answer = await _post(stack, "/api/agents/cma-01/brochure", {"email": "x@", "partner": "nobody"})
    assert status == 400 and {f["path"] for f in answer["fields"]} == {"email", "partner"}
    assert await stack.pool.fetchval("SELECT count(*) FROM appointments WHERE booked_by = 'alice' "
                                     "AND starts_at < '2026-11-23T09:45:00+01:00'") == 0


async def test_without_the_communes_dataset_the_offices_route_says_so(stack: WebStack) -> None:
    stack.deps.communes = lambda: None
    status, answer = await _get(stack, "/api/agents/cma-01/appointments/offices", postcode="62000")
    assert (status, answer["error"]) == (503, "communes_unavailable")


async def test_a_booking_without_linkedid_is_tied_to_the_call_on_the_line(stack: WebStack) -> None:
    stack.live.apply(join("9300.1", "sector-crafts", "0321000002", "Menuiserie Leroy"))
    stack.live.apply(agent_called("9300.1", "sector-crafts", "cma-01"))
    try:
        body = {k: v for k, v in _booking("2026-11-24T14:45:00+01:00").items() if k != "linkedid"}
        status, booked = await _post(stack, "/api/agents/cma-01/appointments", body)
    finally:
        stack.live.apply(ring_over("9300.1", "sector-crafts", "cma-01"))
        stack.live.apply(leave("9300.1", "sector-crafts"))
    assert status == 201, booked
    assert booked["booking"]["linkedid"] == "9300.1"
    assert await stack.pool.fetchval("SELECT linkedid FROM appointments WHERE id = $1", booked["booking"]["id"]) \
        == "9300.1"


async def test_the_advisor_page_has_the_section_with_a_label_for_every_control(stack: WebStack) -> None:
    async with aiohttp.ClientSession() as http, http.get(stack.url + "/advisor", headers=stack.bearer("alice")) as r:
        assert r.status == 200
        page = await r.text()
    section = page[page.index('<section id="rdv"'):]
    section = section[:section.index("</section>")]
    assert "Rendez-vous et documentation" in section and 'data-line="cma-01"' in section
    controls = re.findall(r'<(?:input|select) id="([^"]+)"', section)
    assert controls == ["rdv-postcode", "rdv-commune", "rdv-email", "rdv-office", "rdv-slot"]
    assert all(f'<label for="{c}">' in section for c in controls)
    assert ">Réserver</button>" in section and ">Envoyer la brochure</button>" in section
    assert '<script src="/static/appointments.js" defer></script>' in page
    assert "<script>" not in page  # no inline script (CSP)


async def test_bookings_are_counted_in_the_reports_per_partner_and_office(stack: WebStack) -> None:
    for who, line, body in (("alice", "cma-01", _booking("2026-11-23T09:45:00+01:00")),
                            ("alice", "cma-01", _booking("2026-11-24T14:00:00+01:00")),
                            ("sam", "cci-02", _booking("2026-11-23T09:00:00+01:00", office="cci_lille"))):
        status, booked = await _post(stack, f"/api/agents/{line}/appointments", body, who)
        assert status == 201, booked
    # booked_at is the database's clock, not the service's fixed one: a window around today
    today = dt.datetime.now(PARIS).date()
    window = {"from": str(today - dt.timedelta(days=1)), "to": str(today + dt.timedelta(days=1))}
    status, report = await _get(stack, "/api/reports", "sam", **window)
    assert status == 200, report
    booked = report["appointments"]
    assert booked["booked"] == 3
    assert booked["by_partner"] == {"direccte": 0, "region": 0, "cma": 2, "cci": 1, "mel": 0}
    assert (booked["by_office"]["cma_arras"], booked["by_office"]["cci_lille"], booked["by_office"]["cma_lille"]) \
        == (2, 1, 0)
    status, before = await _get(stack, "/api/reports", "sam", **{"from": str(today - dt.timedelta(days=3)),
                                                                "to": str(today - dt.timedelta(days=2))})
    assert before["appointments"]["booked"] == 0

    async with aiohttp.ClientSession() as http:
        async with http.get(stack.url + "/api/reports.csv", params=window, headers=stack.bearer("sam")) as r:
            lines = (await r.text()).splitlines()
        assert "appointments_office;cma_arras;booked;2" in lines and "appointments_partner;cci;booked;1" in lines
        async with http.get(stack.url + "/reports", params=window, headers=stack.bearer("sam")) as r:
            assert r.status == 200
            page = await r.text()
        async with http.get(stack.url + "/reports", params=window, headers=stack.bearer("alice")) as r:
            assert r.status == 403  # reports are for supervisors
    section = page[page.index("<h2>Rendez-vous pris</h2>"):]
    section = section[:section.index("</table>")]
    assert '<p id="appointments-total">3 rendez-vous pris sur la période' in section
    cells = re.findall(r"<tr[^>]*>(.*?)</tr>", section)
    rows = [html.unescape(re.sub(r"(?:<[^>]+>)+", "|", row).strip("|")) for row in cells]
    cma, cci = "CMA (chambre de métiers et de l'artisanat)", "CCI (chambre de commerce et d'industrie)"
    assert f"{cma}|tous ses sites|2" in rows and f"{cci}|tous ses sites|1" in rows
    assert f"{cma}|CMA Hauts-de-France, Pas-de-Calais|2" in rows and f"{cma}|CMA Hauts-de-France, Nord|0" in rows
    assert f"{cci}|CCI Grand Lille|1" in rows and "MEL (Métropole européenne de Lille)|tous ses sites|0" in rows
