"""What every CLI sub-command module shares: output, tables, progress and argument types.

Scripts and tests read the plain output: on a pipe or a file every command writes the plain
text it always wrote. Only when standard output is a terminal are tables drawn with ``rich``
(columns sized to the terminal); only when standard error is one is a progress bar drawn.
Cells are always given to rich as ``Text``, never as markup: values from call records or
typed by anyone must not turn into styles (they are already escaped of control characters).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TextIO

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable
from rich.text import Text


def out(text: str = "") -> None:
    """One line to standard output (the CLI's report channel; logs go to stderr)."""
    sys.stdout.write(text + "\n")


def iso_date(text: str) -> dt.date:
    """argparse type: a YYYY-MM-DD date."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


# --- tables --------------------------------------------------------------------------------
class Cells(Protocol):
    """A table as cells: a header row and body rows (``sim.report.Table`` is one too)."""

    @property
    def header(self) -> Sequence[str]: ...

    @property
    def rows(self) -> Sequence[Sequence[str]]: ...


@dataclass(frozen=True)
class Table:
    """A header row and body rows; ``align`` gives each column's side, ``l`` or ``r`` (default: the
    first column, naming the row, on the left, the others, figures, on the right)."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    align: str = ""


Block = str | Cells  # one line of text, or a table


def terminal(stream: TextIO | None = None) -> Console | None:
    """A rich console on ``stream`` (default stdout) when it is a terminal, else ``None`` (plain text).

    Asked of the stream itself, not of rich: ``FORCE_COLOR`` in the environment must not change
    what a script reading a pipe gets."""
    stream = sys.stdout if stream is None else stream
    return Console(file=stream) if stream.isatty() else None


def rich_table(cells: Cells) -> RichTable:
    """The cells as a rich table, aligned as ``Table.align`` says (first column left, the others right)."""
    align = getattr(cells, "align", "") or "l" + "r" * (len(cells.header) - 1)
    # Padding on the right only: with the box's space divider, columns are two spaces apart as in plain text.
    table = RichTable(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
    for i, (name, side) in enumerate(zip(cells.header, align, strict=True)):
        # Figures never wrap (a percentage cut in two reads wrong); the label column may.
        table.add_column(Text(name), justify="right" if side == "r" else "left", no_wrap=i > 0)
    for row in cells.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def show(console: Console, blocks: Sequence[Block]) -> None:
    """Lines as they are, tables drawn by rich."""
    for block in blocks:
        if isinstance(block, str):
            console.print(Text(block), soft_wrap=True)  # a line stays one line, as in the plain output
        else:
            _print_table(console, rich_table(block))


def _print_table(console: Console, table: RichTable) -> None:
    # Rich would squeeze a table wider than the terminal into ellipses ("75.…"): draw it at its
    # natural width instead and let the terminal wrap its lines, as it wraps the plain text.
    natural = console.measure(table, options=console.options.update(max_width=10_000)).maximum
    if natural <= console.width:
        console.print(table)
        return
    width = console.width
    console.width = natural
    try:
        console.print(table)
    finally:
        console.width = width


# --- progress ------------------------------------------------------------------------------
ProgressFn = Callable[[float, str], None]


def _quiet(_fraction: float, _what: str = "") -> None:
    """No terminal to draw on (or ``--no-progress``): nothing is written."""


@contextmanager
def progress(*, enabled: bool = True, console: Console | None = None) -> Iterator[ProgressFn]:
    """A ``(fraction 0..1, what is running)`` callback drawing a bar on stderr while the block runs.

    Quiet unless ``enabled`` and stderr (or the ``console`` given) is a terminal: logs and
    scripts reading stderr see no carriage returns."""
    console = console if console is not None else terminal(sys.stderr)
    if not enabled or console is None:
        yield _quiet
        return
    columns = (BarColumn(bar_width=30), TaskProgressColumn(), TimeRemainingColumn(elapsed_when_finished=True),
               TextColumn("{task.description}", markup=False))
    with Progress(*columns, console=console, refresh_per_second=10) as bar:
        task = bar.add_task("", total=1.0)

        def update(fraction: float, what: str = "") -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=what)

        yield update
