"""DESIGN §3.2: a keep-alive connection idle between requests is closed by the server.

The rule is exercised with a short idle time so the test does not wait a minute; the
production value is asserted on its own.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.calendar.server import make_app
from bot.calendar.server.protocol import IDLE_TIMEOUT_S, JsonErrorRunner
from bot.calendar.store import EmbeddedCalendar

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"


async def _served(store: EmbeddedCalendar, idle_s: float) -> tuple[web.AppRunner, int]:
    runner = JsonErrorRunner(make_app(store), keepalive_timeout=idle_s)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


def test_the_production_idle_time_is_a_minute() -> None:
    assert IDLE_TIMEOUT_S == 60.0


async def test_an_idle_keep_alive_connection_is_closed(store: EmbeddedCalendar) -> None:
    runner, port = await _served(store, idle_s=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        # Nothing more is sent: the server closes the connection (EOF), not the client.
        rest = await asyncio.wait_for(reader.read(), 30)
        assert rest == b""
        assert reader.at_eof()
        writer.close()
    finally:
        await runner.cleanup()
