"""Pure parser of Asterisk Manager Interface (AMI) traffic: bytes in, plain dicts out.

The live client (``queues.ami``) feeds it each TCP read, and unit tests replay
recorded raw traffic through ``parse_ami_stream`` into the pure core, so both
see exactly the same messages. No I/O, no asyncio, no panoramisk.

Framing, as Asterisk 22 writes it:

- a connection opens with one banner line, ``Asterisk Call Manager/11.0.0``,
  not followed by a blank line. A live connection (``recording=False``, what
  ``queues.ami`` runs) takes only its first line as a banner: after it, a value
  that reads like one (a caller named ``Asterisk Call Manager/11.0.0``) is a
  value (fuzz-found, ``tests/fuzz``: every event of such a caller's channel was
  dropped). A recording (the default, ``parse_ami_stream``) appends
  connections, so there a banner line starts a new connection anywhere;
- then messages of ``Key: Value`` lines ended by ``\\r\\n``, each message ended
  by an empty line;
- a header may repeat (``Output:`` lines of a ``Command`` response,
  ``ChanVariable:`` of events): the values are joined with ``\\n`` so every
  message stays a ``dict[str, str]`` and no field is lost;
- a line with no colon (the body of a legacy ``Response: Follows``) is
  appended to ``Output`` the same way.

Bytes are decoded with an incremental UTF-8 decoder, so a character split
across two reads survives, and invalid bytes become U+FFFD instead of
dropping the message.
"""

from __future__ import annotations

import codecs
from typing import Final

BANNER_PREFIX: Final = "Asterisk Call Manager/"
MULTI_VALUE_SEPARATOR: Final = "\n"
# Where body lines with no ``Key:`` go (legacy ``Response: Follows`` output).
BODY_KEY: Final = "Output"


class AmiStreamParser:
    """Incremental AMI parser for one connection: ``feed(bytes)`` returns complete messages.

    ``banner`` holds the last banner line seen (``Asterisk Call Manager/11.0.0``).
    ``recording=False`` for one live connection: only its first line can be a banner.
    """

    def __init__(self, *, recording: bool = True) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text after the last complete line
        self._current: dict[str, str] = {}
        self._recording = recording
        self._first_line = True
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[dict[str, str]]:
        """Consume one read; return the messages it completed, in order."""
        return self._feed_text(self._decoder.decode(data))

    def _feed_text(self, text: str) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = []
        buffer = self._pending + text
        start = 0
        while True:
            end = buffer.find("\n", start)
            if end < 0:
                break
            # Asterisk ends lines with CRLF; a bare LF is tolerated (hand-written traces).
            line = buffer[start:end].removesuffix("\r")
            start = end + 1
            if line:
                self._add_line(line)
            elif self._current:
                messages.append(self._current)
                self._current = {}
        self._pending = buffer[start:]
        return messages

    def _add_line(self, line: str) -> None:
        first, self._first_line = self._first_line, False
        banner_at = line.find(BANNER_PREFIX) if self._recording or first else -1
        if banner_at >= 0 and ":" not in line[banner_at:]:
            # A banner starts a new connection (a recording appends connections,
            # and one cut mid-line leaves its tail glued in front of the next
            # banner): what was half-received before it is gone for good.
            self.banner = line[banner_at:]
            self._current = {}
            return
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            key, value = BODY_KEY, line
        else:
            value = value.removeprefix(" ")
        previous = self._current.get(key)
        self._current[key] = value if previous is None else previous + MULTI_VALUE_SEPARATOR + value


def parse_ami_stream(raw: bytes) -> list[dict[str, str]]:
    """Parse a recorded AMI byte stream (one or more connections) into its messages.

    Yields what the live client delivered: a trailing message with no final
    empty line (a connection cut mid-message) is not a message.
    """
    return AmiStreamParser().feed(raw)
