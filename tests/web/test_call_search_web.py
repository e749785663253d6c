"""The call search pages and export, served by the real web app over the real PostgreSQL: supervisors
only, a French page per call, a spreadsheet export, a bad filter refused by name."""

from __future__ import annotations

import aiohttp
import pytest

from cdr.record_sql import write_items
from cdr.spreadsheet import BOM
from tests.db.test_call_search import items_of
from tests.web.conftest import WebStack

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

WINDOW = "from=2026-11-01&to=2026-12-31"  # the traces were recorded in November and December 2026


async def test_supervisors_search_open_a_call_and_export(web_stack: WebStack) -> None:
    async with web_stack.pool.acquire() as conn:
        for trace in ("queue_abandon_call", "blind_transfer_call"):
            await write_items(conn, items_of(trace))
    (linkedid,) = [r["linkedid"] for r in await web_stack.pool.fetch(
        "SELECT linkedid FROM cdr WHERE src = '0320000032'")]
    sam = web_stack.bearer("sam")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web_stack.url}/appels?{WINDOW}&sector=crafts", headers=sam) as r:
            page = await r.text()
        assert r.status == 200 and "Recherche d&#x27;appels" in page and f'href="/appels/{linkedid}"' in page
        assert 'href="/api/calls.csv?' in page and "sector=crafts" in page
        async with http.get(f"{web_stack.url}/appels/{linkedid}", headers=sam) as r:
            call = await r.text()
        assert r.status == 200 and "transfert direct" in call and 'id="timeline"' in call
        async with http.get(f"{web_stack.url}/appels/1.2", headers=sam) as r:
            assert r.status == 404 and "Aucun appel" in await r.text()
        async with http.get(f"{web_stack.url}/api/calls.csv?{WINDOW}&outcome=abandoned_in_queue", headers=sam) as r:
            body = await r.read()
        assert r.status == 200 and r.content_type == "text/csv"
        text = body.decode("utf-8")
        assert text.startswith(BOM) and text.count("\r\n") == 2 and "0320000011" in text
        async with http.get(f"{web_stack.url}/api/calls.csv?{WINDOW}&number=abc", headers=sam) as r:
            assert r.status == 400 and (await r.json())["error"] == "bad_filter"
        async with http.get(f"{web_stack.url}/appels?{WINDOW}", headers=web_stack.bearer("alice")) as r:
            assert r.status == 403  # advisors do not search every call
