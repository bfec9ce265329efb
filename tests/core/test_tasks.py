"""`bot.core.tasks`: a stop cancels what is left and waits for it, and never fails on it."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.tasks import TaskGroup, cancel_and_wait


async def _forever() -> None:
    await asyncio.Event().wait()


async def _fail() -> None:
    raise RuntimeError("boom")


async def test_cancel_and_wait_ends_running_tasks_and_passes_over_none_and_finished_ones() -> None:
    running = asyncio.create_task(_forever())
    failed = asyncio.create_task(_fail())
    done = asyncio.create_task(asyncio.sleep(0))
    await asyncio.wait({failed, done})
    await cancel_and_wait(running, None, failed, done)  # a failure it meets is not raised
    assert running.cancelled()
    assert isinstance(failed.exception(), RuntimeError) and done.result() is None


async def test_a_cancelled_caller_is_still_cancelled() -> None:
    caught = asyncio.Event()

    async def takes_its_time_to_end() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            caught.set()
            await asyncio.Event().wait()  # cleaning up, until cancelled again

    child = asyncio.create_task(takes_its_time_to_end())
    await asyncio.sleep(0)
    caller = asyncio.create_task(cancel_and_wait(child))
    await caught.wait()  # the caller is now waiting for the child
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert child.cancelled()


async def test_a_task_group_cancels_all_it_holds_and_is_empty_after() -> None:
    group = TaskGroup()
    tasks = [group.spawn(_forever(), f"forever-{i}") for i in range(3)]
    assert len(group) == 3
    await group.cancel_all()
    assert all(task.cancelled() for task in tasks) and len(group) == 0
