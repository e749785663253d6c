"""Live listening from the web (issue 14): a supervisor with a supervision softphone asks to listen
to, whisper to or join a line's call; every request is audited. The desk here records what it is
asked (the real one rings the softphone into ChanSpy: tests/pbx/test_listen_real.py)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.web.conftest import WebStack

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]


async def test_a_supervisor_listens_from_their_softphone_and_it_is_audited(web_stack: WebStack) -> None:
    url, sam, ada = web_stack.url, web_stack.bearer("sam"), web_stack.bearer("ada")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/agents/cma-01/listen", headers=sam, json={"mode": "listen"}) as r:
            body = await r.json()
        assert r.status == 409 and body["error"] == "no_softphone" and "sup-01" in body["message"]

        async with http.post(f"{url}/utilisateurs/sam", headers=ada,
                             data={"role": "supervisor", "line": "cma-02", "state": "active"}) as r:
            assert r.status == 400 and "poste de supervision" in await r.text()  # not a partner line
        async with http.post(f"{url}/utilisateurs/sam", headers=ada,
                             data={"role": "supervisor", "line": "sup-01", "state": "active"}) as r:
            assert r.status == 200

        async with http.post(f"{url}/api/agents/cma-01/listen", headers=sam, json={"mode": "whisper"}) as r:
            body = await r.json()
        assert r.status == 200 and (body["softphone"], body["mode"]) == ("sup-01", "whisper")
        assert web_stack.desk.calls[-1] == ("listen", "cma-01", "sup-01:whisper")
        async with http.post(f"{url}/api/agents/cma-01/listen", headers=sam, json={"mode": "spy"}) as r:
            assert r.status == 400
        async with http.post(f"{url}/api/agents/zz-99/listen", headers=sam, json={}) as r:
            assert r.status == 404
        async with http.post(f"{url}/api/agents/cma-01/listen", headers=web_stack.bearer("alice"), json={}) as r:
            assert r.status == 403  # advisors do not listen to each other
        async with http.get(f"{url}/advisor?line=cma-01", headers=sam) as r:
            page = await r.text()
        assert 'data-mode="barge"' in page and "Chuchoter au conseiller" in page
    row = await web_stack.pool.fetchrow(
        "SELECT actor, action, target, detail FROM web_audit WHERE action LIKE 'call_%' ORDER BY id DESC LIMIT 1")
    assert (row["actor"], row["action"], row["target"]) == ("sam", "call_whisper", "cma-01")
    assert "sup-01" in row["detail"]
