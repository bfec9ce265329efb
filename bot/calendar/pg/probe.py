"""Why a pool lent no connection: busy, or cut off from the database.

A pool that times out cannot say which, and one quick connection attempt can.
But a burst (10,000 due slots at once) makes thousands of calls time out
together, and one probe each would storm a server that is merely busy with
thousands of extra connections: the probe then fails too and every call is
reported "unreachable". So calls that fail together share one probe, and its
answer stands for a few seconds.
"""

from __future__ import annotations

import asyncio
import time

import psycopg

from bot.calendar.pg.errors import describe

#: What a pool timeout means while the database does answer.
BUSY = "no connection came free in time (all in use, or reconnecting)"
#: How long one probe's answer stands for the calls that fail after it.
PROBE_REUSE_S = 5.0
PROBE_TIMEOUT_S = 2


class ReachProbe:
    """One connection attempt at a time for a database URL, its answer shared."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._running: asyncio.Task[str] | None = None
        self._answer: tuple[float, str] | None = None
        #: How many connection attempts were made (what a burst must keep at one).
        self.probes = 0

    async def reason(self) -> str:
        """BUSY while the database answers, else what stops a connection (no password)."""
        if self._answer is not None and time.monotonic() - self._answer[0] < PROBE_REUSE_S:
            return self._answer[1]
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._probe(), name="calendar-db-probe")
        # shielded: a caller cancelled while waiting must not cancel the others' probe
        return await asyncio.shield(self._running)

    async def _probe(self) -> str:
        self.probes += 1
        reason = BUSY
        try:
            probe = await psycopg.AsyncConnection.connect(
                self._url, connect_timeout=PROBE_TIMEOUT_S
            )
            await probe.close()
        except (psycopg.Error, OSError) as exc:
            reason = describe(exc, self._url)
        self._answer = (time.monotonic(), reason)
        return reason
