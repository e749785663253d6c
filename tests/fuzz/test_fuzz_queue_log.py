"""Fuzz: Asterisk's queue_log file as recovery reads it (``cdr.queue_log.parse_queue_log_file``).

Any text never raises; a row written the way app_queue writes it comes back whole.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given
from hypothesis import strategies as st

from cdr.queue_log import QueueLogEntry, parse_queue_log_file
from cdr.recovery import file_lines
from tests.fuzz.harness import fuzz

# Epoch seconds Python's datetime can hold (year 1 to 9999 UTC): 0 .. 253402300799.
MAX_EPOCH = 253_402_300_799
# A field holds anything but the separator and a line end; str.splitlines' other line breaks
# (\x0b \x0c \x1c-\x1e \x85 \u2028 \u2029) included, they can come from a caller's number.
FIELD = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="|\n\r"), max_size=20)
EPOCHS = st.one_of(
    st.integers(0, 2**80).map(str),
    st.sampled_from(["", "-1", "²", "١٢٣", "1e9", "0x10", " 12", "1" * 5000, str(MAX_EPOCH + 1)]),
)
LINE = st.one_of(
    st.text(max_size=200),
    st.builds(lambda epoch, rest: "|".join([epoch, *rest]), EPOCHS, st.lists(FIELD, max_size=12)),
)


@fuzz("queue_log", long=170_000)
@given(LINE)
@example("²|1.1|q|NONE|ENTERQUEUE||0320000000|1")
@example("99999999999999999|1.1|q|NONE|ENTERQUEUE")
@example("1" * 5000 + "|1.1|q|NONE|ENTERQUEUE")
def test_any_queue_log_line_never_raises(line: str) -> None:
    rows = parse_queue_log_file([line])
    assert len(rows) <= 1
    assert all(row.event and row.recovered for row in rows)


ROW = st.builds(
    QueueLogEntry,
    time=st.integers(0, MAX_EPOCH).map(lambda s: dt.datetime.fromtimestamp(s, tz=dt.UTC)),
    callid=FIELD, queuename=FIELD, agent=FIELD, event=FIELD.filter(bool),
    data1=FIELD, data2=FIELD, data3=FIELD, data4=FIELD, data5=FIELD,
    recovered=st.just(True),
)


@fuzz("queue_log", long=80_000)
@given(ROW, st.sampled_from(["\n", "\r\n", ""]))
@example(QueueLogEntry(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), "1.1", "q", "NONE", "ENTERQUEUE",
                       "", "06\u2028x", "1", recovered=True), "\n")
def test_queue_log_row_round_trips_through_the_file(row: QueueLogEntry, newline: str) -> None:
    """One row among others, as app_queue writes it (the last line of a file may lack its newline)."""
    text = f"1|a|q|NONE|ENTERQUEUE\n{row.file_line()}{newline}"
    assert parse_queue_log_file(file_lines(text))[1:] == [row]
