"""The supervisors' callbacks API and "Rappels" page, and the advisor's follow-up outcome, against
the real PostgreSQL: the same store functions as ``aiguilleur callbacks``."""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest

from tests.web.conftest import WebStack

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]


async def insert(stack: WebStack, id_: str, status: str, kind: str = "callback", partner: str | None = None) -> None:
    now = dt.datetime.now(dt.UTC)
    await stack.pool.execute(
        """INSERT INTO callbacks (linkedid, caller_number, requested_at, due_at, next_try_at, status, kind, partner,
                                  origin, need, sector, reason)
           VALUES ($1, '0612000000', $2, $2, $2, $3, $4, $5, regexp_replace($1, '^fu-', ''), 'creation', 'crafts',
                   'closed')
           ON CONFLICT (linkedid) DO UPDATE SET status = $3""", id_, now, status, kind, partner)


async def test_supervisors_list_cancel_retry_and_reassign(web_stack: WebStack) -> None:
    await insert(web_stack, "cb.1", "pending")
    await insert(web_stack, "cb.2", "failed")
    await insert(web_stack, "fu-cb.3", "done", "followup", "cma")
    await insert(web_stack, "cb.4", "dialling")
    sam = web_stack.bearer("sam")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web_stack.url}/api/callbacks?kind=followup", headers=sam) as r:
            body = await r.json()
        assert [c["id"] for c in body["callbacks"]] == ["fu-cb.3"] and body["success_rate"]["followup"] == 1.0
        async with http.get(f"{web_stack.url}/api/callbacks", headers=web_stack.bearer("alice")) as r:
            assert r.status == 403  # advisors do not see the list
        async with http.post(f"{web_stack.url}/api/callbacks/cb.1/cancel", headers=sam, json={}) as r:
            assert r.status == 200 and (await r.json())["status"] == "cancelled"
        async with http.post(f"{web_stack.url}/api/callbacks/cb.4/cancel", headers=sam, json={}) as r:
            assert r.status == 409 and (await r.json())["error"] == "callback.not_cancellable"
        async with http.post(f"{web_stack.url}/api/callbacks/cb.2/retry", headers=sam, json={"partner": "cci"}) as r:
            after = await r.json()
        assert (after["status"], after["partner"], after["tries"]) == ("pending", "cci", 0)
        async with http.post(f"{web_stack.url}/api/callbacks/cb.2/retry", headers=sam, json={"partner": "zz"}) as r:
            assert r.status == 400
        async with http.post(f"{web_stack.url}/api/callbacks/nope/retry", headers=sam, json={}) as r:
            assert r.status == 404
        async with http.get(f"{web_stack.url}/rappels", headers=sam) as r:
            page = await r.text()
        assert r.status == 200 and "Rappels et suivis J+8" in page and "Suivi J+8" in page
        assert 'aria-label="Partenaire pour cb.2"' in page and "/static/callbacks.js" in page
        assert "<script>" not in page  # strict CSP: no inline script
    row = await web_stack.pool.fetchrow("SELECT status, partner, outcome FROM callbacks WHERE linkedid = 'cb.1'")
    assert row["status"] == "cancelled" and "sam" in row["outcome"]


async def test_an_advisor_records_a_followup_outcome(web_stack: WebStack) -> None:
    await insert(web_stack, "fu-cb.5", "done", "followup", "cma")
    await insert(web_stack, "cb.6", "done")
    alice = web_stack.bearer("alice")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{web_stack.url}/api/callbacks/fu-cb.5/outcome", headers=alice,
                             json={"code": "needs_more_help"}) as r:
            body = await r.json()
        assert r.status == 200 and (body["followup_outcome"], body["new_request"]) == ("needs_more_help", "mh-cb.5")
        async with http.post(f"{web_stack.url}/api/callbacks/fu-cb.5/outcome", headers=alice,
                             json={"code": "satisfied"}) as r:
            assert r.status == 409
        async with http.post(f"{web_stack.url}/api/callbacks/cb.6/outcome", headers=alice,
                             json={"code": "satisfied"}) as r:
            assert r.status == 409 and (await r.json())["error"] == "followup.not_a_followup"
        async with http.post(f"{web_stack.url}/api/callbacks/fu-cb.5/outcome", headers=alice,
                             json={"code": "happy"}) as r:
            assert r.status == 400
    more = await web_stack.pool.fetchrow("SELECT kind, status, partner FROM callbacks WHERE linkedid = 'mh-cb.5'")
    assert tuple(more) == ("callback", "pending", None)
