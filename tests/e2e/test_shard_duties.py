"""What shard 0 does for every shard (DESIGN §11): the wake categories, the channel
clean-up, and `/status` of every agent.

Two real `ModeratorBot`s (SHARD=0/2 and SHARD=1/2), each with its own gateway
session and state file, on one fake Discord and one served calendar. Shard 1
never opens a category: with none to place its channel in, its wake fails with
a reason naming the wait, the slot stays pending, and the retry succeeds once
shard 0 has opened one (which it does at start, ahead of need). An ended
channel of shard 1's agent is deleted by shard 0; shard 1 only forgets it.
`/status` on shard 0 shows shard 1's agents from the calendar, marked by shard.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord

from bot.app.discord_bot import open_bot
from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import SystemClock
from bot.core.models import SlotCreate, SlotStatus
from bot.core.shards import shard_index
from bot.discord_io.janitor import ChannelJanitor, EndedLinkPruner
from bot.discord_io.placement import WAITING_FOR_SHARD_0
from testkit.bots import harness_settings, started
from testkit.fakediscord import FakeDiscord
from testkit.processes import UTC_ZONE
from tests.cogs.support import complete
from tests.e2e.harness import BotHarness, slot_channels, wait_until

AGENTS = ("alice", "bob")
GUILD_CHANNELS = "/guilds/{guild_id}/channels"


@contextlib.asynccontextmanager
async def served_calendar(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedCalendar, str]]:
    async with contextlib.AsyncExitStack() as stack:
        served = await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=UTC_ZONE)
        stack.push_async_callback(served.close)
        server, port = await serve_app(make_app(served), "127.0.0.1", 0)
        stack.push_async_callback(server.cleanup)
        yield served, f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def shard_bot(
    fake: FakeDiscord, tmp_path: Path, calendar: EmbeddedCalendar, url: str, index: int
) -> AsyncIterator[BotHarness]:
    where = tmp_path / f"shard{index}"
    where.mkdir()
    configs = [AgentConfig(id=a, discord_user_id=fake.agents[a].id) for a in AGENTS]
    settings = harness_settings(
        fake, where, calendar_url=url, shard=f"{index}/2", channel_retention_s=0
    )
    bot = await open_bot(settings, configs, clock=SystemClock(), guild_ready_timeout=0.5)
    async with started(fake, bot):
        yield BotHarness(bot, fake, calendar, settings, configs, where)


def category_posts(fake: FakeDiscord) -> int:
    return sum(1 for r in fake.requests_for("POST", GUILD_CHANNELS) if r.json["type"] == 4)


def janitor_of(harness: BotHarness) -> ChannelJanitor:
    cog: Any = harness.bot.get_cog("Scheduler")
    assert cog is not None and isinstance(cog.janitor, ChannelJanitor)
    return cog.janitor


async def test_shard_1_waits_for_shard_0s_category_and_shard_0_cleans_up(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    assert shard_index("alice", 2) == 0 and shard_index("bob", 2) == 1
    async with contextlib.AsyncExitStack() as stack:
        calendar, url = await stack.enter_async_context(served_calendar(tmp_path))
        one = await stack.enter_async_context(shard_bot(fake, tmp_path, calendar, url, 1))
        due = SystemClock().now() - timedelta(seconds=1)
        bob = await calendar.create_slot(SlotCreate(agent_id="bob", scheduled_at=due))
        await one.bot.moderator.sync_all()
        await one.bot.moderator.check_all()

        # No category, and shard 1 may not open one: the wake waits, nothing is lost.
        snap = one.bot.moderator.status("bob")
        assert snap.last_wake is not None and not snap.last_wake.result.ok
        assert WAITING_FOR_SHARD_0 in (snap.last_wake.result.error or "")
        assert snap.consecutive_wake_failures == 1 and snap.wake_retry_at is not None
        assert (await calendar.get_slot(bob.id)).status is SlotStatus.DEFERRED  # given back
        assert category_posts(fake) == 0 and slot_channels(fake, bob.id) == []

        # Shard 0 starts and opens a category ahead of need; shard 1's retry uses it.
        zero = await stack.enter_async_context(shard_bot(fake, tmp_path, calendar, url, 0))
        guild = one.bot.get_guild(fake.guild_id)
        assert guild is not None

        async def seen_by_shard_1() -> list[discord.CategoryChannel]:
            return [c for c in guild.categories if c.name == "agent-wakeups"]

        [category] = await wait_until(seen_by_shard_1, what="shard 0's category at shard 1")
        await one.bot.moderator.check_all(now=snap.wake_retry_at + timedelta(seconds=1))
        channel_id = await one.wait_wake_channel(bob.id)
        assert fake.channel(channel_id)["parent_id"] == str(category.id)
        await one.wait_status(bob.id, SlotStatus.ONGOING)

        alice = await calendar.create_slot(SlotCreate(agent_id="alice", scheduled_at=due))
        await zero.bot.moderator.sync_all()
        await zero.bot.moderator.check_all()
        alice_channel = await zero.wait_wake_channel(alice.id)
        assert fake.channel(alice_channel)["parent_id"] == str(category.id)
        assert category_posts(fake) == 1  # shard 0's, once

        # Bob is done. Shard 1 forgets its link and deletes nothing; shard 0 deletes it.
        assert isinstance(janitor_of(one)._cleaner, EndedLinkPruner)
        await one.agent_says("bob", channel_id, "DONE")
        await one.wait_status(bob.id, SlotStatus.FINISHED)

        async def forgotten() -> bool:
            return await one.bot.state.channel_link(bob.id) is None

        await wait_until(forgotten, what="shard 1 forgot bob's ended channel")
        await janitor_of(one).run_once()
        assert channel_id in fake.channels
        assert await janitor_of(zero).run_once() == 1
        assert channel_id not in fake.channels
        assert alice_channel in fake.channels  # still running


async def test_status_on_shard_0_shows_every_agent_marked_by_shard(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    async with contextlib.AsyncExitStack() as stack:
        calendar, url = await stack.enter_async_context(served_calendar(tmp_path))
        zero = await stack.enter_async_context(shard_bot(fake, tmp_path, calendar, url, 0))
        one = await stack.enter_async_context(shard_bot(fake, tmp_path, calendar, url, 1))
        now = SystemClock().now()
        bob = await calendar.create_slot(
            SlotCreate(agent_id="bob", scheduled_at=now - timedelta(seconds=1), title="Triage")
        )
        later = await calendar.create_slot(  # minutes, not an hour: still today after 23:00
            SlotCreate(agent_id="bob", scheduled_at=now + timedelta(minutes=2), title="Plan")
        )
        await one.bot.moderator.sync_all()
        await one.bot.moderator.check_all()
        await one.wait_status(bob.id, SlotStatus.ONGOING)
        channel_id = fake.add_channel("general")

        handle = await fake.inject_command(fake.admin, channel_id, "status", {})
        text = await handle.wait_text()
        assert "3 agents" not in text and "2 agents: 1 busy, 1 idle" in text
        assert "alice" in text and "bob (shard 1/2)" in text
        assert f"**Triage** (`{bob.id}`)" in text and f"`{later.id}`" in text
        assert "Calendar changes: live" in text

        one_agent = await fake.inject_command(fake.admin, channel_id, "status", {"agent": "bob"})
        alone = await one_agent.wait_text()
        assert "Status of bob (shard 1/2)" in alone and "busy" in alone
        assert zero.bot.answers_interactions and not one.bot.answers_interactions

        # /status suggests every configured agent; /schedule only shard 0's own.
        offered = await complete(fake, fake.admin, channel_id, "status", {"agent": ""}, "agent")
        assert [c["value"] for c in offered] == ["alice", "bob"]
        own = await complete(fake, fake.admin, channel_id, "schedule", {"agent": ""}, "agent")
        assert [c["value"] for c in own] == ["alice"]

        for bad in ("nobody", "**x**" * 1000, "bob\nalice", " "):
            answer = await fake.inject_command(fake.admin, channel_id, "status", {"agent": bad})
            said = await answer.wait_text()
            assert not answer.refused
            if bad.strip():
                assert "unknown agent" in said and "alice, bob" in said and len(said) < 2100
            else:
                assert "2 agents" in said  # blank is "all"
