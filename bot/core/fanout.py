"""Work over many agents at once, a bounded number at a time.

`asyncio.gather` over a semaphore still makes every task up front: for a tick in
which 10,000 agents are due that is 10,000 suspended coroutines in memory at
the same moment (about 8 KB each, measured: most of what such a tick added to
the process's peak). Here `limit` workers take the items one after the other,
so no more than `limit` are ever in flight or in memory, and the answers come
back in the items' order, as from `gather`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def fan_out(items: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """`work` on every item, at most `limit` at a time; the answers in the items' order.

    The first exception of any `work` stops the rest (cancelled and awaited) and is raised,
    so a caller that wants every item done catches inside `work`.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    todo = list(items)
    answers: dict[int, R] = {}
    feed = iter(enumerate(todo))

    async def worker() -> None:
        for index, item in feed:  # one shared iterator: each item is taken once
            answers[index] = await work(item)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(todo)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return [answers[index] for index in range(len(todo))]
