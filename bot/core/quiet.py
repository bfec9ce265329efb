"""An agent's "nothing to check before T" memo, so a loop tick over thousands of agents costs
a comparison each instead of a look at every agent's schedule (issue 15).

The bound is `Checker.quiet_until`'s: the next instant anything about the agent can come due
as long as nothing changes. Every operation on the agent forgets it (`Agent._after`), so a
change is always looked at afresh; a tick inside the remembered span is answered at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime


class QuietMemo:
    """`needs_attention` is False for timestamps in [`_from`, `_until`)."""

    __slots__ = ("_from", "_until")

    def __init__(self) -> None:
        self._from = 0.0
        self._until = -1.0

    def needs_attention(
        self, now: datetime, ts: float | None, quiet_until: Callable[[datetime], float | None]
    ) -> bool:
        t = now.timestamp() if ts is None else ts
        if self._from <= t < self._until:
            return False
        until = quiet_until(now)
        if until is None:
            self.forget()
            return True
        self._from, self._until = t, until
        return False

    def forget(self) -> None:
        """Something about the agent may have changed: the next question computes afresh."""
        self._until = -1.0
