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


def test_each_queue_has_every_line_with_skill_penalties() -> None:
    queues = render_default_conf(HOTLINE)["queues.conf"]
    crafts = queues.split("[sector-crafts]")[1].split("\n[")[0]
    members = re.findall(r"^member => PJSIP/([a-z]+-\d\d),(\d)", crafts, re.M)
    assert len(members) == 36
    penalties = dict(members)
    assert penalties["cma-01"] == "0"  # crafts level 5
    assert penalties["cci-01"] == "9"  # no crafts skill: only when the pool widens to all


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
