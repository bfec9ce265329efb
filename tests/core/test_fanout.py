"""`fan_out`: every item once, in order, never more than `limit` in flight, the first failure
stopping the rest."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.fanout import fan_out


async def test_answers_come_in_the_items_order_whatever_order_they_finish_in() -> None:
    async def slow_for_small(n: int) -> int:
        for _ in range(10 - n):  # item 0 yields the most, so it finishes last
            await asyncio.sleep(0)
        return n * n

    assert await fan_out(range(10), slow_for_small, 4) == [n * n for n in range(10)]


async def test_never_more_than_limit_in_flight_and_each_item_taken_once() -> None:
    in_flight = 0
    most = 0
    seen: list[int] = []

    async def work(n: int) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        seen.append(n)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        in_flight -= 1

    await fan_out(range(50), work, 3)
    assert most == 3
    assert sorted(seen) == list(range(50))


async def test_the_first_failure_is_raised_and_cancels_the_work_in_flight() -> None:
    cancelled: list[int] = []
    started: list[int] = []

    async def work(n: int) -> int:
        started.append(n)
        if n == 1:
            raise RuntimeError("item 1 failed")
        try:
            await asyncio.Event().wait()  # never set: only a cancellation ends it
        except asyncio.CancelledError:
            cancelled.append(n)
            raise
        return n

    with pytest.raises(RuntimeError, match="item 1 failed"):
        await fan_out(range(10), work, 2)
    assert started == [0, 1]  # the items after the failure are never started
    assert cancelled == [0]


async def test_no_items_is_no_answers_and_a_limit_below_one_is_refused() -> None:
    async def work(n: int) -> int:
        return n

    assert await fan_out([], work, 5) == []
    with pytest.raises(ValueError, match="at least 1"):
        await fan_out([1], work, 0)
