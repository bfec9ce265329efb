"""An agent that leaves the guild (or is removed), and one that joins later.

The moderator runs without the Server Members intent, so Discord tells it
nothing when a member leaves or joins (GUILD_MEMBER_REMOVE/ADD need that
intent); it learns membership only by asking (`GET /guilds/{id}/members/{user}`),
as the guild check behind `/status` does. What an operator expects:

* a wake is not posted into a channel that nobody it is for can read: with the
  agent gone it fails clearly, falls back to the spawn waker where one is
  configured, and otherwise gives the slot back (DEFERRED) as DESIGN §4 says
  for a wake that fails on every waker;
* `/status` says the agent is not in the guild soon after it left, whether it
  holds a running slot or only pending ones, and stops saying so once it is back;
* an agent that joins after the moderator started is woken like any other.

From a review: the wake went into a new channel the departed agent could not read
and counted as done (no fallback, no slot given back), and `/status` kept a
10-minute-old membership either way; fixed (`MembershipCheck` before a channel is
made or a message posted, `GuildChecker.recheck` for the agents `/status` is about).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
import pytest

from bot.core.models import SlotStatus
from bot.core.status import WakeInfo
from testkit.fakediscord import GUILD_MEMBERS, MESSAGE_CONTENT, FakeDiscord
from testkit.fakediscord.fixtures import (
    MakeFake,
    connected_client,
    fake_discord,
    make_fake_discord,
    quick_client,
)
from tests.cogs.support import ask, general
from tests.e2e.harness import (
    BotHarness,
    SpawnReceiver,
    make_moderator_bot,
    slot_channels,
    spawn_receiver,
)
from tests.faults.discord_fixtures import wake_posts

# Fixtures this module uses besides tests/discord_io/conftest.py's.
__all__ = ["fake_discord", "make_fake_discord", "make_moderator_bot", "spawn_receiver"]

MakeBot = Callable[..., Awaitable[BotHarness]]
ALL_MEMBERS = "all required permissions; all 2 Discord agent(s) are members"


async def _status_text(fake: FakeDiscord, agent: str | None = None) -> str:
    """`/status` (for one agent, or all) as a plain member sees it."""
    options = {} if agent is None else {"agent": agent}
    return (await ask(fake, fake.member, general(fake), "status", options)).text()


async def _alices_last_wake(h: BotHarness) -> WakeInfo:
    wake = await h.fake.wait_for(
        lambda: h.bot.moderator.status("alice").last_wake, what="alice's wake recorded"
    )
    assert wake is not None
    return wake


# ---- the fake's member events ----------------------------------------------------------


async def test_fake_member_events_reach_only_sessions_with_the_server_members_intent(
    make_fake_discord: MakeFake,
) -> None:
    fake = await make_fake_discord(privileged_intents=MESSAGE_CONTENT | GUILD_MEMBERS)
    alice = fake.agents["alice"]
    with_members = quick_client(members=True)
    left: list[int] = []
    joined: list[int] = []

    @with_members.event
    async def on_raw_member_remove(payload: discord.RawMemberRemoveEvent) -> None:
        left.append(payload.user.id)

    @with_members.event
    async def on_member_join(member: discord.Member) -> None:
        joined.append(member.id)

    async with connected_client(fake, with_members), connected_client(fake) as moderator_like:
        fake.remove_member(alice)
        await fake.wait_for(lambda: left == [alice.id], what="GUILD_MEMBER_REMOVE")
        with pytest.raises(ValueError, match="not a member"):
            await fake.inject_message(general(fake), alice, "still here?")
        assert not fake.can_view(general(fake), alice.id)

        fake.join(alice)
        await fake.wait_for(lambda: joined == [alice.id], what="GUILD_MEMBER_ADD")
        guild = moderator_like.get_guild(fake.guild_id)
        assert guild is not None
        assert await guild.fetch_member(alice.id)
    # Both events went to the one session with the intent only.
    sessions = {d.session_id for d in fake.dispatched_events("GUILD_MEMBER_REMOVE")}
    sessions |= {d.session_id for d in fake.dispatched_events("GUILD_MEMBER_ADD")}
    assert len(sessions) == 1


# ---- a wake for an agent that left -----------------------------------------------------


@pytest.mark.parametrize("fallback", ["none", "spawn_url"])
async def test_a_wake_for_an_agent_that_left_is_not_posted_where_it_cannot_read_it(
    make_moderator_bot: MakeBot, spawn_receiver: SpawnReceiver, fallback: str
) -> None:
    settings = {"spawn_url": spawn_receiver.url} if fallback == "spawn_url" else {}
    h = await make_moderator_bot(**settings)
    h.fake.remove_member(h.fake.agents["alice"])

    slot = await h.add_slot("alice", in_s=-1)

    wake = await _alices_last_wake(h)
    assert slot_channels(h.fake, slot.id) == [] and wake_posts(h.fake, slot.id) == []
    if fallback == "spawn_url":  # the next waker wakes her
        assert wake.result.ok and wake.result.via == "spawn_url", wake.result
        assert [body["slot"]["id"] for body in spawn_receiver.bodies] == [slot.id]
        assert (await h.slot(slot.id)).status is SlotStatus.ONGOING
    else:  # a wake failed on every waker: given back, retried later, and said
        assert not wake.result.ok, wake.result
        assert "alice" in (wake.result.error or "") and "member" in (wake.result.error or "")
        await h.wait_status(slot.id, SlotStatus.DEFERRED)
        assert "Last wake: ❌" in await _status_text(h.fake, "alice")


# ---- /status -----------------------------------------------------------------------------


@pytest.mark.parametrize("holding", ["a running slot", "a pending slot"])
async def test_status_says_an_agent_that_left_is_not_in_the_guild(
    make_moderator_bot: MakeBot, holding: str
) -> None:
    h = await make_moderator_bot()
    fake = h.fake
    if holding == "a running slot":
        slot, _ = await h.woken_slot("alice")
    else:
        slot = await h.add_slot("alice", in_s=3600)
    assert ALL_MEMBERS in await _status_text(fake)

    fake.remove_member(fake.agents["alice"])

    text = await _status_text(fake, "alice")
    assert slot.id in text  # her slot is still shown, running or next
    assert f"agents not in the guild: **alice (user {fake.agents['alice'].id})**" in text, text


async def _started_without_alice(fake: FakeDiscord, make_moderator_bot: MakeBot) -> BotHarness:
    """Alice left before the bot started: `/status` names her from the start."""
    alice = fake.agents["alice"]
    fake.remove_member(alice)
    h = await make_moderator_bot()
    assert f"agents not in the guild: **alice (user {alice.id})**" in await _status_text(fake)
    return h


async def test_status_stops_naming_an_agent_once_it_joined(
    fake_discord: FakeDiscord, make_moderator_bot: MakeBot
) -> None:
    fake = fake_discord
    await _started_without_alice(fake, make_moderator_bot)

    fake.join(fake.agents["alice"])

    text = await _status_text(fake)
    assert ALL_MEMBERS in text and "not in the guild" not in text, text


# ---- an agent that joins later -------------------------------------------------------------


async def test_an_agent_that_joins_after_the_start_is_woken_and_its_done_counts(
    fake_discord: FakeDiscord, make_moderator_bot: MakeBot
) -> None:
    fake = fake_discord
    alice = fake.agents["alice"]
    h = await _started_without_alice(fake, make_moderator_bot)

    fake.join(alice)
    slot, channel_id = await h.woken_slot("alice")

    assert alice.id in fake.viewers(channel_id)
    await h.agent_says("alice", channel_id, "DONE: joined late")
    await h.wait_status(slot.id, SlotStatus.FINISHED)
