"""The pure AMI parser: hand-written framing, every split of a read, and real Asterisk 22 traces."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

import queues.ami_parse
from queues.ami_parse import AmiStreamParser, parse_ami_stream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = (
    b"Response: Success\r\nActionID: L1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 5\r\nLastReload: 5\r\n"
    b"Status: Fully Booted\r\n\r\n"
)
JOSE_EVENT = ("Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Probe\r\nName: José Müller\r\n\r\n").encode()


def feed_in_pieces(raw: bytes, cuts: list[int]) -> list[dict[str, str]]:
    parser = AmiStreamParser()
    messages: list[dict[str, str]] = []
    edges = [0, *cuts, len(raw)]
    for start, end in itertools.pairwise(edges):
        messages += parser.feed(raw[start:end])
    return messages


def test_banner_is_not_a_message_and_messages_keep_asterisk_keys() -> None:
    parser = AmiStreamParser()

    messages = parser.feed(BANNER + LOGIN_OK)

    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert messages == [
        {"Response": "Success", "ActionID": "L1", "Message": "Authentication accepted"},
        {
            "Event": "FullyBooted",
            "Privilege": "system,all",
            "Uptime": "5",
            "LastReload": "5",
            "Status": "Fully Booted",
        },
    ]


def test_every_two_way_split_of_the_stream_gives_the_same_messages() -> None:
    raw = BANNER + LOGIN_OK + JOSE_EVENT
    whole = parse_ami_stream(raw)

    for cut in range(1, len(raw)):
        assert feed_in_pieces(raw, [cut]) == whole, f"split at byte {cut}"


def test_one_byte_reads_keep_a_character_split_across_reads() -> None:
    raw = BANNER + JOSE_EVENT
    jose_at = raw.index("é".encode())

    messages = feed_in_pieces(raw, list(range(1, len(raw))))

    assert raw[jose_at : jose_at + 2] == b"\xc3\xa9"  # the split really cuts a character
    assert messages == [{"Event": "UserEvent", "Privilege": "user,all", "UserEvent": "Probe", "Name": "José Müller"}]


def test_invalid_utf8_becomes_replacement_char_and_the_event_is_kept() -> None:
    raw = b"Event: Hangup\r\nCallerIDName: Jos\xe9\xff\r\nUniqueid: 1.1\r\n\r\n"

    assert parse_ami_stream(raw) == [{"Event": "Hangup", "CallerIDName": "Jos\ufffd\ufffd", "Uniqueid": "1.1"}]


def test_command_output_lines_are_joined_with_newlines() -> None:
    raw = (
        b"Response: Success\r\nActionID: A3\r\nMessage: Command output follows\r\n"
        b"Output: System uptime: 5 seconds\r\nOutput: Last reload: 5 seconds\r\n\r\n"
    )

    assert parse_ami_stream(raw) == [
        {
            "Response": "Success",
            "ActionID": "A3",
            "Message": "Command output follows",
            "Output": "System uptime: 5 seconds\nLast reload: 5 seconds",
        }
    ]


def test_repeated_header_values_are_all_kept() -> None:
    raw = b"Event: Newchannel\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n"

    assert parse_ami_stream(raw) == [{"Event": "Newchannel", "ChanVariable": "A=1\nB=2"}]


def test_legacy_follows_body_lines_go_to_output() -> None:
    raw = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 9\r\nNo such command\r\n--END COMMAND--\r\n\r\n"

    assert parse_ami_stream(raw) == [
        {
            "Response": "Follows",
            "Privilege": "Command",
            "ActionID": "9",
            "Output": "No such command\n--END COMMAND--",
        }
    ]


def test_values_keep_colons_and_may_be_empty() -> None:
    raw = b"Event: RequestBadFormat\r\nRequestType: Action: Nope\r\nSystemName: \r\nX:\r\n\r\n"

    assert parse_ami_stream(raw) == [
        {"Event": "RequestBadFormat", "RequestType": "Action: Nope", "SystemName": "", "X": ""}
    ]


def test_bare_lf_line_ends_and_extra_blank_lines_are_tolerated() -> None:
    raw = b"\r\n\r\nEvent: A\nK: v\n\n\r\n\nEvent: B\r\n\r\n"

    assert parse_ami_stream(raw) == [{"Event": "A", "K": "v"}, {"Event": "B"}]


def test_unterminated_trailing_message_is_not_delivered() -> None:
    raw = BANNER + LOGIN_OK + b"Event: Hangup\r\nUniqueid: 1.1\r\n"

    assert [m.get("Event") or m.get("Response") for m in parse_ami_stream(raw)] == [
        "Success",
        "FullyBooted",
    ]


def test_a_new_banner_discards_the_message_cut_by_the_previous_connection() -> None:
    # Recordings append connections; the first one here died mid-line.
    raw = BANNER + b"Event: Hangup\r\nUniqueid: 1." + BANNER + LOGIN_OK

    parser = AmiStreamParser()
    messages = parser.feed(raw)

    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert [m.get("Event") or m.get("Response") for m in messages] == ["Success", "FullyBooted"]


@pytest.mark.parametrize("name", ["asterisk22_session.raw", "asterisk22_restart.raw"])
def test_real_traces_parse_the_same_whatever_the_read_size(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    whole = parse_ami_stream(raw)

    for size in (1, 2, 3, 7, 64, 1000):
        assert feed_in_pieces(raw, list(range(size, len(raw), size))) == whole, size


def test_real_session_trace_replays_login_events_lists_and_utf8() -> None:
    messages = parse_ami_stream((FIXTURES / "asterisk22_session.raw").read_bytes())

    assert messages[0]["Response"] == "Success"
    assert messages[0]["Message"] == "Authentication accepted"
    assert messages[1]["Event"] == "FullyBooted"
    events = [m["Event"] for m in messages if "Event" in m]
    # QueueStatus: QueueParams + QueueMember items, then the Complete event.
    at = events.index("QueueParams")
    assert events[at : at + 3] == ["QueueParams", "QueueMember", "QueueStatusComplete"]
    complete = next(m for m in messages if m.get("Event") == "QueueStatusComplete")
    assert complete["EventList"] == "Complete"
    member = next(m for m in messages if m.get("Event") == "QueueMember")
    assert member["Name"] == "Agent Zoé"
    user_event = next(m for m in messages if m.get("Event") == "UserEvent")
    assert user_event["Caller"] == "José Müller"
    command = next(m for m in messages if m.get("Message") == "Command output follows")
    assert command["Output"].startswith("System uptime:")
    assert "\nLast reload:" in command["Output"]
    assert any(m.get("Ping") == "Pong" for m in messages)
    assert messages[-1]["Response"] == "Goodbye"


def test_real_restart_trace_holds_two_connections() -> None:
    messages = parse_ami_stream((FIXTURES / "asterisk22_restart.raw").read_bytes())

    labels = [m.get("Event") or m.get("Response") for m in messages]
    assert labels.count("FullyBooted") == 2
    shutdown = labels.index("Shutdown")
    assert labels.index("FullyBooted") < shutdown < len(labels) - 1 - labels[::-1].index("FullyBooted")
    user_events = [m["UserEvent"] for m in messages if m.get("Event") == "UserEvent"]
    assert user_events == ["BeforeRestart", "AfterRestart"]


def test_parser_module_imports_no_io_library() -> None:
    tree = ast.parse(Path(queues.ami_parse.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])

    assert imported <= {"__future__", "codecs", "typing"}, imported
