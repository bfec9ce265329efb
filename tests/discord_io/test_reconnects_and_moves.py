"""The Discord side as people run it: a session Discord would not resume, a chatty wake
channel, a channel a person moved away; with the real `ModeratorBot` (its discord.py HTTP
and gateway code) against the fake Discord. From a review of this side: each failed before
the fix it came with (replies read back at READY, the marker found newest first, the
janitor keeping to the wake categories)."""

from __future__ import annotations

from datetime import timedelta

import discord

from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.models import SlotStatus
from bot.core.state import StateStore
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.presenters.wake_message import claim_marker
from testkit.fakediscord import FakeDiscord
from testkit.fakediscord.fixtures import fake_discord, make_fake_discord
from tests.discord_io.conftest import linked, make_slot, text_channels
from tests.e2e.harness import BotHarness, make_moderator_bot, moderator_bot
from tests.faults.discord_fixtures import bot_texts

# Fixtures this module uses (the e2e harness's, as tests/faults does).
__all__ = ["fake_discord", "make_fake_discord", "make_moderator_bot", "moderator_bot"]


async def test_a_done_sent_while_the_session_was_invalidated_is_not_lost(
    moderator_bot: BotHarness,
) -> None:
    """Discord does not replay events to a new session (a RESUME refused with
    INVALID_SESSION, e.g. after a long outage): a DONE written meanwhile must be read
    from the channel's history once the bot is back, or the slot runs on for nothing."""
    h = moderator_bot
    fake = h.fake
    slot, channel_id = await h.woken_slot("alice")

    async with h.session_forgotten():
        await h.agent_says("alice", channel_id, "DONE: written while you were away")
    assert any(c.op == "identify" for c in fake.gateway_connections[1:])  # not a RESUME

    await h.wait_status(slot.id, SlotStatus.FINISHED, timeout=15)  # a loaded machine: generous
    # The answer is posted after the slot is recorded finished: waited for, not raced.
    await fake.wait_for(
        lambda: any(t.startswith("✅") for t in bot_texts(fake, channel_id)),
        15,
        what="the acknowledgement",
    )


async def test_a_repeated_rewake_in_a_chatty_channel_posts_nothing(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig
) -> None:
    """A later claim's wake, repeated after a crash (as `after_message` leaves it), must find
    the re-wake it already posted, however much the agent wrote in the channel before."""
    first = make_slot("s-chatty", version=2)
    assert (await waker.wake(agent, first, "old words")).ok
    [channel] = text_channels(fake)
    channel_id = int(channel["id"])
    for i in range(55):  # an agent reporting progress as it works
        await fake.inject_message(channel_id, fake.agents["alice"], f"step {i} done, going on")
    again = first.model_copy(update={"version": 5})
    assert (await waker.wake(agent, again, "new words")).ok
    assert (await waker.wake(agent, again, "new words")).ok  # the same claim, after a crash
    me = str(fake.bot_user.id)
    rewakes = [
        m
        for m in fake.messages_in(channel_id)
        if m["author"]["id"] == me and claim_marker(again) in m["content"]
    ]
    assert len(rewakes) == 1, f"the agent was woken {len(rewakes)} times for one claim"


async def test_the_janitor_leaves_a_channel_a_person_moved_out_of_the_wake_category(
    fake: FakeDiscord,
    client: discord.Client,
    waker: PrivateChannelWaker,
    agent: AgentConfig,
    state: StateStore,
    clock: FakeClock,
) -> None:
    """A person who moves an ended slot's channel into a category of their own keeps it:
    the leftover sweep already touches only channels in the wake categories."""
    slot = make_slot("s-kept")
    assert (await waker.wake(agent, slot, "p")).ok
    channel_id, _ = await linked(state, slot.id)
    archive = fake.add_category("archive")
    channel = await client.fetch_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    await channel.edit(category=discord.Object(id=archive))
    assert fake.channel(channel_id)["parent_id"] == str(archive)
    ended_at = clock.now()
    await state.mark_ended(slot.id, ended_at)

    await waker.cleanup(ended_at + timedelta(hours=2))
    assert channel_id in fake.channels, "the janitor deleted a channel a person had moved away"
