"""The supervisors' call search on the real PostgreSQL, over calls recorded from the real Asterisk 22.

The records are the correlator's items for the recorded traces (tests/fixtures/ami), written by
the writer's own path: what a running service would have stored for those calls.
"""

import csv
import datetime as dt
import io
from pathlib import Path

import asyncpg
import pytest

from cdr.correlator import CdrCorrelator, CdrItem
from cdr.record_sql import write_items
from cdr.spreadsheet import BOM
from config.models import Hotline
from queues.ami_parse import parse_ami_stream
from web.call_search import BadSearch, CallQuery, call_page, call_story, calls_csv, calls_page, search_calls
from web.pages import PageUser

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
TRACES = ("answered_call", "queue_abandon_call", "blind_transfer_call", "asterisk_records_calls")
EVER = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
SUPERVISOR = PageUser("sophie", "supervisor", None)


def items_of(trace: str) -> list[CdrItem]:
    correlator = CdrCorrelator(partner_of=lambda line: line.rsplit("-", 1)[0], escalation_after=(0, 30, 90),
                               call_contexts=frozenset({"hotline-in"}))
    items: list[CdrItem] = []
    for event in parse_ami_stream((FIXTURES / f"{trace}.raw").read_bytes()):
        items.extend(correlator.feed(event))
    return items


@pytest.fixture
async def recorded(pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pool.acquire() as conn:
        for trace in TRACES:
            await write_items(conn, items_of(trace))
    return pool


def query(**filters: str) -> CallQuery:
    return CallQuery.parse(*EVER, filters)


async def test_every_recorded_call_is_found_newest_first(recorded: asyncpg.Pool) -> None:
    rows = await search_calls(recorded, query())
    assert len(rows) == await recorded.fetchval("SELECT count(*) FROM cdr") >= 6
    starts = [r["start"] for r in rows]
    assert starts == sorted(starts, reverse=True)


async def test_filters_narrow_by_number_part_outcome_partner_and_answers(recorded: asyncpg.Pool) -> None:
    abandoned = await search_calls(recorded, query(outcome="abandoned_in_queue"))
    assert {r["src"] for r in abandoned} == {"0320000011"}
    by_number = await search_calls(recorded, query(number="000011"))
    assert [r["src"] for r in by_number] == ["0320000011"]
    crafts = await search_calls(recorded, query(sector="crafts", need="creation"))
    assert crafts and all((r["sector"], r["need"]) == ("crafts", "creation") for r in crafts)
    cma = await search_calls(recorded, query(partner="cma"))
    assert cma and all(r["partner"] == "cma" for r in cma)
    assert await search_calls(recorded, query(partner="cma", outcome="abandoned_in_queue")) == []


async def test_pages_of_results_follow_each_other(recorded: asyncpg.Pool) -> None:
    every = await search_calls(recorded, query())
    first = await search_calls(recorded, CallQuery(*EVER, limit=2))
    second = await search_calls(recorded, CallQuery(*EVER, limit=2, offset=2))
    assert [r["linkedid"] for r in first + second] == [r["linkedid"] for r in every[:4]]


@pytest.mark.parametrize(("field", "value", "says"), [
    ("number", "03 20; DROP", "number: digits"), ("outcome", "x" * 65, "outcome: text of at most 64"),
    ("offset", "-1", "offset: from 0"), ("offset", "deux", "offset: a whole number"),
])
def test_a_bad_filter_is_refused_naming_the_field(field: str, value: str, says: str) -> None:
    with pytest.raises(BadSearch, match=says):
        CallQuery.parse(*EVER, {field: value})


async def test_a_transferred_call_s_story_is_its_record_and_its_path_through_the_queues(
    recorded: asyncpg.Pool, hotline: Hotline
) -> None:
    (row,) = await search_calls(recorded, query(number="0320000032"))
    story = await call_story(recorded, row["linkedid"])
    assert story is not None and len(story.records) == 1
    assert story.records[0]["transfer_type"] == "blind"
    events = [q["event"] for q in story.queue_log]
    assert events[0] == "ENTERQUEUE" and "CONNECT" in events and "BLINDTRANSFER" in events
    times = [q["time"] for q in story.queue_log]
    assert times == sorted(times)
    html = call_page(story, hotline, SUPERVISOR, "csrf")
    assert 'id="timeline"' in html and "transfert direct" in html and "répond" in html


async def test_an_unknown_call_has_no_story(recorded: asyncpg.Pool) -> None:
    assert await call_story(recorded, "1.2") is None


async def test_the_export_opens_as_columns_with_french_labels_and_no_formula(
    recorded: asyncpg.Pool, hotline: Hotline
) -> None:
    await recorded.execute("UPDATE cdr SET clid = $1 WHERE src = '0320000011'", '=HYPERLINK("http://x","y")')
    rows = await search_calls(recorded, query())
    text = calls_csv(rows, hotline)
    assert text.startswith(BOM)
    table = list(csv.reader(io.StringIO(text[len(BOM):]), delimiter=";"))
    header, lines = table[0], table[1:]
    assert len(lines) == len(rows) and all(len(line) == len(header) for line in lines)
    by_number = {line[header.index("Numéro")]: line for line in lines}
    abandoned = by_number["0320000011"]
    assert abandoned[header.index("Appelant")].startswith("'=HYPERLINK")
    assert abandoned[header.index("Issue")] == "raccroché en attente"
    assert abandoned[header.index("Secteur")] == "artisanat"  # what the caller heard, not the slug


async def test_the_list_page_escapes_what_callers_typed(recorded: asyncpg.Pool, hotline: Hotline) -> None:
    await recorded.execute("UPDATE cdr SET clid = $1 WHERE src = '0320000011'", '<script>alert(1)</script>')
    rows = await search_calls(recorded, query())
    html = calls_page(rows, query(), dt.date(2000, 1, 1), dt.date(2099, 12, 31), hotline, SUPERVISOR, "csrf",
                      "/api/calls.csv", None)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('href="/appels/') == len(rows)
