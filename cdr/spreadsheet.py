"""CSV that French spreadsheets open as columns, with cells that cannot run as formulas. Pure.

Excel and LibreOffice in a French locale split a ``.csv`` on ``;`` (``,`` is the decimal
separator) and read it as UTF-8 only when it starts with a byte order mark: so the file
starts with U+FEFF, cells are ``;``-separated and decimals use a comma.

A cell a spreadsheet would evaluate (text starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return: OWASP's "CSV injection" list) is prefixed with ``'``: a caller named
``=HYPERLINK(...)`` stays text. Numbers are written as numbers (a negative number is not
text that starts with ``-``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Final

BOM: Final = "\ufeff"
SEPARATOR: Final = ";"
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | dt.date | None


def safe_cell(value: Cell) -> str:
    """One cell's text: numbers with a decimal comma (exact), booleans as oui/non, text never a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value).replace(".", ",")  # exact: the shortest text that reads back to the same float
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def spreadsheet_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """The whole file: BOM, header, one line per row (``\\r\\n``, as spreadsheets write them)."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=SEPARATOR, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()
