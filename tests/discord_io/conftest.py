"""Fixtures for the wakers: slots, agents, a real spawn-webhook receiver on loopback,
the fake Discord with discord.py's real REST client logged in to it, a real state file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.models import Slot
from bot.core.state import StateStore
from bot.core.waker import ChannelLedger
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.discord_io.endpoints import point_discord_at, restore_discord_defaults
from tests.fakediscord import FakeDiscord
from tests.support.spawn import SpawnReceiver, serving_spawn_receiver

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


@pytest.fixture
async def spawn_receiver() -> AsyncIterator[SpawnReceiver]:
    async with serving_spawn_receiver("s3cret-token") as receiver:
        yield receiver


@pytest.fixture
def alice() -> AgentConfig:
    return AgentConfig(id="alice", discord_user_id=None)


# ---- the fake Discord, reached through the project's own endpoint switch --------


@pytest.fixture
async def make_fake() -> AsyncIterator[Callable[..., Awaitable[FakeDiscord]]]:
    """Start fakes (any FakeDiscord settings); discord.py is pointed at the last one.

    Pointed with `bot.discord_io.endpoints.point_discord_at`, the code the bot runs,
    not the fake's own patch. A schema violation fails the test at teardown.
    """
    fakes: list[FakeDiscord] = []

    async def make(**kwargs: Any) -> FakeDiscord:
        fake = FakeDiscord(**kwargs)
        await fake.start()
        fakes.append(fake)
        point_discord_at(fake.api_base, fake.ws_url)
        return fake

    try:
        yield make
    finally:
        restore_discord_defaults()
        for fake in fakes:
            await fake.stop()
    for fake in fakes:
        fake.assert_no_violations()


@pytest.fixture
async def fake(make_fake: Callable[..., Awaitable[FakeDiscord]]) -> FakeDiscord:
    return await make_fake()


@pytest.fixture
async def rest_client() -> AsyncIterator[Callable[[FakeDiscord], Awaitable[discord.Client]]]:
    """discord.Clients logged in over REST only (no gateway): `await rest_client(fake)`."""
    clients: list[discord.Client] = []

    async def login(fake: FakeDiscord) -> discord.Client:
        client = discord.Client(intents=discord.Intents.none())
        clients.append(client)
        await client.login(fake.token)
        return client

    try:
        yield login
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def state(tmp_path: Path, clock: FakeClock) -> AsyncIterator[StateStore]:
    store = await StateStore.open(tmp_path / "state.db", clock=clock)
    try:
        yield store
    finally:
        await store.close()


def agent_of(fake: FakeDiscord, name: str) -> AgentConfig:
    return AgentConfig(id=name, discord_user_id=fake.agents[name].id)


def channel_waker(
    client: discord.Client,
    fake: FakeDiscord,
    ledger: ChannelLedger,
    clock: FakeClock,
    **kwargs: Any,
) -> PrivateChannelWaker:
    options: dict[str, Any] = {
        "category_name": "agent-wakeups",
        "admin_role_id": fake.admin_role.id,
        "retention_s": 3600.0,
        "clock": clock,
    }
    options.update(kwargs)
    return PrivateChannelWaker(client, fake.guild_id, ledger, **options)


async def linked(ledger: ChannelLedger, slot_id: str) -> tuple[int, int | None]:
    """The slot's (channel id, message id) in the ledger; fails when it has no link."""
    link = await ledger.channel_link(slot_id)
    assert link is not None, f"no channel link for slot {slot_id}"
    return link.channel_id, link.message_id


def text_channels(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [c for c in fake.channels.values() if c["type"] == 0]


def categories(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [c for c in fake.channels.values() if c["type"] == 4]


def fill_category(fake: FakeDiscord, category_id: int, upto: int) -> None:
    """People's channels in the category until it holds `upto`."""
    children = [c for c in fake.channels.values() if c.get("parent_id") == str(category_id)]
    for i in range(upto - len(children)):
        fake.add_channel(f"filler-{i}", parent_id=category_id, topic="made by a person")
