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
# How the budget is shared, in the order the steps run (tests/e2e/test_shutdown_budget.py
# checks that each way of stopping adds up within it):
#: Work in flight when the stop comes (a loop iteration, the start-up, a wake) may finish
#: within this window, shared by all of it: a wake half-done is worse than a late exit.
IN_FLIGHT_GRACE_S = 2.0
#: One resource closed after the moderator stopped: the wakers' sessions, the calendar
#: API server, the state file, the calendar.
CLOSE_STEP_S = 0.4
#: The resources closed one after the other after the bot (API server, state, calendar).
RESOURCE_STEPS = 3
#: Left for the interpreter's own exit (log flush, thread joins) after the last step.
EXIT_MARGIN_S = 0.5
#: The bot's whole `close()`: the in-flight grace, then discord.py's HTTP and gateway.
CLOSE_BOT_S = SHUTDOWN_BUDGET_S - EXIT_MARGIN_S - RESOURCE_STEPS * CLOSE_STEP_S
#: Headless: the in-flight grace, the moderator's own cancellations, then the wakers' sessions.
HEADLESS_STOP_S = IN_FLIGHT_GRACE_S + 2 * CLOSE_STEP_S
#: The watchdog's last resort: a teardown still running this long after the signal ends the
#: process with status 1 (only a hang gets there; every step above is bounded).
HARD_LIMIT_S = 2 * SHUTDOWN_BUDGET_S


def log_task_end(task: asyncio.Task[Any]) -> None:
    """A done-callback: a task that died of an exception is logged with its name."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("task %s failed", task.get_name(), exc_info=exc)


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel `tasks` (None is passed over) and wait until each has ended, whatever it ended
    with: a stop must not fail on what a task died of, which is its done-callback's to log
    (`log_task_end`). A cancellation of the caller itself still reaches the caller."""
    ending = [task for task in tasks if task is not None]
    for task in ending:
        task.cancel()
    await asyncio.gather(*ending, return_exceptions=True)


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
        await cancel_and_wait(*tasks)
