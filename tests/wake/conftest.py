"""Fixtures for the wakers: slots, agents, a real spawn-webhook receiver on loopback.

The Discord fixtures (the fake Discord, a logged-in discord.py client, a state
file) are added next to these; every test here talks to real servers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from bot.clock import FakeClock
from bot.config import AgentConfig
from bot.models import Slot

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_slot(slot_id: str = "slot-0001", agent_id: str = "alice", **fields: Any) -> Slot:
    data: dict[str, Any] = {
        "id": slot_id,
        "agent_id": agent_id,
        "scheduled_at": START,
        "title": "Morning review",
        "prompt": "Review the open pull requests.",
        "updated_at": START,
    }
    data.update(fields)
    return Slot(**data)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@dataclass
class SpawnReceiver:
    """A real HTTP server that plays a spawn webhook: answers from a script, records bodies."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        self.bodies.append(json.loads(await request.text()))
        self.received.set()
        status = self.statuses.pop(0) if self.statuses else self.default_status
        return web.json_response({"seen": len(self.bodies)}, status=status)


@pytest.fixture
async def spawn_receiver() -> AsyncIterator[SpawnReceiver]:
    receiver = SpawnReceiver()
    app = web.Application()
    app.router.add_post("/hooks/{token}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hooks/s3cret-token"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture
def alice() -> AgentConfig:
    return AgentConfig(id="alice", discord_user_id=None)
