"""Who gets the pool's next connection: first come, first served, and "too long" measured from
the queue's last step, not from when a caller joined it (issue 15).

A burst of 10,000 due claims on a pool of 10 connections once failed all but ~1,700 of
them: each waited its own `POOL_WAIT_S` for a connection while the queue was moving
steadily, and timed out only because it was long. Here a caller waits as long as
connections keep coming free; it gives up (`PoolTimeout`, as the pool would) only when
none has for `stall_s`: a database that stopped answering, or a connection held too long.
A caller's wait counts from the last step or from when it joined, whichever is later: after
a quiet spell the last step is long past, and a burst must still queue, not fail at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import PoolTimeout


class ConnectionGate:
    """At most `size` callers hold a connection; the rest queue, failing after `stall_s`
    without progress."""

    def __init__(self, size: int, stall_s: float) -> None:
        self._slots = asyncio.Semaphore(size)
        self._stall_s = stall_s
        self._last_step = time.monotonic()

    @asynccontextmanager
    async def entered(self) -> AsyncIterator[None]:
        await self._enter()
        try:
            yield
        finally:
            self._last_step = time.monotonic()
            self._slots.release()

    async def _enter(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        # One acquire for the whole wait keeps the caller's place in the queue; the loop only
        # looks, now and then, whether the queue still moves.
        joined = time.monotonic()
        turn = asyncio.ensure_future(self._slots.acquire())
        try:
            while True:
                left = self._stall_s - (time.monotonic() - max(self._last_step, joined))
                if left > 0:
                    await asyncio.wait({turn}, timeout=left)
                if turn.done():
                    return
                if time.monotonic() - max(self._last_step, joined) >= self._stall_s:
                    raise PoolTimeout(f"no connection came free in {self._stall_s:g} s")
        except BaseException:
            if not turn.cancel() and not turn.cancelled() and turn.exception() is None:
                self._slots.release()  # the turn came just as we gave up: hand it on
            raise
