"""The CLI's output on a terminal (rich tables, a progress bar) and elsewhere (the plain text scripts read).

The terminal path is rendered into a string by a rich ``Console(force_terminal=True, width=...)``.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from rich.console import Console
from rich.text import Text

from aiguilleur import cli_common, cli_report
from aiguilleur.cli_common import Table, progress, show, terminal
from cdr.kpi import CallFacts, KpiSettings
from cdr.reports import make_report
from config.models import Hotline

DAY = dt.date(2026, 11, 24)
T9 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
CALLS = [
    *(CallFacts(linkedid=f"r{n}", start=T9 + dt.timedelta(minutes=n), outcome="answered", queue="sector-crafts",
                line=line, partner=partner, wait_seconds=wait, talk_seconds=600, wrapup_seconds=60)
      for n, line, partner, wait in ((1, "cma-01", "cma", 5), (2, "cma-01", "cma", 40), (3, "cci-01", "cci", 10))),
    CallFacts(linkedid="r4", start=T9, outcome="abandoned_in_queue", queue="sector-crafts", wait_seconds=50),
]


def tty(width: int = 160) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=width)


def screen(console: Console) -> list[str]:
    """What the terminal shows: the console's output without its colour codes."""
    assert isinstance(console.file, io.StringIO)
    return Text.from_ansi(console.file.getvalue()).plain.splitlines()


def cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_is_used_only_when_the_stream_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich would call a pipe a terminal: the stream decides, not rich
    assert terminal(io.StringIO()) is None
    assert terminal(FakeTty()) is not None


def test_a_table_on_a_terminal_has_its_header_rule_and_cells_in_their_columns() -> None:
    console = tty(80)
    show(console, ["Volumes per day", Table(("", "calls", "answered"), [["2026-11-23", "10", "4"],
                                                                       ["2026-11-24", "7", "12"]])])
    lines = screen(console)
    assert lines[0] == "Volumes per day"
    assert set(lines[2].strip()) == {"─"}
    assert [cells(x) for x in lines[3:5]] == [["2026-11-23", "10", "4"], ["2026-11-24", "7", "12"]]
    assert len(lines[1].rstrip()) == len(lines[3].rstrip()) == len(lines[4].rstrip())  # figures right-aligned


def test_a_table_wider_than_the_terminal_keeps_every_figure_whole() -> None:
    header = tuple(f"column {i}" for i in range(12))
    row = ["partner direccte", *(f"{i}.5%" for i in range(11))]
    console = tty(60)
    show(console, [Table(header, [row])])
    body = screen(console)[2]
    assert cells(body) == row and "…" not in body  # drawn at its width; the terminal wraps it


def test_cells_are_shown_as_data_never_as_rich_markup() -> None:
    console = tty()
    show(console, ["[bold]a line[/bold]", Table(("line", "partner"), [["[red]cma-01[/red]", "cma"]])])
    text = screen(console)
    assert text[0] == "[bold]a line[/bold]"
    assert cells(text[3]) == ["[red]cma-01[/red]", "cma"]


def test_columns_can_say_which_side_they_align_to() -> None:
    console = tty()
    show(console, [Table(("start", "outcome", "wait"), [["09:00", "answered", "5"], ["09:10", "closed", "12"]],
                         align="llr")])
    lines = screen(console)
    assert lines[2].index("answered") == lines[3].index("closed")  # words on the left
    assert len(lines[2].rstrip()) == len(lines[3].rstrip())  # figures on the right


def test_the_report_on_a_terminal_shows_the_cells_of_the_plain_report(hotline: Hotline) -> None:
    report = make_report(CALLS, hotline, DAY, DAY, KpiSettings(), logged_seconds={"cma-01": 7200})
    plain = cli_report.render(report)
    console = tty(200)
    show(console, cli_report.blocks(report))
    drawn = screen(console)
    for first in ("scope", "all ", "partner cma ", "queue sector-crafts", "cma-01"):
        assert cells(next(x for x in drawn if x.startswith(first))) == \
            cells(next(x for x in plain if x.startswith(first))), first
    rules = [x for x in drawn if x.strip() and set(x.strip()) == {"─"}]
    dashes = [x for x in plain if x.strip() and set(x) <= {"-", " "}]
    assert len(rules) == len(dashes) > 5 and not any(set(x) == {"-", " "} for x in drawn)
    text = [b for b in cli_report.blocks(report) if isinstance(b, str)]
    assert [x for x in drawn if x in text] == text  # every line of text, whole and in order


def test_the_progress_bar_draws_on_a_terminal() -> None:
    console = tty(100)
    with progress(console=console) as bar:
        bar(0.5, "replication 1/2 current")
        bar(1.0, "done")
    drawn = screen(console)[-1]
    assert "100%" in drawn and drawn.rstrip().endswith("done")


def test_the_progress_bar_is_quiet_off_a_terminal_or_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with progress() as bar:  # stderr is captured: not a terminal
        bar(0.5, "replication 1/2 current")
        bar(1.0, "done")
    assert capsys.readouterr().err == ""
    console = tty()
    with progress(enabled=False, console=console) as bar:  # --no-progress
        bar(0.5, "x")
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    assert bar is cli_common._quiet
