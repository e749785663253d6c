"""What every CLI sub-command module shares: output and argument types."""

from __future__ import annotations

import argparse
import datetime as dt
import sys


def out(text: str = "") -> None:
    """One line to standard output (the CLI's report channel; logs go to stderr)."""
    sys.stdout.write(text + "\n")


def iso_date(text: str) -> dt.date:
    """argparse type: a YYYY-MM-DD date."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
