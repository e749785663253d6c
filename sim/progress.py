"""A small progress bar for long runs (stderr); quiet when the stream is not a terminal."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """Call with (fraction 0..1, what is running). Redraws at most 10 times a second."""

    def __init__(self, stream: TextIO, *, width: int = 30, enabled: bool | None = None) -> None:
        self.stream = stream
        self.width = width
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, fraction: float, what: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < 0.1:
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(self.width * fraction)
        elapsed = now - self.started
        eta = f" eta {elapsed / fraction - elapsed:4.0f}s" if 0 < fraction < 1 else f" {elapsed:5.1f}s"
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {fraction * 100:3.0f}%{eta} {what[:40]:40}")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
