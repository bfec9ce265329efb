"""Rounds of queued writes: what is queued while a round runs goes into the next one, together.

The two group commits (the state file's, `bot.core.state.group_commit`, and the
embedded calendar's, `bot.calendar.store.group_commit`) share this part: a
caller queues its unit with a future of its own; one flusher task takes
*everything* queued and hands it to the owner's round, which answers each
future; again, until nothing is queued. What a round does (one transaction,
savepoints, which errors go to whom) is the owner's; `in_thread` takes it to
the connection's thread in one trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import aiosqlite

from bot.core.tasks import TaskGroup

U = TypeVar("U")
T = TypeVar("T")


@dataclass(slots=True)
class Queued(Generic[U]):
    """One caller's unit and the future its caller awaits."""

    unit: U
    answer: asyncio.Future[Any]


class CommitRounds(Generic[U]):
    """The queue and its one flusher; `run` is the owner's round over the live units."""

    def __init__(self, name: str, run: Callable[[list[Queued[U]]], Awaitable[None]]) -> None:
        self._name = name
        self._run = run
        self._queue: list[Queued[U]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tasks = TaskGroup()

    def queue(self, unit: U) -> asyncio.Future[Any]:
        """Queue `unit` for the next round; its future is answered by that round."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(Queued(unit, answer))
        if self._flusher is None:
            self._flusher = self._tasks.spawn(self._flush(), name=self._name)
        return answer

    def strand(self) -> list[Queued[U]]:
        """Take everything still queued: a round failed so that none of it may go on."""
        stranded, self._queue = self._queue, []
        return stranded

    async def drain(self) -> None:
        """Wait until every queued unit went through a round."""
        while self._flusher is not None:
            await asyncio.wait({self._flusher})

    async def _flush(self) -> None:
        try:
            while self._queue:
                taken, self._queue = self._queue, []
                live = [q for q in taken if not q.answer.done()]  # a cancelled caller: dropped
                if live:
                    await self._run(live)
        finally:
            self._flusher = None


async def in_thread(db: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """`fn(connection, *args)` on the connection's own thread: one trip, however much it does."""
    # aiosqlite has no public call for this: `_execute`, untyped, is what its own methods use.
    run = cast("Callable[[Callable[[], T]], Awaitable[T]]", db._execute)
    return await run(lambda: fn(db._conn, *args))
