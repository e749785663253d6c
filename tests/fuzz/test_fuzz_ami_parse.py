"""Fuzz: the AMI stream parser (``queues.ami_parse``) on arbitrary bytes.

Never raises; the same messages whatever the reads the bytes arrive in; well-formed
messages come back whole, whatever their values hold (a caller's name included).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from queues.ami_parse import BANNER_PREFIX, MULTI_VALUE_SEPARATOR, AmiStreamParser, parse_ami_stream
from tests.fuzz.harness import fuzz

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
FRAGMENT = st.one_of(
    st.binary(max_size=24),
    st.sampled_from([
        b"\r\n", b"\n", b"\r", b"\r\n\r\n", b":", b": ", b"Event: ", b"Response: Success\r\n", BANNER,
        BANNER_PREFIX.encode(), b"Output: x\r\n", b"--END COMMAND--\r\n",
        b"\xc3", b"\xa9", b"\xe2\x82", b"\xac", b"\xf0\x9f\x98", b"\x80", b"\xff", b"\xed\xa0\x80",
        "Zoé €😀".encode(),
    ]),
    st.text(max_size=12).map(str.encode),
)
STREAM = st.lists(FRAGMENT, max_size=24).map(b"".join)


def feed_in_pieces(raw: bytes, cuts: list[int], *, recording: bool) -> tuple[list[dict[str, str]], str | None]:
    parser = AmiStreamParser(recording=recording)
    messages: list[dict[str, str]] = []
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        messages.extend(parser.feed(raw[start:end]))
    return messages, parser.banner


@fuzz("ami_parse", long=90_000)
@given(STREAM, st.data())
@example(BANNER + b"Event: A\r\nK: \xc3\r\n\r\n", None)
def test_any_byte_stream_split_anywhere_gives_the_same_messages(raw: bytes, data: st.DataObject | None) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6))) if data else list(range(1, len(raw)))
    for recording in (False, True):
        whole, banner = feed_in_pieces(raw, [], recording=recording)
        assert feed_in_pieces(raw, cuts, recording=recording) == (whole, banner)
        for message in whole:
            assert message and all(isinstance(k, str) and isinstance(v, str) for k, v in message.items())
            assert all(key and "\n" not in key for key in message)
    assert parse_ami_stream(raw) == feed_in_pieces(raw, [], recording=True)[0]


KEY = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=":\r\n"), min_size=1, max_size=10).filter(
    lambda key: key == key.strip())
VALUE = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=20),
    st.sampled_from([BANNER_PREFIX + "11.0.0", f"x {BANNER_PREFIX}1", "a: b", " lead", ""]),
)
MESSAGE = st.lists(st.tuples(KEY, VALUE), min_size=1, max_size=6)


def expected(pairs: list[tuple[str, str]]) -> dict[str, str]:
    message: dict[str, str] = {}
    for key, value in pairs:
        message[key] = value if key not in message else message[key] + MULTI_VALUE_SEPARATOR + value
    return message


@fuzz("ami_parse", long=60_000)
@given(st.lists(MESSAGE, max_size=4), st.data())
@example([[("Event", "Newchannel"), ("CallerIDName", BANNER_PREFIX + "11.0.0"), ("Uniqueid", "1.1")]], None)
def test_well_formed_messages_come_back_whole_whatever_their_values(
    messages: list[list[tuple[str, str]]], data: st.DataObject | None
) -> None:
    """A live connection: after the banner, a value is a value, even one that reads like a banner."""
    raw = BANNER + b"".join(b"".join(f"{k}: {v}\r\n".encode() for k, v in m) + b"\r\n" for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=4))) if data else []
    parsed, banner = feed_in_pieces(raw, cuts, recording=False)
    assert banner == BANNER.decode().strip()
    assert parsed == [expected(m) for m in messages]
