"""Fixtures for the wakers: slots, agents, a real spawn-webhook receiver on loopback,
the fake Discord with discord.py's real REST client logged in to it, a real state file.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.models import Slot
from bot.core.state import StateStore
from bot.core.waker import ChannelLedger, WakeResult
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.discord_io.endpoints import point_discord_at, restore_discord_defaults
from testkit.fakediscord import FakeDiscord
from testkit.spawn import SpawnReceiver, serving_spawn_receiver

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGES = "/channels/{channel_id}/messages"
MEMBER = "/guilds/{guild_id}/members/{user_id}"
GUILD_CHANNELS = "/guilds/{guild_id}/channels"


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
async def fake(
    request: pytest.FixtureRequest, make_fake: Callable[..., Awaitable[FakeDiscord]]
) -> FakeDiscord:
    """The default fake; `@pytest.mark.parametrize("fake", [{...}], indirect=True)` gives
    one with other FakeDiscord settings while the fixtures built on it stay usable."""
    settings: dict[str, Any] = getattr(request, "param", {})
    return await make_fake(**settings)


RestLogin = Callable[[FakeDiscord], Awaitable[discord.Client]]


@pytest.fixture
async def rest_client() -> AsyncIterator[RestLogin]:
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


@pytest.fixture
async def client(
    fake: FakeDiscord, rest_client: Callable[[FakeDiscord], Awaitable[discord.Client]]
) -> discord.Client:
    """Logged in over REST only; a module that wants the gateway overrides this fixture."""
    return await rest_client(fake)


@pytest.fixture
def waker(
    client: discord.Client, fake: FakeDiscord, state: StateStore, clock: FakeClock
) -> PrivateChannelWaker:
    """The waker over the test's state file, as most tests here want it."""
    return channel_waker(client, fake, state, clock)


@pytest.fixture
def agent(fake: FakeDiscord) -> AgentConfig:
    """alice, with her Discord account in the fake: the agent every wake here is for."""
    return agent_of(fake, "alice")


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


Process = Callable[..., AbstractAsyncContextManager[tuple[StateStore, PrivateChannelWaker]]]


@pytest.fixture
def process(tmp_path: Path, fake: FakeDiscord, clock: FakeClock) -> Process:
    """One process's life for the restart and lost-ledger tests:
    `async with process(client, "a.db") as (state, waker)` opens the state file of that
    name, gives a fresh waker over it, and closes the file after. `store=` swaps the
    state class (to crash it on a chosen write)."""

    @contextlib.asynccontextmanager
    async def run(
        client: discord.Client, name: str, store: type[StateStore] = StateStore
    ) -> AsyncIterator[tuple[StateStore, PrivateChannelWaker]]:
        opened = await store.open(tmp_path / name, clock=clock)
        try:
            yield opened, channel_waker(client, fake, opened, clock)
        finally:
            await opened.close()

    return run


AfterALostLedger = Callable[
    [Slot], AbstractAsyncContextManager[tuple[WakeResult, StateStore, PrivateChannelWaker]]
]


@pytest.fixture
def after_a_lost_ledger(
    process: Process, client: discord.Client, agent: AgentConfig
) -> AfterALostLedger:
    """`async with after_a_lost_ledger(slot) as (first, empty, waker)`: the slot woken
    (successfully) for `agent` once over one state file, then a fresh `waker` over a new,
    `empty` one, as after the state file was lost; what it does next is the test's."""

    @contextlib.asynccontextmanager
    async def run(slot: Slot) -> AsyncIterator[tuple[WakeResult, StateStore, PrivateChannelWaker]]:
        async with process(client, "a.db") as (_, waker):
            first = await waker.wake(agent, slot, "p")
        assert first.ok, first.error
        async with process(client, "b.db") as (empty, fresh):
            yield first, empty, fresh

    return run
