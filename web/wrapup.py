"""The calls each advisor line still has to wrap up (issue 14, defect 5). Pure, in memory.

A connected call's pop is remembered; once the caller hangs up, the line's pop
stays (state "wrapup") until the advisor ends the wrap-up ("terminer le
post-appel": code and notes saved on the call's record), or until the line's
next call is connected (that call's pop replaces it). A restart of the service
forgets the pending wrap-ups: the records are there, without code or notes.
"""

from __future__ import annotations

from web.screen import ScreenPop


class WrapupBook:
    def __init__(self) -> None:
        self._pops: dict[str, ScreenPop] = {}

    def remember(self, pop: ScreenPop) -> None:
        """A pop just built: a connected call with a known record becomes the line's wrap-up to come."""
        if pop.call_state == "connected" and pop.linkedid:
            self._pops[pop.line] = pop

    def pending(self, line: str) -> ScreenPop | None:
        return self._pops.get(line)

    def pending_id(self, line: str) -> str | None:
        pop = self._pops.get(line)
        return pop.linkedid if pop else None

    def done(self, line: str, linkedid: str) -> bool:
        """The wrap-up of ``linkedid`` on ``line`` ended; False if it was not the line's pending one."""
        pop = self._pops.get(line)
        if pop is None or pop.linkedid != linkedid:
            return False
        del self._pops[line]
        return True
