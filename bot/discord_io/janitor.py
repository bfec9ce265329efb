"""The janitor: deletes ended slots' wake channels after `CHANNEL_RETENTION_S` (DESIGN §5).

It only drives a cleaner on a timer: on shard 0 (or unsharded)
`PrivateChannelWaker.cleanup`, which deletes the channels of the ledger's ended
links and, each round, the channels in the wake categories whose slot the
caller reports ended at least the retention ago (`retention_passed`, read from
the calendar for every configured agent, so shard 0 also clears the other
shards' channels). Another shard deletes nothing (clean-up is shard 0's,
DESIGN §11); its `EndedLinkPruner` only forgets its ended links once their
retention has passed, so its ledger does not grow. Kept free of discord.py so
it runs on the core's clock and is tested with `FakeClock`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.calendar import Calendar, CalendarError
from bot.core.clock import Clock
from bot.core.history import HISTORY_DAYS_MAX, HISTORY_DAYS_MIN, ended_slots
from bot.core.tasks import cancel_and_wait, log_task_end
from bot.core.waker import ChannelLedger

log = logging.getLogger(__name__)


class ChannelCleaner(Protocol):
    async def cleanup(self, now: datetime, *, final_slot_ids: Collection[str] = ()) -> int: ...


#: How many days past the retention shard 0 still looks for leftover channels' slots.
LOOK_BACK_DAYS = 2


class EndedLinkPruner:
    """A non-zero shard's cleaner: forgets its ended links after retention, deletes nothing."""

    def __init__(self, ledger: ChannelLedger, *, retention_s: float) -> None:
        self._ledger = ledger
        self._retention = timedelta(seconds=retention_s)

    async def cleanup(self, now: datetime, *, final_slot_ids: Collection[str] = ()) -> int:
        forgotten = 0
        for link in await self._ledger.ended_links(now - self._retention):
            await self._ledger.forget_channel(link.slot_id)
            forgotten += 1
        if forgotten:
            log.info(
                "forgot %d ended wake channel link(s); shard 0 deletes the channels", forgotten
            )
        return forgotten


async def retention_passed(
    calendar: Calendar, agent_ids: Sequence[str], now: datetime, retention_s: float
) -> set[str]:
    """The slots of `agent_ids` that ended at least `retention_s` before `now`.

    Their channels may go whoever made them; looked for up to `LOOK_BACK_DAYS`
    past the retention (a round runs at least hourly, so none slips through
    unless shard 0 was down longer).
    """
    cutoff = now - timedelta(seconds=retention_s)
    days = math.ceil(retention_s / 86400) + LOOK_BACK_DAYS
    days = min(HISTORY_DAYS_MAX, max(HISTORY_DAYS_MIN, days))
    return {
        slot.id
        for slot in await ended_slots(calendar, agent_ids, now, days)
        if slot.ended_at is not None and slot.ended_at <= cutoff
    }


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

    async def run_once(self) -> int:
        """One round: ended links past retention, and the caller's final slots' leftovers."""
        try:
            finals: Collection[str] = ()
            if self._final_slot_ids is not None:
                try:
                    finals = await self._final_slot_ids()
                except CalendarError as exc:
                    log.warning(
                        "cannot read which slots ended (%s); only known channels go this round",
                        exc.detail,
                    )
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
            self._task.add_done_callback(log_task_end)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        await self.run_once()
        while True:
            await self._clock.sleep(self._interval_s)
            await self.run_once()
