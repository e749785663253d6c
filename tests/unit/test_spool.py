"""The spool: append-only, fsync'd, read back in order, released once acknowledged."""

import dataclasses
import datetime as dt
import io
import json
import pickle
import struct
import zlib
from pathlib import Path

import pytest

from cdr.correlator import CallRecord
from cdr.queue_log import QueueLogEntry
from cdr.spool import MAGIC, SUFFIX, Spool, decode, dump, encode, row_item, to_rows
from cdr.vocabulary import IvrExit, Outcome

T0 = dt.datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=dt.UTC)


def record(n: int) -> CallRecord:
    return CallRecord(
        linkedid=f"{n}.0", uniqueid=f"{n}.0", src="0320123456", clid='"José \\"X\\"" <0320123456>', dst="0800",
        channel="PJSIP/pstn-1", dstchannel="", start=T0, answer=None, end=T0 + dt.timedelta(seconds=n),
        duration=n, billsec=0, disposition="NO ANSWER", need=None, sector="crafts", size=None, departement=None,
        ivr_exit="hangup", ivr_steps=1, ivr_retries=0, hours_state="open", queue=None, rule_version=1, line=None,
        partner=None, wait_seconds=None, talk_seconds=None, outcome="abandoned_in_ivr", degraded=False,
        abandon_position=3, callback_requested=True,
    )


def entry(n: int) -> QueueLogEntry:
    return QueueLogEntry(time=T0 + dt.timedelta(microseconds=n), callid=f"{n}.0", queuename="hotline",
                         agent="NONE", event="ENTERQUEUE", data2="0320|x", data3="1")


def frame(first: int, last: int, payload: bytes) -> bytes:
    return struct.pack("<4sQQII", MAGIC, first, last, len(payload), zlib.crc32(payload)) + payload


def spool_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(f"*{SUFFIX}"))


def test_every_field_survives_the_round_trip() -> None:
    for item in (record(7), entry(7)):
        seq, back = decode(encode(42, item))
        assert seq == 42 and back == item and type(back) is type(item)


def test_a_record_holding_vocabulary_enums_is_spooled_as_their_values() -> None:
    item = dataclasses.replace(record(3), outcome=Outcome.ANSWERED, ivr_exit=IvrExit.COMPLETED)
    _seq, back = decode(encode(5, item))
    assert back == item and type(back.outcome) is str and back.outcome == "answered"


def test_a_batch_from_an_older_version_takes_the_new_fields_defaults() -> None:
    names = [f.name for f in dataclasses.fields(CallRecord)]
    values = dataclasses.astuple(record(1))[:names.index("ring_seconds")]  # before ring_seconds .. existed
    _, back = decode(frame(1, 1, pickle.dumps([("cdr", values)], protocol=5)))
    assert back == dataclasses.replace(record(1), abandon_position=None, callback_requested=False)


def test_a_spool_cannot_make_the_reader_run_code() -> None:
    evil = pickle.dumps([("cdr", (io.StringIO("x"),))], protocol=5)  # names a class outside the allow-list
    with pytest.raises(ValueError, match="may not hold"):
        decode(frame(1, 1, evil))


def test_torn_or_foreign_frames_are_refused() -> None:
    good = encode(1, record(1))
    for data in (good[:20], good[:-3], b"garbage" * 10, good[:-1] + bytes([good[-1] ^ 1]),
                 frame(1, 2, pickle.dumps([("cdr", dataclasses.astuple(record(1)))]))):
        with pytest.raises(ValueError):
            decode(data)


def test_items_are_read_back_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_records=10)
    assert spool.open() == (0, 0)
    items = [record(i) if i % 3 else entry(i) for i in range(1, 36)]
    for start in range(0, 35, 7):
        spool.append(items[start:start + 7])
    assert [(s.first_seq, s.last_seq) for s in spool.segments()] == [(1, 14), (15, 28), (29, 35)]  # >= 10: next
    reader = spool.reader(0)
    got = reader.read(12, until_seq=35) + reader.read(100, until_seq=30) + reader.read(100, until_seq=35)
    assert [seq for seq, _ in got] == list(range(1, 36))
    assert [row_item(row) for _, row in got] == items
    spool.close()


def test_a_batch_can_be_read_in_parts(tmp_path: Path) -> None:
    """The writer may need items 1..4 of a batch from disk while 5..10 are still in memory."""
    spool = Spool(tmp_path)
    spool.open()
    spool.append([record(i) for i in range(1, 11)])
    reader = spool.reader(0)
    assert [seq for seq, _ in reader.read(100, until_seq=4)] == [1, 2, 3, 4]
    assert [seq for seq, _ in reader.read(3, until_seq=10)] == [5, 6, 7]
    assert [seq for seq, _ in reader.read(100, until_seq=10)] == [8, 9, 10]
    assert reader.read(100, until_seq=10) == []
    spool.close()


def test_acknowledged_segments_are_deleted_and_the_open_one_too_when_all_is_acked(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_records=10)
    spool.open()
    spool.append([record(i) for i in range(1, 15)])  # one segment: 14 records (a batch is never split)
    spool.append([record(i) for i in range(15, 20)])  # a second one
    assert spool.releasable(14) and not spool.releasable(13)
    assert spool.release(14) == 1 and len(spool_files(tmp_path)) == 1
    assert spool.release(19) == 1 and spool_files(tmp_path) == []
    assert spool.append([record(20)]) == 20  # numbering goes on in a new file
    assert spool_files(tmp_path) == [f"0000000000000020{SUFFIX}"]
    spool.close()


def test_what_a_killed_run_left_is_found_and_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.open()
    first.append([record(i) for i in range(1, 6)])
    first.close()  # (a killed process closes nothing, but the fsync'd bytes are the same)
    with (tmp_path / spool_files(tmp_path)[0]).open("ab") as handle:
        handle.write(encode(6, record(6))[:40])  # the write a kill -9 interrupted, never fsync'd
    second = Spool(tmp_path)
    assert second.open() == (1, 5)
    assert second.append([record(7)]) == 6  # the torn item never had a number that counted
    got = second.reader(0).read(100, until_seq=6)
    assert [seq for seq, _ in got] == [1, 2, 3, 4, 5, 6]
    assert row_item(got[-1][1]) == record(7)
    second.close()


def test_a_file_with_nothing_intact_is_removed_on_open(tmp_path: Path) -> None:
    (tmp_path / f"0000000000000001{SUFFIX}").write_bytes(encode(1, record(1))[:30])
    spool = Spool(tmp_path)
    assert spool.open() == (0, 0) and spool_files(tmp_path) == []


def test_replayed_items_behave_like_the_originals() -> None:
    _, back = decode(encode(1, entry(3)))
    assert isinstance(back, QueueLogEntry) and back.key() == entry(3).key() and hash(back) == hash(entry(3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.event = "ABANDON"  # type: ignore[misc]


def test_a_spool_can_be_read_as_json_lines(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append([record(1), entry(2)])
    spool.close()
    lines = [json.loads(line) for line in dump(tmp_path)]
    assert [(line["seq"], line["kind"]) for line in lines] == [(1, "cdr"), (2, "qlog")]
    assert lines[0]["item"]["clid"] == '"José \\"X\\"" <0320123456>'
    assert lines[1]["item"]["time"] == "2026-11-23T09:00:00.123458+00:00"


def test_a_value_the_reader_would_refuse_is_refused_when_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    with pytest.raises(pickle.PicklingError):
        spool.append([dataclasses.replace(record(1), src=object())])  # type: ignore[arg-type]
    assert spool.append([record(1)]) == 1  # nothing half-written, numbering intact
    spool.close()


def test_rows_are_the_field_values_in_order_even_for_an_instance_filled_out_of_order() -> None:
    """``to_rows`` reads the instance dict when its keys are the fields in order, else each field."""
    names = [f.name for f in dataclasses.fields(CallRecord)]
    built = record(7)
    shuffled: CallRecord = object.__new__(CallRecord)
    shuffled.__dict__.update((name, getattr(built, name)) for name in reversed(names))
    expected = tuple(getattr(built, name) for name in names)
    assert to_rows([built, shuffled, entry(1)]) == [
        ("cdr", expected), ("cdr", expected), ("qlog", tuple(getattr(entry(1), f.name)
                                                              for f in dataclasses.fields(QueueLogEntry)))]
