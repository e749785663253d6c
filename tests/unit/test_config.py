from pathlib import Path

import pytest

from aiguilleur.cli import main
from config.loader import ConfigError, load_hotline, parse_hotline
from config.settings import REPO_ROOT

DEFAULT = REPO_ROOT / "config" / "hotline.yaml"


def default_text() -> str:
    return DEFAULT.read_text(encoding="utf-8")


def test_default_hotline_has_the_36_lines_of_the_2020_cell() -> None:
    hotline = load_hotline(DEFAULT)
    counts = {p.id: p.lines for p in hotline.partners}
    assert counts == {"direccte": 8, "region": 8, "cma": 8, "cci": 8, "mel": 4}
    assert len(hotline.lines()) == 36
    assert hotline.lines()[0][0] == "direccte-01"
    assert hotline.hours.timezone == "Europe/Paris"


def test_unknown_queue_strategy_names_file_field_and_allowed_values() -> None:
    text = default_text().replace("strategy: leastrecent", "strategy: fastest")
    with pytest.raises(ConfigError) as err:
        parse_hotline(text, "hotline.yaml")
    message = str(err.value)
    assert "hotline.yaml" in message
    assert "queues.strategy" in message
    assert "'leastrecent'" in message and "'ringall'" in message
    assert "fastest" in message


def test_unknown_skill_lists_the_skills_that_exist() -> None:
    text = default_text().replace("sector:crafts: 5", "sector:craft: 5")
    with pytest.raises(ConfigError) as err:
        parse_hotline(text, "hotline.yaml")
    assert "partners[2].skills" in str(err.value)
    assert "'sector:craft'" in str(err.value)
    assert "sector:crafts" in str(err.value)


def test_closing_before_opening_is_refused() -> None:
    text = default_text().replace('saturday:  [{open: "08:00", close: "12:00"}]',
                                  'saturday:  [{open: "12:00", close: "08:00"}]')
    with pytest.raises(ConfigError, match=r"hours\.week\.saturday\[0\].*must be before close"):
        parse_hotline(text, "hotline.yaml")


def test_a_typo_in_a_key_is_an_error_not_silently_ignored() -> None:
    text = default_text().replace("max_wait_seconds: 600", "max_wait_secs: 600")
    with pytest.raises(ConfigError, match=r"queues\.max_wait_secs: Extra inputs are not permitted"):
        parse_hotline(text, "hotline.yaml")


def test_digit_zero_is_reserved_for_the_advisor() -> None:
    text = default_text().replace('{digits: "3", value: other', '{digits: "0", value: other')
    with pytest.raises(ConfigError, match="reserved"):
        parse_hotline(text, "hotline.yaml")


def test_escalation_that_narrows_the_pool_is_refused() -> None:
    text = default_text().replace("{after_seconds: 90, max_penalty: 9}", "{after_seconds: 90, max_penalty: 0}")
    with pytest.raises(ConfigError, match="never decrease"):
        parse_hotline(text, "hotline.yaml")


def test_broken_yaml_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^broken\.yaml: not valid YAML"):
        parse_hotline("version: [1,\n", "broken.yaml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_hotline(tmp_path / "nope.yaml")


def test_cli_config_check_exits_2_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(default_text().replace("timezone: Europe/Paris", "timezone: Europe/Lile"), encoding="utf-8")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "hours.timezone" in err and "Europe/Lile" in err


def test_cli_config_check_accepts_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(DEFAULT)]) == 0
    assert "36 lines in all" in capsys.readouterr().out
