"""The fake clock for the scheduling core, with a way to wait until its moderators are quiet.

The embedded calendar and the state store run their SQLite work in aiosqlite's
thread, so "let every task run" needs a little real time, not just a few
event-loop turns. `SettlingClock.settle` therefore waits (bounded, 20 s) until
every watched moderator is quiet, i.e. each agent's timer task is parked on the
fake clock again. The timers themselves are the production ones.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Protocol

from bot.core.clock import FakeClock

#: Real-time ceiling for one settle; generous for a loaded 2-core machine.
SETTLE_CEILING_S = 20.0


class Quiet(Protocol):
    """What `settle` waits on (a `Moderator`): no timer work in flight."""

    @property
    def quiet(self) -> bool: ...


class SettlingClock(FakeClock):
    """`settle` waits (bounded, real time) until every watched moderator's timers are parked."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.watched: list[Quiet] = []

    def watch(self, moderator: Quiet) -> None:
        self.watched.append(moderator)

    def unwatch(self, moderator: Quiet) -> None:
        if moderator in self.watched:
            self.watched.remove(moderator)

    async def settle(self, rounds: int = 20) -> None:
        deadline = time.monotonic() + SETTLE_CEILING_S
        spins = 0
        while True:
            for _ in range(rounds):
                await asyncio.sleep(0)
            if self._all_quiet():
                # one more pass: a quiet moderator may have just queued a re-arm
                for _ in range(rounds):
                    await asyncio.sleep(0)
                if self._all_quiet():
                    return
            spins += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"moderators not quiet within {SETTLE_CEILING_S:g} s")
            await asyncio.sleep(0.0005 if spins < 200 else 0.005)

    def _all_quiet(self) -> bool:
        return all(m.quiet for m in self.watched)
