"""Background tasks that are never lost and never fail silently.

asyncio keeps only a weak reference to a task: one nobody holds may vanish
mid-flight, and an exception in one nobody awaits is reported late or never.
Every background task of the project is started here, kept in a set until it
ends, and its failure is logged with the task's name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The whole budget of a clean stop (SIGTERM to exit), in real seconds (README: "within 5 s").
SHUTDOWN_BUDGET_S = 5.0


def log_task_end(task: asyncio.Task[Any]) -> None:
    """A done-callback: a task that died of an exception is logged with its name."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("task %s failed", task.get_name(), exc_info=exc)


class TaskGroup:
    """Holds the tasks it starts until they end; `cancel_all` stops whatever is left."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(log_task_end)
        return task

    async def cancel_all(self) -> None:
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
