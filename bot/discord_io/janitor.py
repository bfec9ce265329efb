"""The janitor: deletes ended slots' wake channels after `CHANNEL_RETENTION_S` (DESIGN §5).

It only drives `PrivateChannelWaker.cleanup` on a timer; which channels may go
is decided there (the ledger's ended links, and on start-up leftovers whose
slot the caller reports final). Kept free of discord.py so it runs on the
core's clock and is tested with `FakeClock`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Protocol

from bot.core.clock import Clock
from bot.core.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class ChannelCleaner(Protocol):
    async def cleanup(self, now: datetime, *, final_slot_ids: Collection[str] = ()) -> int: ...


def default_interval_s(retention_s: float) -> float:
    """Often enough that a channel outlives its retention by at most a quarter of it."""
    return min(max(retention_s / 4, 60.0), 3600.0)


class ChannelJanitor:
    """Runs `cleanup` now and then; a failure is logged and the next round still runs."""

    def __init__(
        self,
        cleaner: ChannelCleaner,
        clock: Clock,
        *,
        interval_s: float,
        final_slot_ids: Callable[[], Awaitable[Collection[str]]] | None = None,
    ) -> None:
        self._cleaner = cleaner
        self._clock = clock
        self._interval_s = interval_s
        self._final_slot_ids = final_slot_ids
        self._task: asyncio.Task[None] | None = None
        self.last_deleted = 0
        self.last_error: str | None = None

    async def run_once(self, *, startup: bool = False) -> int:
        """One round; on `startup` leftovers of final slots (from the caller) go too."""
        try:
            finals: Collection[str] = ()
            if startup and self._final_slot_ids is not None:
                finals = await self._final_slot_ids()
            deleted = await self._cleaner.cleanup(self._clock.now(), final_slot_ids=finals)
        except Exception as exc:  # one bad round must not end the loop
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("wake channel cleanup failed; trying again later")
            return 0
        self.last_error = None
        self.last_deleted = deleted
        return deleted

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="channel-janitor")
            self._task.add_done_callback(_log_end)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        await self.run_once(startup=True)
        while True:
            await self._clock.sleep(self._interval_s)
            await self.run_once()


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("channel janitor stopped", exc_info=task.exception())
