"""CSV for French spreadsheets: columns on ';', UTF-8 announced by a BOM, no cell a formula."""

import csv
import datetime as dt
import io

import pytest

from cdr.spreadsheet import BOM, safe_cell, spreadsheet_csv


def read_back(text: str) -> list[list[str]]:
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[len(BOM):]), delimiter=";"))


def test_a_file_starts_with_a_bom_and_splits_on_semicolons() -> None:
    text = spreadsheet_csv(("Numéro", "Attente (s)"), [("0320123456", 12), ("0600000000", None)])
    assert read_back(text) == [["Numéro", "Attente (s)"], ["0320123456", "12"], ["0600000000", ""]]
    assert "\r\n" in text


@pytest.mark.parametrize("hostile", ["=HYPERLINK(\"http://evil\",\"x\")", "+33 1 23", "-2+3", "@SUM(A1)",
                                     "\t=1", "\r=1"])
def test_text_a_spreadsheet_would_evaluate_stays_text(hostile: str) -> None:
    assert safe_cell(hostile) == "'" + hostile
    assert read_back(spreadsheet_csv(("Appelant",), [(hostile,)]))[1] == ["'" + hostile]


def test_numbers_stay_numbers_with_a_decimal_comma() -> None:
    assert (safe_cell(-3), safe_cell(0.5), safe_cell(97.25)) == ("-3", "0,5", "97,25")


def test_a_value_holding_the_separator_or_quotes_stays_one_cell() -> None:
    name = 'Dupont; "la boulangerie"'
    assert read_back(spreadsheet_csv(("Appelant",), [(name,)]))[1] == [name]


def test_times_flags_and_empty_cells_read_as_french_users_expect() -> None:
    assert safe_cell(dt.datetime(2026, 3, 30, 9, 5, 7)) == "30/03/2026 09:05:07"
    assert safe_cell(dt.date(2026, 3, 30)) == "30/03/2026"
    assert (safe_cell(True), safe_cell(False), safe_cell(None)) == ("oui", "non", "")
