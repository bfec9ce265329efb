"""From a review of the day's changes to replies in threads and to membership, on the fake Discord.

Replies in threads (cogs/replies.py). At READY the words written since our last message
are read back, in the wake channel and now in each of its threads, and handled again: "our
last message is the mark: every state change is acknowledged, so what comes after it was
not applied". But an answer to a word written in a thread goes to the wake channel when
Discord refuses it in the thread (the README calls Send Messages in Threads optional). The
thread then never holds our mark, so every word the agent wrote there is applied once more
at every new session while the slot runs: a PAUSE long since resumed pauses it again.

Membership (`GuildChecker.recheck`). A recheck takes the last report before it asks
Discord and stores that report with its own answers after: two at once (two `/status`
for two agents, or `/status` beside `/status alice`) each store the report as it was
before the other, so one agent's "not in the guild" is lost until the next full check
(`GUILD_CHECK_MAX_AGE_S`); a full check finishing meanwhile is overwritten the same way.

The review's failing tests; each passes since its fix.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.core.agents import AgentConfig
from bot.core.models import SlotStatus
from bot.discord_io.guild_check import GuildChecker
from testkit.fakediscord import FakeDiscord, P
from testkit.fakediscord.fixtures import connected_client, running_fake
from tests.e2e.harness import BotHarness, make_moderator_bot, moderator_bot

# Fixtures this module uses besides tests/discord_io/conftest.py's.
__all__ = ["make_moderator_bot", "moderator_bot"]

#: What the agents' own role gives them: they start threads and write in them. The
#: moderator has neither (the fake's @everyone and bot role hold no thread permission).
AGENT_THREAD_PERMISSIONS = P.CREATE_PUBLIC_THREADS | P.SEND_MESSAGES_IN_THREADS


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with running_fake() as fake:
        role = fake.add_role("agents", AGENT_THREAD_PERMISSIONS)
        for agent in fake.agents.values():
            fake.model.members[agent.id].roles.append(role.id)
        yield fake


async def _new_session_that_reads_back(h: BotHarness) -> None:
    """Discord forgets the session (the RESUME is refused): the next READY reads back."""
    fake = h.fake
    assert fake.drop_connections(hold=True) >= 1
    await fake.wait_for(lambda: not fake.gateway.live_sessions(), 10, what="the session cut")
    for session in fake.gateway.sessions.values():
        session.invalid = True


async def test_a_pause_in_a_thread_answered_in_the_channel_is_not_applied_again_at_ready(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    slot, channel_id = await h.woken_slot("alice")
    thread_id = await fake.inject_thread(channel_id, fake.agents["alice"], "notes")

    await h.agent_says("alice", thread_id, "PAUSE")
    await h.wait_status(slot.id, SlotStatus.PAUSED)
    await h.wait_bot_messages(channel_id, 2)  # answered in the channel: the thread refused
    await h.agent_says("alice", channel_id, "RESUME")
    await h.wait_status(slot.id, SlotStatus.ONGOING)
    await h.wait_bot_messages(channel_id, 3)

    await _new_session_that_reads_back(h)
    await h.agent_says("alice", channel_id, "DONE: finished while you were away")
    fake.release_gateway()
    await h.wait_status(slot.id, SlotStatus.FINISHED, timeout=15)

    # Read back in the order written: a PAUSE applied again came before the DONE.
    pauses = [e for e in await h.calendar.slot_events(slot.id) if e.action == "pause"]
    assert len(pauses) == 1, [e.note for e in pauses]


async def test_two_rechecks_at_once_both_find_their_agent_gone(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    agents = [AgentConfig(id=name, discord_user_id=fake.agents[name].id) for name in fake.agents]
    async with connected_client(fake) as client:
        checker = GuildChecker(client, fake.guild_id, agents)
        before = await checker.refresh()
        assert before.non_members == ()
        fake.remove_member(fake.agents["alice"])
        fake.remove_member(fake.agents["bob"])

        await asyncio.gather(checker.recheck({"alice"}), checker.recheck({"bob"}))

        report = checker.report
        assert report is not None
        assert sorted(n.agent_id for n in report.non_members) == ["alice", "bob"]
