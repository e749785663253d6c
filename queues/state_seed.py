"""The seed of a resync: what one QueueStatus reply said, sorted for ``LiveState.load``.

Pure: AMI messages in (the reply's response and its list events), a frozen
``LiveStateSeed`` out. ``queues.resync`` asks Asterisk for ``QueueStatus``
after every AMI (re)login and hands the reply here; ``queues.advisors`` reads
the members it lists. A reply cut before ``QueueStatusComplete``, or an error,
is refused: a partial list must not replace the live state. How ``load``
applies a seed, and replays the events that came meanwhile, is stated in
``queues.state``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

AmiEvent = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LiveStateSeed:
    """What one QueueStatus said, and when (QueueStatus items carry no Timestamp)."""

    taken_at: float
    queues: tuple[Mapping[str, str], ...]  # QueueParams
    members: tuple[Mapping[str, str], ...]  # QueueMember
    entries: tuple[Mapping[str, str], ...]  # QueueEntry


def seed_from_queue_status(replies: Iterable[AmiEvent], *, taken_at: float) -> LiveStateSeed:
    """Sort a complete QueueStatus reply (response + list events) into a seed.

    Raises ``ValueError`` when the list did not end with QueueStatusComplete
    (a cut reply must not replace the state) or Asterisk answered an error.
    """
    queues: list[AmiEvent] = []
    members: list[AmiEvent] = []
    entries: list[AmiEvent] = []
    complete = False
    for reply in replies:
        response = reply.get("Response")
        if response is not None and response != "Success":
            raise ValueError(f"QueueStatus failed: {reply.get('Message', response)}")
        kind = reply.get("Event")
        if kind == "QueueParams":
            queues.append(reply)
        elif kind == "QueueMember":
            members.append(reply)
        elif kind == "QueueEntry":
            entries.append(reply)
        elif kind == "QueueStatusComplete":
            complete = True
    if not complete:
        raise ValueError("QueueStatus reply has no QueueStatusComplete: incomplete, not used")
    return LiveStateSeed(taken_at, tuple(queues), tuple(members), tuple(entries))
