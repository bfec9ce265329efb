"""The precise timer of one agent: sleep until the next thing needs a check, then check.

One task per agent sleeps through the injected clock until `next_wakeup` (a
slot's time, a retry, a stuck-slot deadline, midnight), never longer than the
check interval at once, and is cancelled and restarted when something moves
that time earlier (`rearm`, after every operation).

The spin guard: a check that was "due now" but could not act (the agent busy,
the calendar away) would otherwise be due now again at once, forever. Every
slot change bumps `generation`; a due-now wake-up at or before the last firing
is pushed `SPIN_GUARD` later unless something changed since the check started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.tasks import log_task_end

log = logging.getLogger(__name__)

#: When a computed "due now" check would fire again at the very same instant, wait this long.
SPIN_GUARD = timedelta(seconds=1)


class AgentTimer:
    def __init__(
        self,
        agent_id: str,
        *,
        clock: Clock,
        interval_s: float,
        enabled: bool,
        next_wakeup: Callable[[datetime], datetime],
        fire: Callable[[datetime], Awaitable[None]],
    ) -> None:
        self._agent_id = agent_id
        self._clock = clock
        self._interval = timedelta(seconds=interval_s)
        self._enabled = enabled
        self._next_wakeup = next_wakeup
        self._fire = fire
        self._task: asyncio.Task[None] | None = None
        self._sleeping_task: asyncio.Task[None] | None = None
        self._target: datetime | None = None
        self._last_fire_at: datetime | None = None
        self._stopping = False
        #: `start` was called: until then a change arms nothing, so the start-up's first
        #: check comes once every agent's day and heartbeat are in (DESIGN §4's order
        #: among all due slots, yesterday's owed ones too).
        self._started = False
        # bumped on every slot change; a "due now" check repeats at once only after a change
        self.generation = 0
        self._checked_generation = -1

    # ---- the spin guard ---------------------------------------------------------

    def changed(self) -> None:
        self.generation += 1

    def checked(self, seen: int) -> None:
        """The check that started at generation `seen` is over; its own changes earn a look."""
        self._checked_generation = seen

    def guard(self, soon: datetime) -> datetime:
        """`soon`, unless the last check saw this very state at that time and could not act."""
        if (
            self._last_fire_at is not None
            and soon <= self._last_fire_at
            and self.generation == self._checked_generation
        ):
            return self._last_fire_at + SPIN_GUARD
        return soon

    # ---- the task -----------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        if not self._enabled or self._stopping:
            return
        if self._task is None or self._task.done():
            self._spawn()

    async def stop(self, grace_s: float) -> None:
        """Stop; an in-flight check (a wake) may finish within `grace_s` real seconds."""
        self._stopping = True
        task = self._task
        if task is None or task.done():
            return
        if self._sleeping_task is task:
            task.cancel()
        else:
            done, _ = await asyncio.wait({task}, timeout=grace_s)
            if not done:
                log.warning(
                    "agent %s: in-flight work did not finish in %gs", self._agent_id, grace_s
                )
                task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    @property
    def quiet(self) -> bool:
        """No background work in flight: the timer (if any) is parked on the clock."""
        task = self._task
        return task is None or task.done() or self._sleeping_task is task

    def rearm(self) -> None:
        """Restart the timer when the next wake-up moved earlier than it is sleeping for."""
        if not self._enabled or self._stopping or not self._started:
            return
        task = self._task
        if task is None or task.done():
            self._spawn()
            return
        if self._sleeping_task is not task:
            return  # it is working now and computes its next sleep when done
        if self._target is None or self._capped(self._clock.now()) < self._target:
            task.cancel()
            self._sleeping_task = None
            self._spawn()

    def _spawn(self) -> None:
        task = asyncio.create_task(self._loop(), name=f"timer:{self._agent_id}")
        task.add_done_callback(log_task_end)
        self._task = task

    def _capped(self, now: datetime) -> datetime:
        return min(self._next_wakeup(now), now + self._interval)

    async def _loop(self) -> None:
        me = asyncio.current_task()
        while not self._stopping:
            now = self._clock.now()
            target = self._capped(now)
            self._target = target
            delay = (target - now).total_seconds()
            if delay > 0:
                self._sleeping_task = me
                try:
                    await self._clock.sleep(delay)
                finally:
                    if self._sleeping_task is me:
                        self._sleeping_task = None
            else:
                await asyncio.sleep(0)
            if self._stopping:
                return
            self._last_fire_at = self._clock.now()
            try:
                await self._fire(self._last_fire_at)
            except Exception:
                log.exception("agent %s: timer check failed", self._agent_id)
