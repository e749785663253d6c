"""The web API and pages on the real PostgreSQL: auth, roles, CSRF, escaping, live updates, metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from config.models import Hotline
from tests.web.conftest import PASSWORD, USERS, WebStack
from web.app import POLICY, ROUTES
from web.roles import allows

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

HOSTILE_NAME = '<script>alert("x")</script>'
HOSTILE_NUMBER = '"><img src=x onerror=alert(1)>'
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/static/{name}"), ("GET", "/metrics"),
          ("GET", "/api/openapi.json"), ("POST", "/api/login")}
SAMPLE = {"line": "cma-01", "id": "1", "name": "app.css", "linkedid": "1700000000.1"}


def stamp() -> str:
    return f"{time.time():.6f}"


def join(uid: str, queue: str, number: str, name: str, position: int = 1) -> dict[str, str]:
    return {"Event": "QueueCallerJoin", "Timestamp": stamp(), "Channel": f"PJSIP/pstn-{uid}",
            "CallerIDNum": number, "CallerIDName": name, "Uniqueid": uid, "Linkedid": uid, "Queue": queue,
            "Position": str(position), "Count": str(position)}


def leave(uid: str, queue: str) -> dict[str, str]:
    return {"Event": "QueueCallerLeave", "Timestamp": stamp(), "Uniqueid": uid, "Linkedid": uid, "Queue": queue,
            "Position": "1", "Count": "0"}


def agent_called(uid: str, queue: str, line: str) -> dict[str, str]:
    return {"Event": "AgentCalled", "Timestamp": stamp(), "Uniqueid": uid, "Linkedid": uid, "Queue": queue,
            "Interface": f"PJSIP/{line}", "MemberName": line, "DestUniqueid": uid + "-a"}


def ring_over(uid: str, queue: str, line: str) -> dict[str, str]:
    return {**agent_called(uid, queue, line), "Event": "AgentRingNoAnswer", "RingTime": "2000"}


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe=True: keep cookies set by an IP address host (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m[1]], path)


async def test_every_route_is_in_the_access_table_and_refused_without_credentials(web_stack: WebStack) -> None:
    """Walks the app's own route table: a route added without an access rule fails here."""
    policy = web_stack.app[POLICY]
    routes = [(r.method, r.resource.canonical) for r in web_stack.app.router.routes() if r.resource is not None]
    assert routes and len(routes) == len(ROUTES)
    async with aiohttp.ClientSession() as http:
        for method, path in routes:
            assert (method, path) in policy, f"{method} {path} has no access rule"
            if (method, path) in PUBLIC:
                assert policy[(method, path)] == "public"
                continue
            assert policy[(method, path)] != "public", f"{method} {path} is public but not listed as such"
            async with http.request(method, web_stack.url + concrete(path), allow_redirects=False,
                                    headers={"Content-Type": "application/json"}, data="{}") as response:
                if path.startswith("/api/"):
                    assert response.status == 401, (method, path, response.status)
                    assert (await response.json())["error"] == "not_authenticated"
                elif method == "GET":
                    assert response.status == 303 and response.headers["Location"].startswith("/login")
                else:
                    assert response.status == 401, (method, path, response.status)


async def test_every_route_refuses_a_role_below_the_one_it_needs(web_stack: WebStack) -> None:
    policy = web_stack.app[POLICY]
    users = {role: name for name, (role, _line) in USERS.items()}
    async with aiohttp.ClientSession() as http:
        for (method, path), access in sorted(policy.items()):
            for role, name in users.items():
                if allows(role, access):
                    continue
                async with http.request(method, web_stack.url + concrete(path), allow_redirects=False,
                                        headers=web_stack.bearer(name), json={}) as response:
                    assert response.status == 403, (method, path, role, response.status)


async def test_login_gives_a_cookie_session_and_a_wrong_password_is_refused(
    web_stack: WebStack, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{web_stack.url}/api/login", json={"name": "sam", "password": "wrong password"}) as r:
        assert r.status == 401
    async with http.post(f"{web_stack.url}/api/login", json={"name": "nobody", "password": PASSWORD}) as r:
        assert r.status == 401 and (await r.json())["error"] == "bad_credentials"
    async with http.post(f"{web_stack.url}/api/login", json={"name": "sam", "password": PASSWORD}) as r:
        assert r.status == 200
        body = await r.json()
        assert body["role"] == "supervisor" and "token" not in body
        cookie = r.cookies["aiguilleur_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
    async with http.get(f"{web_stack.url}/api/me") as r:
        assert r.status == 200 and (await r.json())["name"] == "sam"
    async with http.post(f"{web_stack.url}/api/logout", headers={"X-CSRF-Token": body["csrf"]}) as r:
        assert r.status == 200
    async with http.get(f"{web_stack.url}/api/me") as r:
        assert r.status == 401  # the session row is gone, not only the cookie


async def test_repeated_failures_for_a_name_are_slowed_down(web_stack: WebStack) -> None:
    """Four checked failures from one client, then it must wait (tests/web/test_login_protection.py: the rest)."""
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(5):
            async with http.post(f"{web_stack.url}/api/login", json={"name": "mallory", "password": "guess"}) as r:
                statuses.append((r.status, r.headers.get("Retry-After")))
    assert statuses == [(401, None)] * 4 + [(429, "1")]


async def test_cookie_session_must_send_the_csrf_token_and_come_from_this_site(
    web_stack: WebStack, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{web_stack.url}/api/login", json={"name": "ada", "password": PASSWORD}) as r:
        csrf = (await r.json())["csrf"]
    section = {"title": "Test CSRF", "body": "x"}
    async with http.post(f"{web_stack.url}/api/memo", json=section) as r:
        assert r.status == 403 and (await r.json())["error"] == "csrf_token"
    async with http.post(f"{web_stack.url}/api/memo", json=section, headers={"X-CSRF-Token": "forged"}) as r:
        assert r.status == 403
    async with http.post(f"{web_stack.url}/api/memo", json=section,
                         headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}) as r:
        assert r.status == 403 and (await r.json())["error"] == "csrf_origin"
    async with http.post(f"{web_stack.url}/api/memo", json=section, headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 201
        created = await r.json()
    async with http.delete(f"{web_stack.url}/api/memo/{created['id']}", headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200
    # the HTML logout form carries the token as a field
    async with http.post(f"{web_stack.url}/logout", data={"csrf": "forged"}, allow_redirects=False) as r:
        assert r.status == 403
    async with http.post(f"{web_stack.url}/logout", data={"csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303


async def test_html_login_form_redirects_to_the_page_asked_for(web_stack: WebStack,
                                                                http: aiohttp.ClientSession) -> None:
    async with http.get(f"{web_stack.url}/reports", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/login?next=/reports"
    async with http.post(f"{web_stack.url}/login", data={"name": "sam", "password": PASSWORD, "next": "//evil.example"},
                         allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/wallboard"  # no open redirect
    async with http.get(f"{web_stack.url}/reports") as r:
        page = await r.text()
        assert r.status == 200 and "<svg" in page and "Rappels et suivis J+8" in page
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]


async def read_event(response: aiohttp.ClientResponse, name: str) -> dict[str, object]:
    """The next SSE event called ``name`` (data parsed as JSON)."""
    event, data = "", ""
    while True:
        raw = await response.content.readline()
        assert raw, "stream closed"
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            if event == name:
                payload: dict[str, object] = json.loads(data)
                return payload
            event, data = "", ""


async def test_wallboard_stream_shows_a_new_caller_within_a_second(web_stack: WebStack) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            f"{web_stack.url}/api/live/stream", headers=web_stack.bearer("sam")) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = await read_event(response, "wallboard")
        assert first["waiting"] == 0
        started = time.monotonic()
        web_stack.live.apply(join("9000.1", "sector-crafts", "0320999001", "Artisan Lent"))
        while True:
            board = await asyncio.wait_for(read_event(response, "wallboard"), 2.0)
            if board["waiting"] == 1:
                break
        latency = time.monotonic() - started
        assert latency < 1.0, latency
        queue = next(q for q in board["queues"] if q["name"] == "sector-crafts")  # type: ignore[union-attr]
        assert queue["waiting"] == 1 and queue["callers"][0]["number"] == "0320999001"
    web_stack.live.apply(leave("9000.1", "sector-crafts"))


async def test_a_caller_named_script_is_text_on_every_page(web_stack: WebStack,
                                                           http: aiohttp.ClientSession) -> None:
    web_stack.live.apply(join("9100.1", "sector-crafts", HOSTILE_NUMBER, HOSTILE_NAME))
    web_stack.live.apply(agent_called("9100.1", "sector-crafts", "cma-01"))
    for event in ({"Event": "Newchannel", "Timestamp": stamp(), "Channel": "PJSIP/pstn-x", "Uniqueid": "9100.1",
                   "Linkedid": "9100.1", "CallerIDNum": HOSTILE_NUMBER, "CallerIDName": HOSTILE_NAME,
                   "Exten": "0800596280"},):
        web_stack.correlator.feed(event)
    await asyncio.sleep(0.2)
    try:
        for name, page in (("sam", "/wallboard"), ("alice", "/advisor"), ("sam", "/advisor?line=cma-01")):
            async with http.get(web_stack.url + page, headers=web_stack.bearer(name)) as r:
                text = await r.text()
                assert r.status == 200, page
                assert HOSTILE_NAME not in text and "<img src=x" not in text, page
                assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text, page
        async with http.get(f"{web_stack.url}/api/live", headers=web_stack.bearer("sam")) as r:
            assert r.headers["Content-Type"].startswith("application/json")
            board = await r.json()
            names = [c["name"] for q in board["queues"] for c in q["callers"]]
            assert HOSTILE_NAME in names  # data, as is, in JSON
    finally:
        web_stack.live.apply(ring_over("9100.1", "sector-crafts", "cma-01"))
        web_stack.live.apply(leave("9100.1", "sector-crafts"))


async def insert_call(stack: WebStack, linkedid: str, number: str, outcome: str, start: dt.datetime, **extra: object
                      ) -> None:
    columns = {"linkedid": linkedid, "uniqueid": linkedid, "src": number, "start": start,
               "end": start + dt.timedelta(minutes=3), "duration": 180, "billsec": 120,
               "disposition": "ANSWERED" if outcome == "answered" else "NO ANSWER", "outcome": outcome, **extra}
    names = ", ".join(f'"{k}"' for k in columns)
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await stack.pool.execute(f"INSERT INTO cdr ({names}) VALUES ({marks})", *columns.values())


async def test_advisor_screen_pops_ivr_answers_earlier_calls_and_the_matching_memo(web_stack: WebStack) -> None:
    now = dt.datetime.now(dt.UTC)
    await insert_call(web_stack, "8000.1", "0321000001", "answered", now - dt.timedelta(days=3),
                      partner="cma", line="cma-03", need="difficulty", sector="crafts", queue="sector-crafts")
    await insert_call(web_stack, "8000.2", "0321000001", "abandoned_in_queue", now - dt.timedelta(days=1),
                      queue="sector-crafts")
    for event in (
        {"Event": "Newchannel", "Timestamp": stamp(), "Channel": "PJSIP/pstn-1", "Uniqueid": "9200.1",
         "Linkedid": "9200.1", "CallerIDNum": "0321000001", "CallerIDName": "Boulangerie Dupont",
         "Exten": "0800596280"},
        {"Event": "UserEvent", "UserEvent": "AiguilleurIvr", "Timestamp": stamp(), "Uniqueid": "9200.1",
         "Linkedid": "9200.1", "Need": "difficulty", "Sector": "crafts", "Size": "micro", "Departement": "nord",
         "Exit": "completed", "Queue": "rank-cma-mel"},
    ):
        web_stack.correlator.feed(event)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web_stack.url}/api/advisor/screen", headers=web_stack.bearer("alice")) as r:
            assert (await r.json())["call_state"] is None
        async with http.get(f"{web_stack.url}/api/advisor/stream", headers=web_stack.bearer("alice")) as stream:
            idle = await read_event(stream, "screen")
            assert idle["call_state"] is None and idle["line"] == "cma-01"
            web_stack.live.apply(join("9200.1", "rank-cma-mel", "0321000001", "Boulangerie Dupont"))
            web_stack.live.apply(agent_called("9200.1", "rank-cma-mel", "cma-01"))
            pop = await asyncio.wait_for(read_event(stream, "screen"), 1.0)
    try:
        assert pop["call_state"] == "ringing" and pop["number"] == "0321000001"
        # the queue in words, not its slug
        assert (pop["queue"], pop["queue_label"]) == ("rank-cma-mel", "CMA → MEL → les autres")
        assert "Boulangerie Dupont" in str(pop["clid"])
        answers = {a["step"]: a["value_label"] for a in pop["answers"]}  # type: ignore[attr-defined]
        assert answers == {"need": "entreprise en difficulté", "sector": "artisanat", "size": "1 à 9 salariés",
                           "departement": "Nord"}
        assert len(pop["earlier_calls"]) == 2  # type: ignore[arg-type]
        assert pop["earlier_outcomes"] == {"answered": 1, "abandoned_in_queue": 1}
        titles = [m["title"] for m in pop["memo"]]  # type: ignore[attr-defined]
        assert "Chômage partiel (activité partielle)" in titles and "Artisans : interlocuteur CMA" in titles
        assert "Créer ou reprendre une entreprise" not in titles  # another need
        assert "Commerce et industrie : interlocuteur CCI" not in titles  # another sector
        async with aiohttp.ClientSession() as http, http.get(
                f"{web_stack.url}/api/advisor/screen?line=cma-01", headers=web_stack.bearer("bob")) as r:
            assert r.status == 403  # bob's line is cci-02
    finally:
        web_stack.live.apply(ring_over("9200.1", "rank-cma-mel", "cma-01"))
        web_stack.live.apply(leave("9200.1", "rank-cma-mel"))


async def test_agent_actions_reach_the_desk_and_an_advisor_only_acts_on_their_line(web_stack: WebStack) -> None:
    web_stack.desk.calls.clear()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{web_stack.url}/api/agents/cma-01/pause", json={"reason": "repas"},
                             headers=web_stack.bearer("alice")) as r:
            assert r.status == 200
        async with http.post(f"{web_stack.url}/api/agents/cma-01/unpause", headers=web_stack.bearer("alice")) as r:
            assert r.status == 200
        async with http.post(f"{web_stack.url}/api/agents/cci-02/logout", headers=web_stack.bearer("alice")) as r:
            assert r.status == 403
        async with http.post(f"{web_stack.url}/api/agents/cci-02/logout", headers=web_stack.bearer("sam")) as r:
            assert r.status == 200
        async with http.post(f"{web_stack.url}/api/agents/zz-99/login", headers=web_stack.bearer("sam")) as r:
            assert r.status == 404
    assert web_stack.desk.calls == [("pause", "cma-01", "repas"), ("unpause", "cma-01", ""),
                                    ("logout", "cci-02", "")]


async def test_metrics_expose_queues_lines_and_the_service_health(web_stack: WebStack) -> None:
    web_stack.live.apply(join("9300.1", "sector-commerce", "0320000301", "X"))
    await asyncio.sleep(0.1)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{web_stack.url}/metrics") as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await r.text()
    finally:
        web_stack.live.apply(leave("9300.1", "sector-commerce"))
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert float(samples['asterisk_queue_callers{queue="sector-commerce"}']) == 1
    assert float(samples['asterisk_queue_longest_wait_seconds{queue="sector-commerce"}']) >= 0
    assert sum(float(v) for k, v in samples.items() if k.startswith('asterisk_queue_lines{partner="cma"')) == 8
    for name in ("aiguilleur_ami_connected", "aiguilleur_cdr_spool_depth", "aiguilleur_cdr_write_lag_seconds",
                 "aiguilleur_web_sse_clients"):
        assert name in samples, name
    assert all(re.fullmatch(r"[a-z_]+(\{.*\})?", k) for k in samples)


async def test_reports_as_json_csv_and_a_page_with_charts(web_stack: WebStack) -> None:
    day = dt.date(2026, 3, 26)
    start = dt.datetime(2026, 3, 26, 9, 0, tzinfo=dt.UTC)
    await insert_call(web_stack, "7000.1", "0320700001", "answered", start, partner="cci", line="cci-01",
                      queue="sector-commerce", wait_seconds=12, talk_seconds=200)
    await insert_call(web_stack, "7000.2", "0320700002", "abandoned_in_queue", start, queue="sector-commerce",
                      wait_seconds=40)
    query = f"from={day}&to={day}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web_stack.url}/api/reports?{query}", headers=web_stack.bearer("sam")) as r:
            report = await r.json()
        assert report["by_day"][str(day)]["calls"] == 2 and report["overall"]["answered"] == 1
        assert report["callbacks"]["followups"] == 0 and "followup_outcomes" in report["callbacks"]
        async with http.get(f"{web_stack.url}/api/reports.csv?{query}", headers=web_stack.bearer("sam")) as r:
            assert r.headers["Content-Type"].startswith("text/csv")
            lines = (await r.text()).splitlines()
        assert lines[0] == "\ufeffsection;key;metric;value"  # a spreadsheet file: BOM, ';' between cells
        assert f"volume_day;{day};calls;2" in lines
        async with http.get(f"{web_stack.url}/api/cdr?{query}&outcome=answered",
                            headers=web_stack.bearer("sam")) as r:
            assert [row["linkedid"] for row in await r.json()] == ["7000.1"]
        async with http.get(f"{web_stack.url}/api/reports?from=2026-03-27&to=2026-03-01",
                            headers=web_stack.bearer("sam")) as r:
            assert r.status == 400


async def test_rules_preview_puts_each_error_on_its_field_and_shows_the_diff(
    web_stack: WebStack, hotline: Hotline
) -> None:
    document = hotline.model_dump(mode="json")
    document["version"] = hotline.version + 1
    document["queues"]["escalation"][1]["max_penalty"] = 42
    document["partners"][2]["skills"]["sector:crafts"] = 9
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{web_stack.url}/api/rules/preview", json={"document": document},
                             headers=web_stack.bearer("ada")) as r:
            checked = await r.json()
        assert not checked["valid"]
        paths = {e["path"] for e in checked["errors"]}
        assert paths == {"queues.escalation[1].max_penalty", "partners[2].skills.sector:crafts"}
        document["queues"]["escalation"][1]["max_penalty"] = 3
        document["partners"][2]["skills"]["sector:crafts"] = 4
        async with http.post(f"{web_stack.url}/api/rules/preview", json={"document": document},
                             headers=web_stack.bearer("ada")) as r:
            checked = await r.json()
        assert checked["valid"] and checked["diff"]
        async with http.post(f"{web_stack.url}/api/rules/apply", json={"document": document},
                             headers=web_stack.bearer("ada")) as r:
            assert r.status == 202 and (await r.json())["status"] == "pending"  # no rules engine here
        # The request reached the gateway as the engine would get it; the pbx test applies for real.
        assert web_stack.rules.requests[-1] == ("apply", hotline.version + 1, "ada", "web")
    await web_stack.pool.execute(
        """INSERT INTO rule_versions (version, action, requested_by, source, document, status, result)
           VALUES (2, 'apply', 'ada', 'web', $1::jsonb, 'applied', 'ok')""", json.dumps(document))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{web_stack.url}/api/rules", headers=web_stack.bearer("ada")) as r:
            rules = await r.json()
        assert [(h["version"], h["requested_by"], h["status"]) for h in rules["history"]] == [(2, "ada", "applied")]
        async with http.get(f"{web_stack.url}/rules", headers=web_stack.bearer("ada")) as r:
            assert r.status == 200 and "appliquée" in await r.text()  # the history, in French


def _crafts_to_mel(hotline: Hotline) -> dict[str, object]:
    """The running rules, bumped, with MEL taking crafts and micro firms."""
    document = hotline.model_dump(mode="json")
    document["version"] = hotline.version + 1
    mel = next(p for p in document["partners"] if p["id"] == "mel")
    mel["skills"].update({"sector:crafts": 5, "size:micro": 4})
    return document


async def test_rules_preview_shows_which_profiles_change_their_first_partner(
    web_stack: WebStack, hotline: Hotline
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{web_stack.url}/api/rules/preview", json={"document": _crafts_to_mel(hotline)},
                             headers=web_stack.bearer("ada")) as r:
            assert r.status == 200
            checked = await r.json()
        routing = checked["routing"]
        moved = {tuple(c["answers"].values()): (c["before"], c["after"]) for c in routing["changed"]}
        for size in ("micro", "small", "medium", "large"):  # the Nord craftsmen, creating a firm
            assert moved[("creation", "crafts", size, "nord")] == (["cma"], ["mel"])
        assert routing["changed_count"] == len(routing["changed"]) == len(moved)
        assert all(c["answers"]["departement"] == "nord" for c in routing["changed"] if c["after"] == ["mel"])
        assert (routing["queues_before"], routing["queues_after"]) == (58, 59)  # one more ranking: MEL first
        assert routing["memberships_after"] == 59 * len(hotline.lines())
        assert routing["profiles"] == 450

        unchanged = hotline.model_dump(mode="json")
        async with http.post(f"{web_stack.url}/api/rules/preview", json={"document": unchanged},
                             headers=web_stack.bearer("ada")) as r:
            routing = (await r.json())["routing"]
        assert (routing["changed"], routing["changed_count"], routing["queues_after"]) == ([], 0, 58)

        unchanged["queues"]["escalation"][0]["after_seconds"] = -1
        async with http.post(f"{web_stack.url}/api/rules/preview", json={"document": unchanged},
                             headers=web_stack.bearer("ada")) as r:
            checked = await r.json()
        assert not checked["valid"] and checked["routing"] is None


async def _explain(web_stack: WebStack, body: object, user: str = "ada") -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{web_stack.url}/api/route/explain", json=body, headers=web_stack.bearer(user)) as r:
        return r.status, await r.json()


async def test_route_explain_gives_scores_tiers_queue_and_when_each_tier_rings(
    web_stack: WebStack, hotline: Hotline
) -> None:
    answers = {"need": "difficulty", "sector": "industry", "size": "large", "departement": "oise"}
    status, result = await _explain(web_stack, {"answers": answers})
    assert status == 200, result
    assert result["source"] == "running" and result["queue"] == "rank-region-direccte"
    partners = result["partners"]
    assert isinstance(partners, list)
    assert [(p["id"], p["score"], p["tier"]) for p in partners[:2]] == [("region", 13, 0), ("direccte", 12, 1)]
    assert {p["tier"] for p in partners[2:]} == {2}
    # the skills counted: only the answers given (4 + 4 + 5 = 13; Oise is no skill of the Région)
    assert partners[0]["skills"] == {"need:difficulty": 4, "sector:industry": 4, "size:large": 5}
    assert [(s["after_seconds"], s["added"]) for s in result["escalation"]] == [  # type: ignore[union-attr]
        (0, ["region"]), (30, ["direccte"]), (90, ["cci", "cma", "mel"])]

    # the same caller against a proposed document: the rules from the form, not the running ones
    craftsman = {"need": "creation", "sector": "crafts", "size": "micro", "departement": "nord"}
    status, running = await _explain(web_stack, {"answers": craftsman})
    assert status == 200 and running["partners"][0]["id"] == "cma"  # type: ignore[index]
    status, proposed = await _explain(web_stack, {"answers": craftsman, "document": _crafts_to_mel(hotline)})
    assert status == 200 and proposed["source"] == "proposed"
    assert proposed["partners"][0]["id"] == "mel" and proposed["queue"] == "rank-mel-cma"  # type: ignore[index]

    status, general = await _explain(web_stack, {"answers": {}})  # pressed 0 at once
    assert status == 200 and general["queue"] == hotline.queues.general_queue


async def test_route_explain_refuses_an_answer_not_in_the_menu_naming_the_field(
    web_stack: WebStack, hotline: Hotline
) -> None:
    status, error = await _explain(web_stack, {"answers": {"need": "difficulty", "sector": "mining"}})
    assert status == 400 and error["error"] == "bad_answer"
    assert error["fields"] == [{"path": "answers.sector", "message": (
        "'mining' is not an answer of the menu; allowed: commerce, crafts, industry, services, liberal")}]
    assert "sector" in str(error["message"]) and "crafts" in str(error["message"])
    status, error = await _explain(web_stack, {"answers": {"colour": "blue"}})
    assert status == 400 and error["fields"][0]["path"] == "answers.colour"  # type: ignore[index]
    status, error = await _explain(web_stack, {"answers": {"size": "5"}})  # digits are not values
    assert status == 400 and "self_employed" in str(error["message"])
    status, error = await _explain(web_stack, {"document": hotline.model_dump(mode="json")})
    assert status == 400 and error["error"] == "bad_body"
    broken = hotline.model_dump(mode="json")
    broken["queues"]["escalation"][0]["after_seconds"] = -1
    status, error = await _explain(web_stack, {"answers": {}, "document": broken})
    assert status == 422 and error["fields"][0]["path"] == "queues.escalation[0].after_seconds"  # type: ignore[index]


async def test_route_explain_is_for_admins(web_stack: WebStack) -> None:
    for user in ("alice", "sam"):
        status, error = await _explain(web_stack, {"answers": {}}, user)
        assert status == 403 and error["error"] == "forbidden", (user, error)
    async with aiohttp.ClientSession() as http, http.post(
            f"{web_stack.url}/api/route/explain", json={"answers": {}}) as r:
        assert r.status == 401


async def test_rules_page_has_the_routing_effect_and_the_profile_test_in_french(
    web_stack: WebStack, hotline: Hotline
) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            f"{web_stack.url}/rules", headers=web_stack.bearer("ada")) as r:
        page = await r.text()
    assert "Effet sur l&#x27;acheminement" in page or "Effet sur l'acheminement" in page
    assert "Tester un profil" in page
    for question in ("Besoin", "Secteur", "Taille", "Département"):
        assert f"<label>{question} <select" in page
    for step in hotline.menu.steps:
        for option in step.options:
            assert f'<option value="{option.value}">' in page
    assert "<th>réponses</th><th>avant</th><th>après</th>" in page
    assert "<th>partenaire</th><th>score</th><th>rang</th>" in page


async def test_a_domain_refusal_keeps_its_own_code_not_unknown_line(web_stack: WebStack) -> None:
    """Pausing a line that is not logged in is a 409 not_logged_in (it used to read 404 unknown_line)."""
    web_stack.desk.logged_out.add("cma-08")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{web_stack.url}/api/agents/cma-08/pause", headers=web_stack.bearer("sam"),
                                 json={"reason": "repas"}) as r:
                body = await r.json()
            assert (r.status, body["error"]) == (409, "not_logged_in")
            async with http.post(f"{web_stack.url}/api/agents/zz-99/pause", headers=web_stack.bearer("sam"),
                                 json={"reason": "repas"}) as r:
                assert (r.status, (await r.json())["error"]) == (404, "unknown_line")
    finally:
        web_stack.desk.logged_out.discard("cma-08")
