"""Two sharded moderators (SHARD=0/2 and 1/2) on one fake Discord and one calendar server.

Each is a real `ModeratorBot` with its own gateway session and state file, as two
`python -m bot` processes would be; the calendar is one served over HTTP. Every
agent must be woken exactly once, by its own shard; only shard 0 registers and
answers slash commands (every session receives every interaction).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app.discord_bot import open_bot
from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import SystemClock
from bot.core.models import SlotCreate, SlotStatus
from bot.core.shards import shard_index
from testkit.bots import harness_settings, started
from testkit.fakediscord import FakeDiscord
from testkit.processes import UTC_ZONE
from tests.e2e.harness import BotHarness, slot_channels

AGENTS = ("alice", "bob", "carol")
COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
CALLBACK = "/interactions/{interaction_id}/{token}/callback"


@contextlib.asynccontextmanager
async def sharded_bots(
    fake: FakeDiscord, tmp_path: Path, count: int, label: str = "shard"
) -> AsyncIterator[tuple[EmbeddedCalendar, list[BotHarness]]]:
    """`count` moderators, SHARD=i/count each (state in `<label><i>`), over one served
    calendar (`calendar.db`, kept across calls)."""
    async with contextlib.AsyncExitStack() as stack:
        served = await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=UTC_ZONE)
        stack.push_async_callback(served.close)
        server, port = await serve_app(make_app(served), "127.0.0.1", 0)
        stack.push_async_callback(server.cleanup)
        configs = [AgentConfig(id=a, discord_user_id=fake.agents[a].id) for a in AGENTS]
        bots: list[BotHarness] = []
        for index in range(count):
            where = tmp_path / f"{label}{index}"
            where.mkdir()
            settings = harness_settings(
                fake, where, calendar_url=f"http://127.0.0.1:{port}", shard=f"{index}/{count}"
            )
            bot = await open_bot(settings, configs, clock=SystemClock(), guild_ready_timeout=0.5)
            await stack.enter_async_context(started(fake, bot))
            bots.append(BotHarness(bot, fake, served, settings, configs, where))
        yield served, bots


@pytest.fixture
async def shards(
    fake_discord: FakeDiscord, tmp_path: Path
) -> AsyncIterator[tuple[EmbeddedCalendar, list[BotHarness]]]:
    async with sharded_bots(fake_discord, tmp_path, 2) as pair:
        yield pair


async def test_each_agent_is_woken_once_by_its_own_shard(
    shards: tuple[EmbeddedCalendar, list[BotHarness]],
) -> None:
    calendar, bots = shards
    fake = bots[0].fake
    assert {shard_index(a, 2) for a in AGENTS} == {0, 1}  # both shards have work
    for h in bots:
        mine = {a for a in AGENTS if shard_index(a, 2) == h.bot.options.shard.index}  # type: ignore[union-attr]
        assert set(h.bot.moderator.agent_ids) == mine
    due = SystemClock().now() - timedelta(seconds=1)
    slots = {
        a: await calendar.create_slot(SlotCreate(agent_id=a, scheduled_at=due, title=f"{a}'s"))
        for a in AGENTS
    }
    for h in bots:
        await h.bot.moderator.sync_all()
        await h.bot.moderator.check_all()
    for slot in slots.values():
        await bots[0].wait_wake_channel(slot.id)
        await bots[0].wait_status(slot.id, SlotStatus.ONGOING)
    # Another round of checks on both changes nothing.
    for h in bots:
        await h.bot.moderator.sync_all()
        await h.bot.moderator.check_all()

    for agent, slot in slots.items():
        owner = bots[shard_index(agent, 2)]
        other = bots[1 - shard_index(agent, 2)]
        [channel_id] = slot_channels(fake, slot.id)
        assert len(owner.bot_messages(channel_id)) == 1
        assert (await owner.bot.state.channel_link(slot.id)) is not None
        assert (await other.bot.state.channel_link(slot.id)) is None
        starts = [e for e in await calendar.slot_events(slot.id) if e.action == "start"]
        assert len(starts) == 1

    # A reply is handled by the agent's shard alone: one acknowledgement.
    bob = slots["bob"]
    [channel_id] = slot_channels(fake, bob.id)
    await bots[0].agent_says("bob", channel_id, "DONE: reviewed")
    await bots[0].wait_status(bob.id, SlotStatus.FINISHED)
    await bots[0].wait_bot_messages(channel_id, 2)
    for h in bots:
        await h.bot.moderator.check_all()
    assert len(bots[0].bot_messages(channel_id)) == 2


async def test_only_shard_0_registers_and_answers_slash_commands(
    shards: tuple[EmbeddedCalendar, list[BotHarness]],
) -> None:
    _, bots = shards
    fake = bots[0].fake
    assert bots[0].bot.commands_synced and not bots[1].bot.commands_synced
    assert len(fake.requests_for("PUT", COMMANDS)) == 1
    channel_id = fake.add_channel("general")

    handle = await fake.inject_command(fake.admin, channel_id, "status", {})
    text = await handle.wait_text()

    assert not handle.refused
    assert len(fake.requests_for("POST", CALLBACK)) == 1  # shard 1 stayed silent
    assert text


async def test_a_shard_adopts_its_agents_running_slot_by_the_channel_topic(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    assert shard_index("bob", 2) == 1
    async with sharded_bots(fake, tmp_path, 1, "alone") as (calendar, [solo]):
        due = SystemClock().now() - timedelta(seconds=1)
        slot = await calendar.create_slot(SlotCreate(agent_id="bob", scheduled_at=due))
        await solo.bot.moderator.sync_all()
        await solo.bot.moderator.check_all()
        channel_id = await solo.wait_wake_channel(slot.id)
        await solo.wait_status(slot.id, SlotStatus.ONGOING)

    # Now two shards, each with a fresh state file: nobody's ledger knows the channel.
    async with sharded_bots(fake, tmp_path, 2, "split") as (_, bots):
        assert (await bots[1].slot(slot.id)).status is SlotStatus.ONGOING
        await bots[1].agent_says("bob", channel_id, "DONE: all reviewed")
        await bots[1].wait_status(slot.id, SlotStatus.FINISHED)
        await bots[1].wait_bot_messages(channel_id, 2)  # the wake and shard 1's answer
        link = await bots[1].bot.state.channel_link(slot.id)
        assert link is not None and link.channel_id == channel_id and link.agent_id == "bob"
        assert await bots[0].bot.state.channel_link(slot.id) is None
        assert len(bots[1].bot_messages(channel_id)) == 2
