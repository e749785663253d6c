"""Fuzz: cdr_custom's JSON lines as recovery reads them (``cdr.recovery.parse_cdr_file``).

Any text never raises; a line written the way Asterisk writes it (``asterisk_conf/cdr_custom.conf``:
uservars as strings, times as doubles, the caller's number and name base64) comes back whole.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from cdr.asterisk_fields import ANSWERS, CALLER_NAME, CALLER_NUMBER, HOTLINE_MARK, ROUTING, cdr_variable
from cdr.correlator import caller_clid
from cdr.recovery import AsteriskCdr, file_lines, parse_cdr_file
from tests.fuzz.harness import fuzz

KEYS = ["linkedid", "uniqueid", "sequence", "src", "clid", "dst", "channel", "dstchannel", "lastapp",
        "start", "answer", "end", HOTLINE_MARK,
        *(cdr_variable(n) for n in (*ANSWERS, *ROUTING, CALLER_NUMBER, CALLER_NAME))]
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["1", "0", "1700000000.5", "=", "AAAA", "-1", "1e400"]),
)
JSON_VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
LOOKALIKE = st.dictionaries(st.sampled_from(KEYS), JSON_VALUE, max_size=len(KEYS)).map(
    lambda row: json.dumps(row, ensure_ascii=False))
LINE = st.one_of(
    st.text(max_size=200),
    LOOKALIKE,
    JSON_VALUE.map(json.dumps),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


@fuzz("cdr_custom", long=50_000)
@given(LINE)
@example('{"linkedid":"1","uniqueid":"1","start":Infinity,"end":1}')
@example('{"linkedid":"1","uniqueid":"1","start":1e300,"end":1}')
@example('{"linkedid":"1","uniqueid":"1","start":1,"end":2,"sequence":Infinity}')
@example("[" * 100_000)
def test_any_cdr_custom_line_never_raises(line: str) -> None:
    assert len(parse_cdr_file([line])) <= 1


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
# Epoch doubles Asterisk writes: after 1970 (0 means "not answered"), before year 10000.
STAMP = st.floats(min_value=1e-6, max_value=253_402_300_799.0, allow_nan=False, allow_infinity=False)


@st.composite
def cdr_lines(draw: st.DrawFn) -> tuple[dict[str, Any], AsteriskCdr]:
    """One cdr_custom JSON object and the record recovery must read from it."""
    number, name = draw(TEXT), draw(TEXT)
    start, end = draw(STAMP), draw(STAMP)
    answer = draw(st.one_of(st.just(0.0), STAMP))
    hotline = draw(st.sampled_from(["1", "", "0"]))
    recorded = draw(st.dictionaries(st.sampled_from((*ANSWERS, *ROUTING)), TEXT.filter(bool)))
    text = {name_: draw(TEXT) for name_ in ("linkedid", "uniqueid", "dst", "channel", "dstchannel", "lastapp")}
    sequence = draw(st.integers(0, 2**31 - 1))
    row: dict[str, Any] = {**text, "sequence": sequence, "start": start, "answer": answer, "end": end,
                           HOTLINE_MARK: hotline,
                           **{cdr_variable(k): v for k, v in recorded.items()},
                           cdr_variable(CALLER_NUMBER): base64.b64encode(number.encode()).decode(),
                           cdr_variable(CALLER_NAME): base64.b64encode(name.encode()).decode()}
    stamp = dt.datetime.fromtimestamp
    expected = AsteriskCdr(
        linkedid=text["linkedid"], uniqueid=text["uniqueid"], sequence=sequence, src=number,
        clid=caller_clid(name, number), dst=text["dst"], channel=text["channel"], dstchannel=text["dstchannel"],
        lastapp=text["lastapp"], start=stamp(start, tz=dt.UTC), answer=stamp(answer, tz=dt.UTC) if answer else None,
        end=stamp(end, tz=dt.UTC), hotline=hotline == "1", recorded=recorded,
    )
    return row, expected


@fuzz("cdr_custom", long=60_000)
@given(cdr_lines(), st.booleans())
@example(({"linkedid": "1.1", "uniqueid": "1.1", "sequence": 0, "dst": "0800\u2028", "channel": "",
            "dstchannel": "", "lastapp": "", "start": 1.5, "answer": 0, "end": 2.5, HOTLINE_MARK: "1"},
           AsteriskCdr("1.1", "1.1", 0, "", "", "0800\u2028", "", "", "",
                       dt.datetime.fromtimestamp(1.5, tz=dt.UTC), None, dt.datetime.fromtimestamp(2.5, tz=dt.UTC),
                       True, {})), False)
def test_cdr_custom_line_round_trips_through_the_file(pair: tuple[dict[str, Any], AsteriskCdr], escape: bool) -> None:
    """One line among others, non-ASCII escaped or raw as Asterisk writes it."""
    row, expected = pair
    text = '{"torn": \n' + json.dumps(row, ensure_ascii=escape) + "\n"
    assert parse_cdr_file(file_lines(text)) == [expected]
