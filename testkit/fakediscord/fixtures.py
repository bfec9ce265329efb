"""Pytest fixtures and helpers for tests that run against the fake Discord.

Import the fixtures into an area's conftest.py (see the package docstring).
Every fake made here fails the test at teardown if it recorded a violation,
so a malformed request cannot pass just because the caller swallowed the 400.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import discord
import pytest

from testkit.fakediscord.api import FakeDiscord


@contextlib.asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[FakeDiscord]:
    """A started fake with discord.py pointed at it; violations fail on exit."""
    fake = FakeDiscord(**kwargs)
    await fake.start()
    try:
        with fake.patch_discord_py():
            yield fake
    finally:
        await fake.stop()
    fake.assert_no_violations()


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """The default guild, started, with discord.py's REST base and gateway patched."""
    async with running_fake() as fake:
        yield fake


MakeFake = Callable[..., Awaitable[FakeDiscord]]
Overwrites = dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]


@pytest.fixture
async def make_fake_discord() -> AsyncIterator[MakeFake]:
    """Factory for fakes with other settings: `await make_fake_discord(bot_permissions=...)`."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**kwargs: Any) -> FakeDiscord:
            return await stack.enter_async_context(running_fake(**kwargs))

        yield make


def moderator_intents() -> discord.Intents:
    """What the moderator needs: guilds, guild messages, message content."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    return intents


def quick_client(**intent_flags: bool) -> discord.Client:
    """A client with the moderator's intents (changed by `intent_flags`) that waits
    0.2 s, not discord.py's 2 s, for guilds after READY: the fake sends them at once."""
    intents = moderator_intents()
    for flag, value in intent_flags.items():
        setattr(intents, flag, value)
    return discord.Client(intents=intents, guild_ready_timeout=0.2)


@contextlib.asynccontextmanager
async def rest_client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Logged in over REST only (no gateway), like a one-shot CLI command; closed on exit."""
    bot = discord.Client(intents=moderator_intents())
    await bot.login(fake.token)
    try:
        yield bot
    finally:
        await bot.close()


@contextlib.asynccontextmanager
async def connected_client(
    fake: FakeDiscord,
    client: discord.Client | None = None,
    *,
    ready_timeout: float = 20.0,
) -> AsyncIterator[discord.Client]:
    """Run `client.start(fake.token)` in the background until READY (and the guild is cached).

    Closes the client on exit (no unclosed-session warnings) and re-raises
    whatever made `start` fail, e.g. LoginFailure or PrivilegedIntentsRequired.
    """
    if client is None:
        client = quick_client()
    ready = client
    async with running_client(
        fake,
        client,
        lambda: ready.is_ready() and ready.get_guild(fake.guild_id) is not None,
        ready_timeout,
        what="discord.py client ready with the guild cached",
    ):
        yield client


ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.asynccontextmanager
async def running_client(
    fake: FakeDiscord,
    client: ClientT,
    ready: Callable[[], bool],
    ready_timeout: float,
    *,
    what: str,
    slow_exit_ok: bool = False,
) -> AsyncIterator[ClientT]:
    """`client.start(fake.token)` in the background until `ready()`; closed on exit.

    Re-raises whatever made `start` fail before it was ready. The client gets 10 s
    to stop after `close()`; past that the exit fails, unless `slow_exit_ok`.
    """
    task = asyncio.create_task(client.start(fake.token), name=f"{type(client).__name__}-start")
    try:
        await fake.wait_for(lambda: task.done() or ready(), ready_timeout, what=what)
        if task.done():
            task.result()
            raise RuntimeError(f"{type(client).__name__} stopped before it was ready")
        yield client
    finally:
        await client.close()
        tolerated: tuple[type[BaseException], ...] = (TimeoutError,) if slow_exit_ok else ()
        with contextlib.suppress(asyncio.CancelledError, *tolerated):
            await asyncio.wait_for(task, timeout=10)
