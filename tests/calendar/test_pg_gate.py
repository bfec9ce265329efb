"""The queue for a PostgreSQL pool's connections (`bot.calendar.pg.gate`), on its own.

A long queue that keeps moving is served whole; one that stops moving fails each waiter
once `stall_s` has passed without a step, as the pool's own timeout would.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from psycopg_pool import PoolTimeout

from bot.calendar.pg.gate import ConnectionGate


async def test_a_queue_longer_than_the_stall_time_is_served_while_it_moves() -> None:
    gate = ConnectionGate(1, stall_s=1.0)
    served: list[int] = []

    async def call(n: int) -> None:
        async with gate.entered():
            await asyncio.sleep(0.02)
            served.append(n)

    started = time.monotonic()
    await asyncio.gather(*(call(n) for n in range(100)))
    # The whole queue took longer than any one caller may wait without a step: each
    # waited its turn, none failed, in the order they came.
    assert time.monotonic() - started > 1.0
    assert served == list(range(100))


async def test_a_queue_that_stops_moving_fails_its_waiters() -> None:
    gate = ConnectionGate(1, stall_s=0.2)
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.entered():
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    results = await asyncio.gather(*(_enter_once(gate) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, PoolTimeout) for r in results)
    release.set()
    await task
    await _enter_once(gate)  # free again: no slot was lost to the failed waiters


async def _enter_once(gate: ConnectionGate) -> None:
    async with gate.entered():
        pass


async def test_a_cancelled_waiter_loses_no_slot() -> None:
    gate = ConnectionGate(1, stall_s=5.0)
    async with gate.entered():
        waiter = asyncio.create_task(_enter_once(gate))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await asyncio.wait_for(_enter_once(gate), timeout=5)
