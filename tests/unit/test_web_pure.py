"""The web layer's pure parts: policy, CSRF, passwords, view models, metrics text, escaping, OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.models import Hotline
from config.settings import REPO_ROOT
from queues.state import LiveState
from routing.rules import diff_rules
from tests.unit.test_core_is_pure import FORBIDDEN, imported_modules, local_module_file
from tests.web.conftest import booted_live
from web import pages, screen
from web.app import ROUTES, openapi_document
from web.metrics import Health, render
from web.passwords import WeakPassword, check_strength, hash_password, verify_password
from web.roles import AccessDenied, allows, check, may_act_on_line
from web.rules_form import validate_document
from web.security import check_csrf, same_origin
from web.wallboard import PartnerInfo, TodayStats, build

PURE = ["web/roles.py", "web/passwords.py", "web/security.py", "web/wallboard.py", "web/metrics.py",
        "web/screen.py", "web/rules_form.py", "web/pages.py", "web/openapi.py", "web/login_failures_page.py"]
HOSTILE = '<script>alert("x")</script>'


@pytest.mark.parametrize("module", PURE)
def test_web_pure_module_reaches_no_io_library(module: str) -> None:
    seen: set[Path] = set()
    todo = [REPO_ROOT / module]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            assert not ({name, name.split(".")[0]} & FORBIDDEN), f"{module} reaches {name} via {path}"
            local = local_module_file(name)
            if local is not None:
                todo.append(local)


def test_roles_include_the_ones_below() -> None:
    assert allows("admin", "supervisor") and allows("supervisor", "advisor") and allows(None, "public")
    assert not allows("advisor", "supervisor") and not allows("supervisor", "admin") and not allows(None, "advisor")
    assert not allows("root", "advisor")
    with pytest.raises(AccessDenied) as missing:
        check(None, "advisor")
    assert missing.value.status == 401
    with pytest.raises(AccessDenied) as low:
        check("advisor", "admin")
    assert low.value.status == 403
    with pytest.raises(AccessDenied) as unlisted:
        check("admin", None)  # a route the table does not know: refused, even to an admin
    assert unlisted.value.status == 403


def test_an_advisor_acts_on_their_own_line_only() -> None:
    assert may_act_on_line("advisor", "cma-01", "cma-01")
    assert not may_act_on_line("advisor", "cma-01", "cma-02") and not may_act_on_line("advisor", None, "cma-01")
    assert may_act_on_line("supervisor", None, "cma-02")


def test_csrf_needs_the_token_on_cookie_changes_and_a_same_site_origin() -> None:
    common = {"session_csrf": "t0ken", "host": "127.0.0.1:8080"}
    check_csrf("GET", by_cookie=True, supplied=None, origin=None, **common)
    check_csrf("POST", by_cookie=True, supplied="t0ken", origin="http://127.0.0.1:8080", **common)
    check_csrf("POST", by_cookie=False, supplied=None, origin=None, **common)  # bearer: not sent by browsers
    for supplied, origin in (("nope", None), (None, None), ("t0ken", "http://evil.example"), ("t0ken", "null")):
        with pytest.raises(AccessDenied):
            check_csrf("DELETE", by_cookie=True, supplied=supplied, origin=origin, **common)
    assert same_origin(None, "x") and not same_origin("http://a:1", "a:2")


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password("a long passphrase", log2_n=10), hash_password("a long passphrase", log2_n=10)
    assert first != second and first.startswith("scrypt$10$8$1$")
    assert verify_password("a long passphrase", first) and not verify_password("a long passphrasE", first)
    for broken in ("", "scrypt$x", "md5$1$2$3$4$5", first.replace("$10$", "$40$")):
        assert not verify_password("a long passphrase", broken)
    with pytest.raises(WeakPassword):
        check_strength("short")


@pytest.fixture
def live(hotline: Hotline) -> LiveState:
    return booted_live(hotline)


def partners(hotline: Hotline) -> list[PartnerInfo]:
    return [PartnerInfo(p.id, p.name, tuple(p.line_ids())) for p in hotline.partners]


def test_wallboard_counts_callers_waits_and_lines_by_state(hotline: Hotline, live: LiveState) -> None:
    now = live.now + 30
    live.apply({"Event": "QueueCallerJoin", "Timestamp": str(live.now + 1), "Uniqueid": "1.1", "Linkedid": "1.1",
                "Queue": "sector-crafts", "CallerIDNum": "0320", "CallerIDName": HOSTILE, "Position": "1"})
    for queue in live.snapshot().lines["cma-02"].queues:
        live.apply({"Event": "QueueMemberPause", "Timestamp": str(live.now + 2), "Queue": queue,
                    "MemberName": "cma-02", "Interface": "PJSIP/cma-02", "Paused": "1", "PausedReason": "repas",
                    "Status": "1"})
    today = {"sector-crafts": TodayStats(10, 8, 6, 2, 0.6)}
    board = build(live.snapshot(), partners(hotline), today, now, today_overall=TodayStats(20, 15, 12, 5, 0.6))
    crafts = next(q for q in board.queues if q.name == "sector-crafts")
    assert crafts.waiting == 1 and crafts.longest_wait_seconds == 29 and crafts.callers[0].name == HOSTILE
    # The caller has waited 29 s > 20 s: counted against the service level (cdr.kpi.service_level_live).
    assert crafts.service_level_today == pytest.approx(6 / 11) and board.service_level_today == pytest.approx(12 / 21)
    cma = next(p for p in board.partners if p.id == "cma")
    assert sum(cma.counts.values()) == 8 and cma.counts["paused"] == 1
    paused = next(line for line in cma.lines if line.line == "cma-02")
    assert paused.status == "paused" and paused.paused_reason == "repas"
    html = pages.wallboard_body(board)
    assert HOSTILE not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_metrics_text_has_queue_line_and_health_series(hotline: Hotline, live: LiveState) -> None:
    health = Health(True, 3, 5, 1.5, 100, 0, 0, 2, 4, 9)
    text = render(live.snapshot(), {line: p.id for line, p in hotline.lines()}, {}, health, live.now)
    assert "# TYPE asterisk_queue_callers gauge" in text and "aiguilleur_cdr_spool_depth 3" in text
    assert "aiguilleur_cdr_write_lag_seconds 1.5" in text and "aiguilleur_ami_connected 1" in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+',
                                                     line), line
    hostile = render(live.snapshot(), {"x-01": 'a"b\\c\nd'}, {}, health, live.now)  # a label value is escaped
    assert 'partner="a\\"b\\\\c\\nd"' in hostile


def test_json_for_the_page_cannot_close_its_script_element() -> None:
    text = pages.json_script("x", {"name": "</script><script>alert(1)</script>"})
    assert text.count("</script>") == 1 and text.endswith("</script>")


def test_memo_matches_need_and_sector_and_pages_escape_it(hotline: Hotline) -> None:
    sections = [screen.MemoSection(1, "Tous", "b"), screen.MemoSection(2, "Difficulté", "b", needs=("difficulty",)),
                screen.MemoSection(3, HOSTILE, "b", sectors=("crafts",)),
                screen.MemoSection(4, "Commerce", "b", sectors=("commerce",))]
    assert [s.id for s in screen.relevant_memo(sections, "difficulty", "crafts")] == [1, 2, 3]
    assert [s.id for s in screen.relevant_memo(sections, None, None)] == [1]
    html = pages.memo_page(sections, hotline, pages.PageUser("ada", "admin", None), "tok")
    assert HOSTILE not in html and "&lt;script&gt;" in html


def test_rules_errors_name_their_field_and_the_diff_names_what_changed(hotline: Hotline) -> None:
    document = hotline.model_dump(mode="json")
    document["queues"]["escalation"][0]["after_seconds"] = -1
    document["hours"]["week"]["monday"][0]["close"] = "07:00"
    model, errors = validate_document(document)
    assert model is None
    assert {e.path for e in errors} == {"queues.escalation[0].after_seconds", "hours.week.monday[0]"}
    changed = hotline.model_copy(update={"version": hotline.version + 1})
    assert diff_rules(hotline, changed) == [f"~ version: {hotline.version} -> {hotline.version + 1}"]


def test_openapi_document_describes_every_api_route() -> None:
    doc = openapi_document()
    api = {(r.method.lower(), r.path) for r in ROUTES if r.path.startswith("/api/")}
    assert api == {(m, p) for p, ops in doc["paths"].items() for m in ops}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if op["x-access"] != "public":
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_wallboard_leaves_idle_ranking_queues_off_the_screen(hotline: Hotline, live: LiveState) -> None:
    """Dozens of ranking queues: a wall screen shows those with callers or calls today, and a count of the rest."""
    stamp = live.now + 1
    for uniqueid, queue in (("2.1", "rank-cma-cci"), ("2.2", "rank-mel-cci")):
        live.apply({"Event": "QueueCallerJoin", "Timestamp": str(stamp), "Uniqueid": uniqueid, "Linkedid": uniqueid,
                    "Queue": queue, "CallerIDNum": "0320", "CallerIDName": "x", "Position": "1"})
    live.apply({"Event": "QueueCallerLeave", "Timestamp": str(stamp + 1), "Uniqueid": "2.2", "Queue": "rank-mel-cci",
                "Position": "1", "Count": "0"})
    live.apply({"Event": "QueueCallerJoin", "Timestamp": str(stamp + 2), "Uniqueid": "2.3", "Linkedid": "2.3",
                "Queue": "rank-region-direccte", "CallerIDNum": "0321", "CallerIDName": "y", "Position": "1"})
    live.apply({"Event": "QueueCallerLeave", "Timestamp": str(stamp + 3), "Uniqueid": "2.3",
                "Queue": "rank-region-direccte", "Position": "1", "Count": "0"})
    today = {"rank-region-direccte": TodayStats(3, 3, 3, 0, 1.0)}
    board = build(live.snapshot(), partners(hotline), today, live.now + 5)

    shown = {q.name for q in board.queues}
    assert {"rank-cma-cci", "rank-region-direccte", "hotline"} <= shown  # a caller now; calls today; not a ranking
    assert "rank-mel-cci" not in shown and board.idle_queues >= 1
    assert f"+ {board.idle_queues} files de profil" in pages.wallboard_body(board)
