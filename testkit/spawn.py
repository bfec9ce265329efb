"""A real spawn webhook on loopback: records every wake POSTed to it, answers from a script.

One receiver for the waker tests (scripted statuses and delays, a hung receiver)
and for the bot runs (bodies and Idempotency-Keys). `secret` is the last URL path
segment, so a test can check that it never reaches a log or an error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

#: The secret in the spawn receiver's URL path: a test can check it never reaches a log.
SPAWN_SECRET = "hook-secret-4711"


@dataclass
class SpawnReceiver:
    """Answers `statuses` in turn (then `default_status`), each after `delays` in turn."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    default_status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    #: When each request arrived (wall clock, UTC): a test of "not before its time".
    arrived: list[datetime] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def keys(self) -> list[str | None]:
        """The Idempotency-Key of every request, in order."""
        return [
            next((v for k, v in h.items() if k.lower() == "idempotency-key"), None)
            for h in self.headers
        ]

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived.append(datetime.now(UTC))
        self.headers.append(dict(request.headers))
        self.bodies.append(json.loads(await request.text()))
        self.received.set()
        delay = self.delays.pop(0) if self.delays else 0.0
        if delay:
            await asyncio.sleep(delay)  # plays a hung receiver; the client gives up first
        status = self.statuses.pop(0) if self.statuses else self.default_status
        return web.json_response({"seen": len(self.bodies)}, status=status)


@contextlib.asynccontextmanager
async def serving_spawn_receiver(secret: str = SPAWN_SECRET) -> AsyncIterator[SpawnReceiver]:
    """A `SpawnReceiver` listening at `url` (…/wake/<secret>) until the block ends."""
    receiver = SpawnReceiver()
    app = web.Application()
    app.router.add_post("/wake/{secret}", receiver.handle)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/wake/{secret}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
