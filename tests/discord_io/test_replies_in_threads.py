"""Replies written in a thread of a wake channel (DESIGN §6), against the fake's threads.

An agent (or a person) may answer inside a thread started in its private wake
channel: Discord then sends MESSAGE_CREATE with the *thread's* id as
`channel_id`, and the thread's `parent_id` is the wake channel. What a user
expects: a thread of the wake channel is part of that channel, so the agent's
DONE there completes its slot, while anyone else's changes nothing, and a thread
anywhere else is as unrelated as its channel. The first tests check that the
fake hands discord.py real `discord.Thread`s; the rest run the real bot. From a
review: the agent's DONE in a thread was dropped (the listener looked up the thread's
id, not its parent's), also when read back after an outage; both fixed.

The fake's @everyone here holds what Discord's default @everyone does for
threads (create public and private threads, send messages in threads): the
fake's own default is smaller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from bot.core.models import Slot, SlotStatus
from testkit.fakediscord import DEFAULT_EVERYONE_PERMISSIONS, FakeDiscord, P
from testkit.fakediscord.fixtures import connected_client, quick_client, running_fake
from tests.e2e.harness import BotHarness, make_moderator_bot, moderator_bot

# Fixtures this module uses besides tests/discord_io/conftest.py's.
__all__ = ["make_moderator_bot", "moderator_bot"]

THREAD_PERMISSIONS = P.CREATE_PUBLIC_THREADS | P.CREATE_PRIVATE_THREADS | P.SEND_MESSAGES_IN_THREADS
#: How long a reply word may take to move the slot once written (the fake is in-process).
APPLIED_WITHIN_S = 5.0


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """The default guild, with Discord's default thread permissions for @everyone."""
    async with running_fake(
        everyone_permissions=DEFAULT_EVERYONE_PERMISSIONS | THREAD_PERMISSIONS
    ) as fake:
        yield fake


def _by_bot(fake: FakeDiscord, channel_id: int) -> list[dict[str, Any]]:
    me = str(fake.bot_user.id)
    return [m for m in fake.messages_in(channel_id) if m["author"]["id"] == me]


async def _paused_by_the_agent(h: BotHarness, slot: Slot, channel_id: int) -> None:
    """A barrier: the agent's own PAUSE in the wake channel, applied and answered.

    Messages are handled in arrival order, so the ones written before it have
    been looked at by then; the slot being PAUSED (not FINISHED or ABORTED) shows
    none of them moved it.
    """
    await h.agent_says("alice", channel_id, "PAUSE")
    answers = await h.wait_bot_messages(channel_id, 2)
    assert (await h.slot(slot.id)).status is SlotStatus.PAUSED
    assert "paused" in answers[1]["content"], answers[1]["content"]


async def _woken_with_a_thread(h: BotHarness) -> tuple[Slot, int, int]:
    """Alice's slot once woken, its wake channel, and a thread she started there."""
    slot, channel_id = await h.woken_slot("alice")
    thread_id = await h.fake.inject_thread(channel_id, h.fake.agents["alice"], "working notes")
    return slot, channel_id, thread_id


# ---- the fake's threads, as discord.py sees them ------------------------------------


async def test_fake_a_message_in_a_thread_reaches_discord_py_in_a_thread_of_its_parent(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    alice = fake.agents["alice"]
    work = fake.add_channel("work")
    client = quick_client()
    seen: list[discord.Message] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message)

    async with connected_client(fake, client):
        guild = client.get_guild(fake.guild_id)
        assert guild is not None
        thread_id = await fake.inject_thread(work, alice, "notes")
        await fake.inject_message(thread_id, alice, "DONE: in the thread")
        await fake.wait_for(lambda: len(seen) == 2, what="the notice and the thread's message")

        notice, in_thread = seen
        # Discord's "alice started a thread" notice in the parent: not a user message.
        assert notice.type is discord.MessageType.thread_created
        assert notice.channel.id == work and notice.content == "notes"
        assert isinstance(in_thread.channel, discord.Thread)
        assert in_thread.channel.id == thread_id and in_thread.channel.parent_id == work
        assert in_thread.content == "DONE: in the thread"
        assert guild.get_thread(thread_id) is in_thread.channel

        # The bot may answer there (Send Messages in Threads, from @everyone).
        await in_thread.channel.send("noted")
        assert [m["content"] for m in fake.messages_in(thread_id)] == [
            "DONE: in the thread",
            "noted",
        ]
        assert fake.threads_in(work)[0]["message_count"] == 2


async def test_fake_threads_are_in_guild_create_and_private_ones_only_for_their_members(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    alice, bob = fake.agents["alice"], fake.agents["bob"]
    work = fake.add_channel("work")
    public = await fake.inject_thread(work, alice, "public")
    private = await fake.inject_thread(work, alice, "private", private=True)
    with_bot = await fake.inject_thread(
        work, alice, "private, bot added", private=True, members=(fake.bot_user,)
    )
    assert not fake.can_view(private, bob.id) and fake.can_view(private, alice.id)

    async with connected_client(fake) as client:
        guild = client.get_guild(fake.guild_id)
        assert guild is not None
        assert {t.id for t in guild.threads} == {public, with_bot}
        thread = guild.get_thread(public)
        assert thread is not None and thread.parent_id == work
        assert [c.id for c in guild.text_channels] == [work]  # threads are not channels

        await fake.inject_message(private, alice, "unseen")
        await fake.inject_message(with_bot, alice, "seen")
        created = [int(d.data["channel_id"]) for d in fake.dispatched_events("MESSAGE_CREATE")]
        assert private not in created and with_bot in created

    # Posting in a thread takes Send Messages in Threads, not Send Messages.
    fake.set_role_permissions(fake.everyone_role.id, DEFAULT_EVERYONE_PERMISSIONS)
    with pytest.raises(PermissionError):
        await fake.inject_message(public, bob, "hello")
    await fake.inject_message(work, bob, "hello")


# ---- the moderator and threads of wake channels ---------------------------------------


async def test_the_agents_done_in_a_thread_of_its_wake_channel_completes_the_slot(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    slot, channel_id, thread_id = await _woken_with_a_thread(h)

    await h.agent_says("alice", thread_id, "DONE: shipped from the thread")

    await h.wait_status(slot.id, SlotStatus.FINISHED, timeout=APPLIED_WITHIN_S)
    # Acknowledged where the agent will read it (the thread, or the wake channel), quietly.
    acks = await fake.wait_for(
        lambda: [
            m
            for m in _by_bot(fake, thread_id) + _by_bot(fake, channel_id)[1:]  # not the wake
            if "finished" in m["content"]
        ],
        what="the acknowledgement",
    )
    assert len(acks) == 1 and "shipped from the thread" in acks[0]["content"]
    assert acks[0]["mentions"] == []


async def test_someone_elses_done_in_a_thread_of_the_wake_channel_changes_nothing(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    slot, channel_id, thread_id = await _woken_with_a_thread(h)

    # A person who may read the wake channel (the admin role), and another agent.
    await fake.inject_message(thread_id, fake.admin, "DONE: the admin says so")
    await fake.inject_message(thread_id, fake.agents["bob"], "ABORT", check_permissions=False)
    await _paused_by_the_agent(h, slot, channel_id)

    assert _by_bot(fake, thread_id) == []
    assert len(_by_bot(fake, channel_id)) == 2  # the wake and the PAUSE answer only


async def test_a_thread_in_an_unrelated_channel_changes_nothing(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    alice = fake.agents["alice"]
    slot, channel_id = await h.woken_slot("alice")
    general = fake.add_channel("general")
    thread_id = await fake.inject_thread(general, alice, "chatter")

    await h.agent_says("alice", thread_id, "DONE: wrong place")
    await h.agent_says("alice", general, "ABORT: wrong place too")
    await _paused_by_the_agent(h, slot, channel_id)

    assert _by_bot(fake, thread_id) == [] and _by_bot(fake, general) == []


async def test_a_thread_named_done_in_the_wake_channel_is_not_a_reply(
    moderator_bot: BotHarness,
) -> None:
    """Starting a thread leaves Discord's notice, by the agent, with the thread's name as its
    text, in the wake channel: a system message, not the agent's words."""
    h = moderator_bot
    fake = h.fake
    slot, channel_id = await h.woken_slot("alice")

    await fake.inject_thread(channel_id, fake.agents["alice"], "DONE")

    notices = [m for m in fake.messages_in(channel_id) if m["type"] == 18]
    assert [n["content"] for n in notices] == ["DONE"]
    await _paused_by_the_agent(h, slot, channel_id)


async def test_a_done_in_a_thread_while_the_session_was_invalidated_is_read_back(
    moderator_bot: BotHarness,
) -> None:
    """Discord replays nothing to a new session: the read-back at READY covers the wake
    channel's threads as well as the channel."""
    h = moderator_bot
    fake = h.fake
    slot, _, thread_id = await _woken_with_a_thread(h)

    async with h.session_forgotten():
        await h.agent_says("alice", thread_id, "DONE: written in the thread while you were away")

    await h.wait_status(slot.id, SlotStatus.FINISHED, timeout=15)
    # The answer is posted after the slot is recorded finished: waited for, not raced.
    await fake.wait_for(
        lambda: any("finished" in m["content"] for m in _by_bot(fake, thread_id)),
        15,
        what="the acknowledgement in the thread",
    )
