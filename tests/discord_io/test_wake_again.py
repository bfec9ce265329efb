"""A slot woken again in the channel it already has (DESIGN §4, §5): a released slot whose
channel holds an older wake gets the prompt as it is now posted there, in the same channel;
a wake repeated for the same claim (after a crash) posts nothing."""

from __future__ import annotations

import discord

from bot.core.agents import AgentConfig
from bot.core.state import StateStore
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.presenters.wake_message import claim_marker
from testkit.fakediscord import FakeDiscord
from tests.discord_io.conftest import linked, make_slot, text_channels


async def test_a_later_claim_posts_the_edited_prompt_in_the_same_channel(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig, state: StateStore
) -> None:
    first = make_slot("s-again", version=2, prompt="old words")
    assert (await waker.wake(agent, first, "old words")).ok
    [channel] = text_channels(fake)
    channel_id = int(channel["id"])
    # released (v3), edited (v4), claimed again (v5): the same slot, a new claim
    again = first.model_copy(update={"version": 5, "prompt": "new words"})
    result = await waker.wake(agent, again, "new words")
    assert result.ok, result.error
    assert result.reference == str(channel_id)
    assert [int(c["id"]) for c in text_channels(fake)] == [channel_id]  # never made twice
    old, new = fake.messages_in(channel_id)
    assert "old words" in old["content"] and "new words" not in old["content"]
    assert "new words" in new["content"] and "now" in new["content"]
    assert new["content"].startswith(fake.agents["alice"].mention)
    assert claim_marker(again) in new["content"]
    assert await linked(state, first.id) == (channel_id, int(new["id"]))


async def test_a_repeated_wake_of_the_same_claim_posts_nothing(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig, state: StateStore
) -> None:
    slot = make_slot("s-repeat", version=4)
    assert (await waker.wake(agent, slot, "p")).ok
    assert (await waker.wake(agent, slot, "p")).ok  # the same claim, after a crash
    [channel] = text_channels(fake)
    assert len(fake.messages_in(int(channel["id"]))) == 1


async def test_a_later_claim_whose_channel_was_deleted_gets_a_new_one(
    fake: FakeDiscord,
    client: discord.Client,
    waker: PrivateChannelWaker,
    agent: AgentConfig,
    state: StateStore,
) -> None:
    slot = make_slot("s-gone", version=2)
    assert (await waker.wake(agent, slot, "p")).ok
    [channel] = text_channels(fake)
    by_hand = await client.fetch_channel(int(channel["id"]))
    assert isinstance(by_hand, discord.TextChannel)
    await by_hand.delete()  # by hand
    again = slot.model_copy(update={"version": 5})
    assert (await waker.wake(agent, again, "p2")).ok
    [made] = text_channels(fake)
    assert made["id"] != channel["id"]
    [message] = fake.messages_in(int(made["id"]))
    assert "p2" in message["content"]
