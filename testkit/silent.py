"""A TCP listener that accepts every connection and never answers: a server hung behind its
proxy (a CalDAV server, a spawn receiver). The connections are held open until it closes,
so a client waits for its own timeout; `accepted` counts them, as a test's event to wait on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from testkit.bots import WAIT_S


class SilentServer:
    """What `silent_server` yields: its port on 127.0.0.1 and the connections it took."""

    def __init__(self) -> None:
        self.port = 0
        self.accepted = 0
        self._news = asyncio.Event()
        self._held: list[asyncio.StreamWriter] = []

    async def _hold(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.append(writer)
        self.accepted += 1
        self._news.set()

    async def until_accepted(self, count: int, ceiling_s: float = WAIT_S) -> None:
        """Until `count` connections came in all (TimeoutError after `ceiling_s`)."""
        async with asyncio.timeout(ceiling_s):
            while self.accepted < count:
                self._news.clear()
                await self._news.wait()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[SilentServer]:
    """A `SilentServer` listening until the block ends (then its connections are closed)."""
    silent = SilentServer()
    server = await asyncio.start_server(silent._hold, "127.0.0.1", 0)
    silent.port = server.sockets[0].getsockname()[1]
    try:
        yield silent
    finally:
        for writer in silent._held:
            writer.close()
        server.close()
        await server.wait_closed()
