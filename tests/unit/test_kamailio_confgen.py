"""Kamailio's generated configuration (``kamailio_conf/``): the SIP front of the multi-node set-up."""

import re

import pydantic
import pytest

from aiguilleur.cli import KAMAILIO_CONF_DIR, conf_drift, render_default_conf, render_default_kamailio_conf
from aiguilleur.cluster import _ROUTE_LINE
from aiguilleur.kamailio_confgen import render
from config.loader import load_hotline
from config.settings import REPO_ROOT, PbxSettings, SipFrontSettings, SipNodeSettings


def test_committed_kamailio_conf_matches_the_generator() -> None:
    """Change the front's settings' defaults, then `aiguilleur conf generate` and commit: this test says when."""
    assert conf_drift(render_default_kamailio_conf(), KAMAILIO_CONF_DIR) == []


def test_the_front_listens_on_loopback_only_by_default() -> None:
    cfg = render_default_kamailio_conf()["kamailio.cfg"]
    assert re.findall(r"^listen=.*$", cfg, re.M) == ["listen=udp:127.0.0.5:5060"]
    assert "disable_tcp=yes" in cfg
    assert "0.0.0.0" not in cfg


def test_nodes_are_listed_highest_priority_first_whatever_the_settings_order() -> None:
    front = SipFrontSettings(port=15060, nodes=[
        SipNodeSettings(name="standby", host="127.0.0.3", port=5062, priority=1),
        SipNodeSettings(name="active", host="127.0.0.1", port=5061, priority=9),
    ])
    rows = [line.split() for line in render(front)["dispatcher.list"].splitlines() if not line.startswith("#")]
    assert rows == [
        ["1", "sip:127.0.0.1:5061", "0", "9", "duid=active;node=active"],
        ["1", "sip:127.0.0.3:5062", "0", "1", "duid=standby;node=standby"],
    ]
    cfg = render(front)["kamailio.cfg"]
    assert 'ds_select_dst("1", "8")' in cfg  # algorithm 8: by priority, the standby only when needed


def test_probing_and_invite_timeout_follow_the_settings() -> None:
    cfg = render(SipFrontSettings(probe_interval=3, invite_timeout_ms=1500))["kamailio.cfg"]
    assert 'modparam("dispatcher", "ds_ping_interval", 3)' in cfg
    assert 'modparam("tm", "fr_timer", 1500)' in cfg
    assert 'modparam("dispatcher", "flags", 2)' in cfg  # failover: ds_next_dst needs every node in the xavp


def test_nodes_must_differ() -> None:
    with pytest.raises(pydantic.ValidationError, match="distinct"):
        SipFrontSettings(nodes=[
            SipNodeSettings(name="a", host="127.0.0.1", port=5060, priority=2),
            SipNodeSettings(name="b", host="127.0.0.1", port=5060, priority=1),
        ])


def test_every_asterisk_node_takes_the_fronts_calls_as_the_trunks() -> None:
    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    pjsip = render_default_conf(hotline)["pjsip.conf"]
    assert f"match=127.0.0.2,{PbxSettings().front.host}" in pjsip


def test_the_routing_log_lines_are_what_the_cluster_reads_back() -> None:
    """``aiguilleur.cluster.routed()`` parses the lines the generated script logs for each INVITE sent."""
    cfg = render_default_kamailio_conf()["kamailio.cfg"]
    formats = re.findall(r'xlog\("L_INFO", "(at \$TV\(Sn\) (?:new call|call) [^"]*?)\\n"\)', cfg)
    assert len(formats) == 2  # first choice, failover
    parsed = []
    for fmt in formats:
        line = (fmt.replace("$TV(Sn)", "1764950000.123456").replace("$rU", "0800596280")
                .replace("$fU", "0320123456").replace("$du", "sip:127.0.0.1:5061"))
        match = _ROUTE_LINE.search(f" 2(123) INFO: {{1 1 INVITE x}} <script>: {line}")
        assert match is not None, line
        parsed.append(match.groups())
    assert parsed == [
        ("1764950000.123456", "0320123456", None, "sip:127.0.0.1:5061"),
        ("1764950000.123456", None, "0320123456", "sip:127.0.0.1:5061"),
    ]


def test_a_second_service_instance_is_tried_when_the_first_is_unreachable() -> None:
    from aiguilleur.confgen import render as render_asterisk
    from config.settings import AmiSettings, FastAgiSettings

    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    plain = render_asterisk(hotline, PbxSettings(), AmiSettings(), FastAgiSettings())["extensions.conf"]
    assert "AIGUILLEUR_AGI_BACKUP" not in plain  # the single-node default: unchanged
    dialplan = render_asterisk(hotline, PbxSettings(), AmiSettings(),
                               FastAgiSettings(backup_host="127.0.0.4", backup_port=4574))["extensions.conf"]
    assert "AIGUILLEUR_AGI_BACKUP=agi://127.0.0.4:4574/ivr" in dialplan
    hotline_in = dialplan.split("[hotline-in]", 1)[1]
    first = hotline_in.index("AGI(${AIGUILLEUR_AGI})")
    # the answers the first instance recorded go along: the menu goes on from there
    backup = hotline_in.index("AGI(${AIGUILLEUR_AGI_BACKUP},need=${CDR(aiguilleur_need)},"
                              "sector=${CDR(aiguilleur_sector)},size=${CDR(aiguilleur_size)},"
                              "departement=${CDR(aiguilleur_departement)})")
    fallback = hotline_in.index("AGI(aiguilleur-fallback")
    assert first < backup < fallback
    # Tried whenever the first instance did not decide and the caller is still there: a first
    # instance killed in the middle of the menu closes its socket, not always a FAILURE.
    assert '"${AGISTATUS}" = "HANGUP" | "${AIGUILLEUR_ACTION}" != ""]?agi_done' in hotline_in


def test_the_front_drops_any_line_header_and_names_the_line_of_an_advisors_own_call() -> None:
    """Every request loses an incoming X-Aiguilleur-Line before anything else; an INVITE gets one
    only when its From user is a registered line and it comes from that line's registered address,
    and only after the nodes' own INVITEs went to their advisor (TO_ADVISOR exits)."""
    cfg = render_default_kamailio_conf()["kamailio.cfg"]
    main = cfg.split("request_route {", 1)[1].split("\n}\n", 1)[0]
    assert main.index('remove_hf("X-Aiguilleur-Line");') < main.index('is_method("CANCEL")')
    invite = main.split('if (is_method("INVITE")) {', 1)[1]
    assert invite.index("route(TO_ADVISOR);") < invite.index("route(FROM_LINE);") < invite.index("route(DISPATCH);")
    from_line = cfg.split("route[FROM_LINE] {", 1)[1].split("\n}\n", 1)[0]
    assert 'reg_fetch_contacts("location", "$fu", "caller")' in from_line
    assert "if ($(ulc(caller=>addr)[$var(i)]{uri.host}) == $si) {" in from_line
    assert 'append_hf("X-Aiguilleur-Line: $fU\\r\\n");' in from_line
    assert cfg.count("append_hf(") == 1  # nowhere else
    route_advisor = cfg.split("route[TO_ADVISOR] {", 1)[1].split("\n}\n", 1)[0]
    assert "route(RELAY);" in route_advisor  # RELAY exits: a node's INVITE never reaches FROM_LINE
