import re

from aiguilleur.cli import conf_drift, render_default_conf
from aiguilleur.confgen import render
from config.loader import load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT, AmiSettings, FastAgiSettings, PbxSettings

HOTLINE: Hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")


def test_committed_asterisk_conf_matches_the_generator() -> None:
    """Edit config/hotline.yaml, then `aiguilleur conf generate` and commit: this test says when."""
    assert conf_drift(render_default_conf(HOTLINE), REPO_ROOT / "asterisk_conf") == []


def test_sip_and_ami_bind_to_loopback_by_default() -> None:
    files = render_default_conf(HOTLINE)
    assert "bind=127.0.0.1:5060" in files["pjsip.conf"]
    assert "bindaddr=127.0.0.1" in files["manager.conf"]
    assert "0.0.0.0" not in files["pjsip.conf"]
    assert "autoload=no" in files["modules.conf"]


def test_every_line_is_an_endpoint_with_a_contact() -> None:
    pjsip = render_default_conf(HOTLINE)["pjsip.conf"]
    endpoints = re.findall(r"^\[([a-z]+-\d\d)\]\(line-template\)$", pjsip, re.M)
    assert len(endpoints) == 36
    assert "contact=sip:mel-04@127.0.0.1:5070" in pjsip


def test_queues_have_no_static_members_and_keep_logins_across_restarts() -> None:
    queues = render_default_conf(HOTLINE)["queues.conf"]
    assert "member =>" not in queues  # advisors log in (dynamic members)
    assert "persistentmembers=yes" in queues
    crafts = queues.split("[sector-crafts]")[1].split("\n[")[0]
    assert "autopause=all" in crafts  # a line that rings out unanswered is not rung again and again
    assert "joinempty=invalid" in crafts  # nobody logged in: the caller does not wait for no one


def test_login_membership_carries_skill_penalties_and_wrapup() -> None:
    from routing.rules import membership_of

    cma = membership_of(HOTLINE, "cma-01")
    assert cma.penalties["sector-crafts"] == 0  # crafts level 5
    assert membership_of(HOTLINE, "cci-01").penalties["sector-crafts"] == 9  # only when the pool widens to all
    assert cma.wrapup_seconds == 15
    assert "sector-crafts:0" in cma.encoded().split("/")


def test_feature_codes_are_in_the_lines_context() -> None:
    dialplan = render_default_conf(HOTLINE)["extensions.conf"]
    lines = dialplan.split("[lines]")[1].split("\n[")[0]
    for code in ("exten => *45,", "exten => *46,", "exten => _*47X,", "exten => *48,"):
        assert code in lines
    assert "AIGUILLEUR_PAUSE_2=repas" in dialplan


def test_queue_rules_widen_the_pool_in_config_order() -> None:
    rules = render_default_conf(HOTLINE)["queuerules.conf"]
    assert re.findall(r"penaltychange => (\d+),(\d+)", rules) == [("30", "4"), ("90", "9")]


def test_ports_follow_the_settings() -> None:
    files = render(HOTLINE, PbxSettings(sip_port=25060, line_contact_port=25070),
                   AmiSettings(port=25038), FastAgiSettings(port=24573))
    assert "bind=127.0.0.1:25060" in files["pjsip.conf"]
    assert "@127.0.0.1:25070" in files["pjsip.conf"]
    assert "port=25038" in files["manager.conf"]
    assert "agi://127.0.0.1:24573/ivr" in files["extensions.conf"]


def test_advisors_feature_codes_and_logins_leave_no_call_record() -> None:
    dialplan = render_default_conf(HOTLINE)["extensions.conf"]
    for context in ("[lines]", "[advisor-login]"):
        body = dialplan.split(context)[1].split("\n[")[0]
        starts = re.findall(r"^exten => [^,]+,1,(.*)$", body, re.M)
        assert starts and all(step == "Set(CDR_PROP(disable)=1)" for step in starts)
