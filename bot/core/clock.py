"""Time as a dependency: the core reads the time and sleeps only through a `Clock`.

`SystemClock` is production; `FakeClock` lets tests (and benchmarks that want a
simulated day) drive the *real* timer tasks by advancing time by hand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to.

    Sleepers park on a heap keyed by their wake-up time; `advance` walks the heap
    in order, moving `now` to each deadline and letting the woken tasks run
    before going on, so a timer that re-arms itself sees consistent time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers, (self._now + timedelta(seconds=seconds), next(self._seq), fut)
        )
        await fut

    async def settle(self, rounds: int = 20) -> None:
        """Let every runnable task run until the loop is quiet (bounded)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing every sleeper due on the way, in order."""
        target = self._now + timedelta(seconds=seconds)
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, fut = heapq.heappop(self._sleepers)
            if fut.done():
                continue
            self._now = max(self._now, when)
            fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    async def set(self, when: datetime) -> None:
        """Jump to an absolute time (forward only; going back is a clock jump, see `jump`)."""
        await self.advance((when - self._now).total_seconds())

    def jump(self, seconds: float) -> None:
        """A wall-clock jump: time changes but no sleeper is woken (as after a suspend)."""
        self._now += timedelta(seconds=seconds)
