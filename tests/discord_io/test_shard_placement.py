"""Wake categories with shards (DESIGN §11): shard 0 alone opens them and keeps room ahead.

The real waker and discord.py's REST code against the strict fake Discord: a
non-zero shard places its channels in a category with room, never opens one,
and when none has room its wake fails with a retryable error naming the wait.
"""

from __future__ import annotations

import logging

import discord
import pytest

from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.state import StateStore
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.discord_io.placement import AHEAD_RETRY_S, ROOM_AHEAD, WAITING_FOR_SHARD_0
from testkit.fakediscord import DEFAULT_BOT_PERMISSIONS, FakeDiscord
from tests.discord_io.conftest import (
    GUILD_CHANNELS,
    categories,
    channel_waker,
    fill_category,
    linked,
    make_slot,
    text_channels,
)


def _category_posts(fake: FakeDiscord) -> int:
    return sum(1 for r in fake.requests_for("POST", GUILD_CHANNELS) if r.json["type"] == 4)


@pytest.fixture
def other_shard(
    client: discord.Client, fake: FakeDiscord, state: StateStore, clock: FakeClock
) -> PrivateChannelWaker:
    """The waker of a shard other than 0: it places channels, never opens a category."""
    return channel_waker(client, fake, state, clock, primary=False)


@pytest.fixture
def shard_0(
    client: discord.Client, fake: FakeDiscord, state: StateStore, clock: FakeClock
) -> PrivateChannelWaker:
    """The waker of shard 0 of several: it keeps a category with room ahead of need."""
    return channel_waker(client, fake, state, clock, room_ahead=True)


async def test_another_shard_places_its_channel_in_a_category_with_room(
    fake: FakeDiscord, state: StateStore, agent: AgentConfig, other_shard: PrivateChannelWaker
) -> None:
    full = fake.add_category("agent-wakeups")
    fill_category(fake, full, 50)
    roomy = fake.add_category("agent-wakeups-2")

    result = await other_shard.wake(agent, make_slot("s-shard1"), "p")

    assert result.ok, result.error
    channel_id, _ = await linked(state, "s-shard1")
    assert fake.channel(channel_id)["parent_id"] == str(roomy)
    assert _category_posts(fake) == 0


async def test_another_shard_with_no_room_fails_retryably_and_opens_nothing(
    fake: FakeDiscord,
    state: StateStore,
    clock: FakeClock,
    agent: AgentConfig,
    other_shard: PrivateChannelWaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    full = fake.add_category("agent-wakeups")
    fill_category(fake, full, 49)
    # The 50th: an ended channel that shard 0 could delete early; this shard must not.
    ended = await other_shard.wake(agent, make_slot("s-old"), "p")
    assert ended.ok, ended.error
    await state.mark_ended("s-old", clock.now())
    before = dict(fake.channels)

    with caplog.at_level(logging.WARNING, "bot.discord_io.placement"):
        result = await other_shard.wake(agent, make_slot("s-new"), "p")
        again = await other_shard.wake(agent, make_slot("s-new"), "p")

    assert not result.ok and not again.ok
    assert WAITING_FOR_SHARD_0 in (result.error or "")
    assert any(WAITING_FOR_SHARD_0 in r.getMessage() for r in caplog.records)
    assert fake.channels.keys() == before.keys()  # nothing made, nothing deleted
    assert await state.channel_link("s-new") is None  # nothing half-done to trip a retry


async def test_another_shard_with_no_category_at_all_waits_too(
    fake: FakeDiscord, state: StateStore, agent: AgentConfig, other_shard: PrivateChannelWaker
) -> None:
    result = await other_shard.wake(agent, make_slot("s-first"), "p")
    assert not result.ok and WAITING_FOR_SHARD_0 in (result.error or "")
    assert categories(fake) == [] and text_channels(fake) == []
    assert await other_shard.placement.keep_room_ahead() is None  # not its job either


async def test_shard_0_opens_the_next_category_ahead_of_need(
    fake: FakeDiscord, shard_0: PrivateChannelWaker
) -> None:
    placement = shard_0.placement
    assert placement.keeps_room_ahead

    first = await placement.keep_room_ahead()  # none yet: the first is opened
    assert first is not None and first.name == "agent-wakeups"
    assert await placement.keep_room_ahead() is None  # 50 free: nothing to do
    fill_category(fake, first.id, 50 - ROOM_AHEAD)  # exactly ROOM_AHEAD left
    assert await placement.keep_room_ahead() is None
    fake.add_channel("one-more", parent_id=first.id)
    second = await placement.keep_room_ahead()
    assert second is not None and second.name == "agent-wakeups-2"
    assert _category_posts(fake) == 2


async def test_room_ahead_is_kept_only_by_a_sharded_shard_0(
    fake: FakeDiscord, client: discord.Client, state: StateStore, clock: FakeClock
) -> None:
    for options in ({}, {"primary": False, "room_ahead": True}):
        waker = channel_waker(client, fake, state, clock, **options)
        assert not waker.placement.keeps_room_ahead
        assert await waker.placement.keep_room_ahead() is None
    assert _category_posts(fake) == 0


async def test_a_refused_category_ahead_is_logged_not_raised(
    fake: FakeDiscord,
    clock: FakeClock,
    shard_0: PrivateChannelWaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.set_bot_permissions(0)
    with caplog.at_level(logging.WARNING, "bot.discord_io.placement"):
        assert await shard_0.placement.keep_room_ahead() is None
        assert await shard_0.placement.keep_room_ahead() is None  # not asked again at once
    assert len([r for r in caplog.records if "ahead of need" in r.getMessage()]) == 1
    assert categories(fake) == [] and _category_posts(fake) == 1
    fake.set_bot_permissions(DEFAULT_BOT_PERMISSIONS)
    await clock.advance(AHEAD_RETRY_S)
    opened = await shard_0.placement.keep_room_ahead()
    assert opened is not None and [c["id"] for c in categories(fake)] == [str(opened.id)]
