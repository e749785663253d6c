"""``aiguilleur sim``: run, compare, fit and erlang from the command line (cli_sim.register)."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from aiguilleur import cli_sim
from cdr.kpi import CallFacts
from config.loader import ConfigError
from config.settings import REPO_ROOT, Settings

HOTLINE = REPO_ROOT / "config" / "hotline.yaml"


def sim(argv: list[str], settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiguilleur")
    cli_sim.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", *argv])
    result: int = args.func(settings or Settings(), args)
    return result


@pytest.fixture
def proposed(tmp_path: Path) -> Path:
    """The default rules with the first escalation step at 60 s instead of 30 s."""
    text = HOTLINE.read_text(encoding="utf-8")
    assert "{after_seconds: 30, max_penalty: 1}" in text
    path = tmp_path / "proposed.yaml"
    path.write_text(text.replace("{after_seconds: 30, max_penalty: 1}", "{after_seconds: 60, max_penalty: 1}"),
                    encoding="utf-8")
    return path


def test_erlang_pool_prints_the_lines_needed(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim(["erlang", "--calls-per-hour", "120", "--aht", "300", "--target-sl", "0.8", "--threshold", "20",
                "--patience", "60"]) == 0
    out = capsys.readouterr().out
    assert "10.00 erlangs" in out
    assert re.search(r"Erlang C \(no abandonment\): 14 lines", out)
    assert re.search(r"Erlang A \(abandonment\): +12 lines", out)


def test_erlang_per_partner_sizes_every_partner_from_the_routing(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim(["erlang", "--per-partner", "--calls-per-hour", "100"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"direccte", "region", "cma", "cci", "mel"}
    assert sum(float(r[1]) for r in rows.values()) == pytest.approx(100, abs=0.5)
    assert float(rows["cci"][1]) > float(rows["cma"][1]) > float(rows["mel"][1])  # commerce+services > crafts


def test_erlang_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim(["erlang", "--calls-per-hour", "-5", "--aht", "300"]) == 2
    assert "calls per hour must be >= 0" in capsys.readouterr().err


def test_run_prints_kpis_with_confidence_intervals_and_writes_the_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "run.html"
    assert sim(["run", "--days", "1", "--replications", "3", "--seed", "4", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "3 replication(s), seed 4" in out
    assert re.search(r"service level \(inclusive\) +\d+\.\d% ± \d+\.\d", out)
    assert "partner cma" in out and "queue rank-cma-cci" in out
    assert plot.read_text(encoding="utf-8").count("<svg") == 4


def test_compare_same_seed_same_output_and_paired_deltas(
    proposed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compare", str(HOTLINE), str(proposed), "--days", "1", "--replications", "4", "--no-plot"]
    assert sim(argv) == 0
    first = capsys.readouterr().out
    assert sim(argv) == 0
    assert capsys.readouterr().out == first
    assert "delta (paired)" in first
    offered = next(line for line in first.splitlines() if line.strip().startswith("offered calls"))
    assert "+0 ± 0" in offered  # the same calls on both sides


def test_compare_needs_two_replications(proposed: Path) -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        sim(["compare", str(HOTLINE), str(proposed), "--replications", "1", "--no-plot"])


def test_fit_prints_the_fitted_model(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    start = dt.datetime(2020, 4, 6, 9, 0, tzinfo=dt.UTC)

    async def fake_rows(*_args: object) -> list[CallFacts]:
        return [CallFacts(linkedid=f"c{i}", start=start + dt.timedelta(minutes=7 * i), outcome="answered",
                          ivr_exit="completed", need="creation", sector="crafts", size="micro", departement="nord",
                          queue="sector-crafts", wait_seconds=5, talk_seconds=200 + i) for i in range(40)]

    monkeypatch.setattr("sim.fit_io.fetch_rows", fake_rows)
    assert sim(["fit"]) == 0
    out = capsys.readouterr().out
    assert "40 call record(s) from 2020-04-06" in out
    assert "needs.creation.handle: mean 220 s" in out
    assert "start_per_day:" in out  # the YAML of the fitted model


def test_fit_without_records_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def no_rows(*_args: object) -> list[CallFacts]:
        return []

    monkeypatch.setattr("sim.fit_io.fetch_rows", no_rows)
    assert sim(["fit"]) == 0
    assert "no call records: the model is unchanged" in capsys.readouterr().out


def test_days_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sim(["run", "--days", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def on_a_terminal(monkeypatch: pytest.MonkeyPatch, width: int = 160) -> io.StringIO:
    """Standard output as a terminal: what ``cli_sim`` draws with rich lands in the returned buffer."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=width)
    monkeypatch.setattr(cli_sim, "terminal", lambda stream=None: console)
    return screen


def drawn(screen: io.StringIO) -> list[str]:
    return Text.from_ansi(screen.getvalue()).plain.splitlines()


def test_run_on_a_terminal_draws_each_scope_as_a_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = on_a_terminal(monkeypatch)
    assert sim(["run", "--days", "1", "--replications", "3", "--seed", "4", "--no-plot"]) == 0
    plain = capsys.readouterr().out
    assert "3 replication(s), seed 4" in plain and "mean ± 95% CI" not in plain  # the tables went to rich
    lines = drawn(screen)
    heads = [i for i, line in enumerate(lines) if line.rstrip().endswith("mean ± 95% CI")]
    assert len(heads) > 3 and all(set(lines[i + 1].strip()) == {"─"} for i in heads)
    row = re.split(r" {2,}", next(x for x in lines if "service level (inclusive)" in x).strip())
    assert row[0] == "service level (inclusive)" and re.fullmatch(r"\d+\.\d% ± \d+\.\d", row[1])
    assert any(line.startswith("partner cma ") for line in lines)


def test_erlang_per_partner_on_a_terminal_has_the_cells_of_the_plain_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["erlang", "--per-partner", "--calls-per-hour", "100"]
    assert sim(argv) == 0
    plain = capsys.readouterr().out.splitlines()[1:]
    screen = on_a_terminal(monkeypatch)
    assert sim(argv) == 0
    lines = [x for x in drawn(screen) if x.strip() and set(x.strip()) != {"─"}]
    assert [x.split() for x in lines] == [x.split() for x in plain]  # same cells, same order
    assert lines[0].split()[:3] == ["partner", "calls/h", "AHT"]


def test_erlang_pool_on_a_terminal_has_the_cells_of_the_plain_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["erlang", "--calls-per-hour", "120", "--aht", "300", "--target-sl", "0.05", "--patience", "60"]
    assert sim(argv) == 0
    plain = capsys.readouterr().out.splitlines()
    table = plain[plain.index("") + 1:]
    screen = on_a_terminal(monkeypatch)
    assert sim(argv) == 0
    assert capsys.readouterr().out.splitlines() == plain[:plain.index("") + 1]  # the lines before the table
    lines = [x for x in drawn(screen) if set(x.strip()) != {"─"}]
    assert [x.split() for x in lines] == [x.split() for x in table]
    assert "overload" in lines[1]


def test_no_progress_bar_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim(["run", "--days", "1", "--replications", "1", "--no-plot"]) == 0
    assert capsys.readouterr().err == ""
