import re

import pytest

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
    # the only 0.0.0.0: the lines' ACL denying every address but the front's and the softphones'
    assert [line for line in files["pjsip.conf"].splitlines() if "0.0.0.0" in line] == ["deny=0.0.0.0/0.0.0.0"]
    assert "autoload=no" in files["modules.conf"]


def test_every_line_is_an_endpoint_with_a_contact() -> None:
    pjsip = render_default_conf(HOTLINE)["pjsip.conf"]
    endpoints = re.findall(r"^\[([a-z]+-\d\d)\]\(line-template\)$", pjsip, re.M)
    assert len(endpoints) == 36 + 2  # the partners' lines and the two supervisors' softphones
    assert endpoints[-2:] == HOTLINE.advisors.supervisor_lines == ["sup-01", "sup-02"]
    assert "contact=sip:mel-04@127.0.0.1:5070" in pjsip and "contact=sip:sup-02@127.0.0.1:5070" in pjsip


def test_a_supervisor_line_cannot_be_a_partner_line() -> None:
    import pydantic

    data = HOTLINE.model_dump(mode="json")
    data["advisors"]["supervisor_lines"] = ["sup-01", "cma-01"]
    with pytest.raises(pydantic.ValidationError, match=r"advisors.supervisor_lines: \['cma-01'\] are partner lines"):
        Hotline.model_validate(data)


def test_queues_have_no_static_members_and_keep_logins_across_restarts() -> None:
    queues = render_default_conf(HOTLINE)["queues.conf"]
    assert "member =>" not in queues  # advisors log in (dynamic members)
    assert "persistentmembers=yes" in queues
    crafts = queues.split("[rank-cma]")[1].split("\n[")[0]
    assert "autopause=all" in crafts  # a line that rings out unanswered is not rung again and again
    assert "joinempty=invalid" in crafts  # nobody logged in: the caller does not wait for no one


def test_login_membership_carries_skill_penalties_and_wrapup() -> None:
    from routing.rules import membership_of

    cma = membership_of(HOTLINE, "cma-01")
    assert cma.penalties["rank-cma-cci"] == 0  # best tier of that ranking
    assert membership_of(HOTLINE, "cci-01").penalties["rank-cma-cci"] == 1  # second tier
    assert membership_of(HOTLINE, "mel-01").penalties["rank-cma-cci"] == 2  # everyone else
    assert cma.wrapup_seconds == 15
    assert "rank-cma-cci:0" in cma.encoded().split("/")


def test_logins_read_each_partners_membership_from_the_dialplan_globals() -> None:
    """No AMI header carries the list (Asterisk drops manager lines over 1024 bytes)."""
    from routing.rules import membership_of

    dialplan = render_default_conf(HOTLINE)["extensions.conf"]
    for partner in HOTLINE.partners:
        line = partner.line_ids()[0]
        assert f"AIGUILLEUR_MEMBERSHIP_{partner.id}={membership_of(HOTLINE, line).encoded()}\n" in dialplan
        assert f"AIGUILLEUR_WRAPUP_{partner.id}={partner.wrapup_seconds}\n" in dialplan
    join = dialplan.split("[advisor-join]")[1].split("\n[")[0]
    assert "${AIGUILLEUR_MEMBERSHIP_${partner}}" in join
    assert not re.search(r"^ same => n,ExecIf", join, re.M)


def test_feature_codes_are_in_the_lines_context() -> None:
    dialplan = render_default_conf(HOTLINE)["extensions.conf"]
    lines = dialplan.split("[lines]")[1].split("\n[")[0]
    for code in ("exten => *45,", "exten => *46,", "exten => _*47X,", "exten => *48,"):
        assert code in lines
    assert "AIGUILLEUR_PAUSE_2=repas" in dialplan


def test_queue_rules_widen_the_pool_in_config_order() -> None:
    rules = render_default_conf(HOTLINE)["queuerules.conf"]
    # Relative: a caller who starts past an absent tier widens by the same steps.
    assert re.findall(r"penaltychange => (\d+),([+]\d+)", rules) == [("30", "+1"), ("90", "+8")]


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


# --- transfers between partners (queues.transfers) ---------------------------------------------
def _context(dialplan: str, name: str) -> str:
    return dialplan.split(f"\n[{name}]\n")[1].split("\n[")[0]


def test_features_conf_gives_advisors_blind_and_attended_transfer_codes() -> None:
    from queues.transfers import ATTENDED_TRANSFER_CODE, BLIND_TRANSFER_CODE

    features = render_default_conf(HOTLINE)["features.conf"]
    featuremap = features.split("[featuremap]\n")[1]
    assert f"blindxfer => {BLIND_TRANSFER_CODE}\n" in featuremap
    assert f"atxfer => {ATTENDED_TRANSFER_CODE}\n" in featuremap
    assert "transferdigittimeout=3\n" in features.split("[featuremap]")[0]
    # Digits after the code end at '#' (ast_app_dtget): no partner extension may hold one.
    assert "#" not in BLIND_TRANSFER_CODE[1:] + ATTENDED_TRANSFER_CODE


def test_each_partner_digit_transfers_to_that_partners_queue_in_config_order() -> None:
    from routing.router import queue_names

    dialplan = render_default_conf(HOTLINE)["extensions.conf"]
    assert "\nTRANSFER_CONTEXT=advisor-transfer\n" in dialplan.split("\n[hotline-in]")[0]  # a global
    targets = dict(re.findall(r"^exten => (\S+?),1,Goto\(advisor-transfer-queue,([a-z-]+),1\)", _context(
        dialplan, "advisor-transfer"), re.M))
    assert targets == {"*51": "partner-direccte", "*52": "partner-region", "*53": "partner-cma",
                       "*54": "partner-cci", "*55": "partner-mel"}
    assert list(targets.values()) == [f"partner-{p.id}" for p in HOTLINE.partners]
    queues = render_default_conf(HOTLINE)["queues.conf"]
    for queue in targets.values():
        assert queue in queue_names(HOTLINE) and f"\n[{queue}]\n" in queues


def test_a_transferred_caller_queues_ahead_of_everyone_with_the_ivr_profile() -> None:
    from queues.transfers import PROFILE_VARIABLES, TRANSFER_PRIORITY
    from routing.router import REPEAT_CALLER_PRIORITY

    dialplan = render_default_conf(HOTLINE)["extensions.conf"]
    body = _context(dialplan, "advisor-transfer-queue")
    assert TRANSFER_PRIORITY == 2 > REPEAT_CALLER_PRIORITY
    assert f" same => n(queue),Set(QUEUE_PRIO={TRANSFER_PRIORITY})\n" in body
    assert f" same => n,Set(QUEUE_MAX_PENALTY={HOTLINE.queues.escalation[0].max_penalty})\n" in body
    assert " same => n,Queue(${EXTEN},t,,,${AIGUILLEUR_MAX_WAIT},,,escalation)\n" in body  # t: may transfer again
    # Only a transfer gets in; an attended one's Local channel copies the caller's answers.
    assert body.startswith('exten => _[a-z].,1,GotoIf($["${BLINDTRANSFER}${ATTENDEDTRANSFER}" = ""]?refused)')
    for var in PROFILE_VARIABLES:
        assert f" same => n,Set({var}=${{IMPORT(${{CHANNEL(linkedid)}},{var})}})\n" in body
    assert set(PROFILE_VARIABLES) == {"AIGUILLEUR_NEED", "AIGUILLEUR_SECTOR", "AIGUILLEUR_SIZE",
                                      "AIGUILLEUR_DEPARTEMENT"}
    # Nobody of that partner logged in: the general queue, not a dropped caller.
    assert " same => n(general),Queue(${AIGUILLEUR_GENERAL_QUEUE}," in body
    # The queue calls themselves let the advisor transfer (Queue option t).
    assert re.search(r"^ same => n,Queue\(\$\{AIGUILLEUR_QUEUE\},t,", _context(dialplan, "hotline-in"), re.M)


def test_partner_numbers_take_two_digits_from_ten_partners() -> None:
    from queues.transfers import UnknownPartner, partner_numbers, transfer_extension

    assert transfer_extension(HOTLINE, "cci") == "*54"
    with pytest.raises(UnknownPartner):
        transfer_extension(HOTLINE, "nope")
    many = HOTLINE.model_copy(update={"partners": [
        HOTLINE.partners[0].model_copy(update={"id": f"p{i}"}) for i in range(1, 11)]})
    numbers = partner_numbers(many)
    assert numbers["p1"] == "01" and numbers["p10"] == "10" and len(set(numbers.values())) == 10


def test_a_lingering_queue_stays_defined_for_the_callers_waiting_in_it() -> None:
    queues = render(HOTLINE, PbxSettings(), AmiSettings(), FastAgiSettings(),
                    lingering_queues=["rank-old", "hotline"])["queues.conf"]
    names = re.findall(r"^\[([^\]]+)\]$", queues, re.M)
    assert names.count("hotline") == 1 and names[-1] == "rank-old"
    assert "autopause=all" in queues.split("[rank-old]")[1]


def test_the_manager_eventfilter_lets_through_every_event_a_consumer_handles() -> None:
    """manager.conf sends only AMI_EVENTS (+ VarSet QUEUESTATUS): a handler added for another event
    would never be called against a real Asterisk, so the handler tables must stay within the list."""
    from aiguilleur.availability import TRIGGER_EVENTS
    from aiguilleur.confgen import AMI_EVENTS, AMI_VARSET_VARIABLES
    from cdr.correlator import CdrCorrelator
    from cdr.queue_log import QueueLogBuilder
    from queues.state import LiveState

    allowed = {name.lower() for name in AMI_EVENTS}
    replies = {"queuemember"}  # QueueStatus's list replies: not events, never filtered
    handled = {name for name in CdrCorrelator.HANDLERS if name not in replies}
    handled |= {name.lower() for name in LiveState()._handlers}
    handled |= {name.removeprefix("_on_") for name in dir(QueueLogBuilder) if name.startswith("_on_")}
    handled |= {name.lower() for name in TRIGGER_EVENTS}
    handled |= {"hangup", "agentconnect", "dialend"}  # queues.callback.CallbackTracker.feed
    assert handled - allowed == set()
    conf = render_default_conf(load_hotline(REPO_ROOT / "config" / "hotline.yaml"))["manager.conf"]
    for name in AMI_EVENTS:
        assert f"eventfilter(action(include),name({name})) =" in conf
    assert AMI_VARSET_VARIABLES == ("QUEUESTATUS",)
    assert "eventfilter(action(include),name(VarSet),header(Variable),method(exact)) = QUEUESTATUS" in conf


def _section(pjsip: str, name: str) -> list[str]:
    """The option lines of section ``[name]`` (the first one so named)."""
    block = pjsip.split(f"\n{name}\n", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()


def test_the_front_names_the_line_and_only_the_fronts_or_softphones_address_is_taken_as_a_line() -> None:
    """A line's own call through Kamailio comes from the trunk's address: the node identifies it by
    ``X-Aiguilleur-Line``, looked at before the source address; a forged header from any other
    address (the trunk's) names a line whose ACL refuses that address (Asterisk 22 answers 401), never [lines]."""
    front = PbxSettings().front.host
    pjsip = render_default_conf(HOTLINE)["pjsip.conf"]
    assert _section(pjsip, "[global]") == ["type=global", "endpoint_identifier_order=header,ip,username,anonymous"]
    template = _section(pjsip, "[line-template](!)")
    assert "context=lines" in template and "identify_by=username,header" in template
    assert template[-2:] == ["deny=0.0.0.0/0.0.0.0", f"permit={front}/255.255.255.255,127.0.0.1/255.255.255.255"]
    assert _section(pjsip, "[cma-01-via-front]") == [
        "type=identify", "endpoint=cma-01", "match_header=X-Aiguilleur-Line: cma-01"]
    assert _section(pjsip, "[sup-02-via-front]")[-1] == "match_header=X-Aiguilleur-Line: sup-02"
    assert len(re.findall(r"^match_header=", pjsip, re.M)) == 36 + 2
    # the trunk is still whatever comes from its address or the front's, without the header
    assert _section(pjsip, "[pstn-identify]") == ["type=identify", "endpoint=pstn", f"match=127.0.0.2,{front}"]
    trunk = _section(pjsip, "[pstn]")
    assert not any(line.startswith(("deny=", "permit=", "identify_by=")) for line in trunk)


def test_in_the_cluster_a_line_is_only_taken_from_the_front() -> None:
    """SandboxCluster's nodes: every line's contact is the front, so the ACL permits the front alone."""
    pbx = PbxSettings(line_contact_host=PbxSettings().front.host, line_contact_port=15060)
    pjsip = render(HOTLINE, pbx, AmiSettings(), FastAgiSettings())["pjsip.conf"]
    assert f"permit={pbx.front.host}/255.255.255.255" in _section(pjsip, "[line-template](!)")
