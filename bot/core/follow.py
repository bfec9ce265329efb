"""Re-reading one agent's day as soon as the calendar says it changed (DESIGN §4.1).

The periodic sync is the safety net; news of a change (the embedded calendar's
in-process notice, a change feed) asks for a sync of that agent at once. A
burst of news for one agent costs one sync, plus one more when news came while
that sync ran (it may have read the day just before the change): `poke` only
marks the agent dirty, and a single task syncs until it is clean. The sync
itself goes through the agent's normal lock, and the ETag makes an unchanged
day cheap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.core.tasks import log_task_end


class ChangeFollower:
    """One agent's pending "the calendar changed" news and the task that answers it."""

    def __init__(self, agent_id: str, sync: Callable[[], Awaitable[object]]) -> None:
        self._agent_id = agent_id
        self._sync = sync
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        #: Syncs run for news (for `/status` and the benchmarks).
        self.syncs = 0

    def poke(self) -> None:
        """The agent's slots changed: sync soon, once for however many pokes come meanwhile."""
        if self._stopped:
            return
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"follow:{self._agent_id}")
            self._task.add_done_callback(log_task_end)

    @property
    def quiet(self) -> bool:
        return self._task is None or self._task.done()

    async def stop(self, grace_s: float) -> None:
        """No more syncs for news; one in flight may finish within `grace_s` real seconds."""
        self._stopped = True
        task, self._task = self._task, None
        if task is None or task.done():
            return
        _, pending = await asyncio.wait({task}, timeout=grace_s)
        for late in pending:
            late.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while self._dirty and not self._stopped:
            self._dirty = False
            self.syncs += 1
            await self._sync()
