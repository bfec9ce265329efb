"""PrivateChannelWaker: discord.py's real REST code against the strict fake Discord."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord
import pytest

from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.reply_words import REPLY_HELP
from bot.core.state import StateStore
from bot.discord_io.channel_rules import topic_slot_id
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.presenters.wake_message import wake_marker
from testkit.fakediscord import FakeDiscord, P
from tests.discord_io.conftest import (
    GUILD_CHANNELS,
    MESSAGES,
    AfterALostLedger,
    Process,
    RestLogin,
    categories,
    channel_waker,
    fill_category,
    linked,
    make_slot,
    text_channels,
)


def _only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


async def test_wake_makes_a_private_channel_and_mentions_only_the_agent(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig, state: StateStore
) -> None:
    slot = make_slot("01HZX3K9Q7ABCDEFGHJK", title="Morning review")
    prompt = "**Morning review**\nReview the open pull requests, @everyone."

    result = await waker.wake(agent, slot, prompt)

    assert result.ok, result.error
    assert result.via == "discord"
    channel = _only(text_channels(fake))
    channel_id = int(channel["id"])
    assert result.reference == str(channel_id)
    assert channel["name"] == "alice-01hzx3k9q7ab"
    assert topic_slot_id(channel["topic"]) == slot.id
    assert "Morning review" in channel["topic"]

    # Private: the agent, the moderator and the admin role's members; nobody else.
    assert fake.viewers(channel_id) == {
        fake.agents["alice"].id,
        fake.bot_user.id,
        fake.admin.id,
    }
    for outsider in (fake.member, fake.agents["bob"], fake.agents["carol"]):
        assert not fake.can_view(channel_id, outsider.id)
    assert fake.role_can_view(channel_id, fake.admin_role.id)
    assert not fake.role_can_view(channel_id, fake.everyone_role.id)
    assert not fake.overwrite_notes, fake.overwrite_notes
    assert not fake.denials, fake.denials

    # The wake category is private too, and holds the channel.
    category = _only(categories(fake))
    assert category["name"] == "agent-wakeups"
    assert channel["parent_id"] == category["id"]
    assert not fake.can_view(int(category["id"]), fake.member.id)
    assert not fake.can_view(int(category["id"]), fake.agents["bob"].id)

    # One message: mention first, the prompt, how to reply; pings only the agent.
    message = _only(fake.messages_in(channel_id))
    assert message["content"].startswith(fake.agents["alice"].mention)
    assert prompt in message["content"]
    assert REPLY_HELP in message["content"]
    assert [int(u["id"]) for u in message["mentions"]] == [fake.agents["alice"].id]
    assert message["mention_everyone"] is False and message["mention_roles"] == []
    allowed = _only(fake.requests_for("POST", MESSAGES)).json["allowed_mentions"]
    assert [int(u) for u in allowed["users"]] == [fake.agents["alice"].id]
    assert allowed.get("parse") == [] and not allowed.get("roles")
    assert not allowed.get("replied_user")

    assert await linked(state, slot.id) == (channel_id, int(message["id"]))


async def test_the_link_is_saved_before_the_message_is_posted(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig, state: StateStore
) -> None:
    slot = make_slot("s-link-first")
    seen_at_post: list[object] = []

    original = fake.rest.create_message

    async def spy(ctx: Any) -> Any:
        seen_at_post.append(await state.channel_link(slot.id))
        return await original(ctx)

    fake.rest.create_message = spy  # type: ignore[method-assign]
    result = await waker.wake(agent, slot, "p")
    assert result.ok, result.error
    link = _only(seen_at_post)
    assert link is not None and link.channel_id == int(result.reference or 0)
    assert link.message_id is None


async def test_waking_twice_gives_one_channel_and_one_message(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig
) -> None:
    slot = make_slot("s-twice")
    first = await waker.wake(agent, slot, "p")
    second = await waker.wake(agent, slot, "p")
    assert first.ok and second.ok
    assert first.reference == second.reference
    channel = _only(text_channels(fake))
    assert len(fake.messages_in(int(channel["id"]))) == 1
    assert len(fake.requests_for("POST", GUILD_CHANNELS)) == 2  # category + channel
    assert len(fake.requests_for("POST", MESSAGES)) == 1


async def test_fresh_waker_after_a_crash_before_the_message_posts_exactly_once(
    fake: FakeDiscord,
    rest_client: RestLogin,
    client: discord.Client,
    process: Process,
    agent: AgentConfig,
) -> None:
    slot = make_slot("s-crash-before-message")
    fake.fail_next("POST", MESSAGES, 403)
    async with process(client, "crash.db") as (_, waker):
        failed = await waker.wake(agent, slot, "p")
    assert not failed.ok
    assert failed.error is not None and "cannot post" in failed.error
    channel_id = int(_only(text_channels(fake))["id"])
    assert fake.messages_in(channel_id) == []

    # "Restart": state re-read from disk, a new client, a new waker.
    client2 = await rest_client(fake)
    async with process(client2, "crash.db") as (state, waker):
        assert await linked(state, slot.id) == (channel_id, None)
        again = await waker.wake(agent, slot, "p")
        assert again.ok, again.error
        assert again.reference == str(channel_id)
        assert len(text_channels(fake)) == 1
        assert len(fake.messages_in(channel_id)) == 1
        assert (await linked(state, slot.id))[1] is not None


class _CrashOnSaveMessage(StateStore):
    """The process "dies" right after Discord accepted the message, before it is recorded."""

    async def save_message(self, slot_id: str, message_id: int) -> None:
        raise RuntimeError("power cut")


async def test_fresh_waker_after_a_crash_after_the_message_does_not_repost(
    fake: FakeDiscord, client: discord.Client, process: Process, agent: AgentConfig
) -> None:
    slot = make_slot("s-crash-after-message")
    async with process(client, "crash.db", _CrashOnSaveMessage) as (_, waker):
        result = await waker.wake(agent, slot, "p")
    assert not result.ok  # the waker never raises, even when its ledger does
    channel_id = int(_only(text_channels(fake))["id"])
    assert len(fake.messages_in(channel_id)) == 1

    async with process(client, "crash.db") as (state, waker):
        again = await waker.wake(agent, slot, "p")
        assert again.ok, again.error
        message = _only(fake.messages_in(channel_id))
        assert (await linked(state, slot.id))[1] == int(message["id"])


async def test_a_lost_ledger_finds_the_channel_again_by_its_topic(
    fake: FakeDiscord, after_a_lost_ledger: AfterALostLedger, agent: AgentConfig
) -> None:
    slot = make_slot("s-lost-ledger")
    async with after_a_lost_ledger(slot) as (first, empty, waker):
        again = await waker.wake(agent, slot, "p")
        assert again.ok, again.error
        assert again.reference == first.reference
        assert len(text_channels(fake)) == 1
        channel_id = int(first.reference or 0)
        message = _only(fake.messages_in(channel_id))
        assert await linked(empty, slot.id) == (channel_id, int(message["id"]))


async def test_slots_sharing_a_long_prefix_never_share_a_channel(
    fake: FakeDiscord, client: discord.Client, process: Process, agent: AgentConfig
) -> None:
    one = make_slot("01HZX3K9Q7ABCDEFGHJK-0001")
    two = make_slot("01HZX3K9Q7ABCDEFGHJK-0002")
    async with process(client, "a.db") as (_, waker):
        r1 = await waker.wake(agent, one, "first")
    # Even with no ledger at all, the look-alike channel is not taken for slot two.
    async with process(client, "b.db") as (_, waker):
        r2 = await waker.wake(agent, two, "second")
    assert r1.ok and r2.ok
    assert r1.reference != r2.reference
    chans = text_channels(fake)
    assert len(chans) == 2
    assert chans[0]["name"] == chans[1]["name"]  # same label, different identity
    assert {topic_slot_id(c["topic"]) for c in chans} == {one.id, two.id}
    for ref, slot in ((r1.reference, one), (r2.reference, two)):
        message = _only(fake.messages_in(int(ref or 0)))
        assert wake_marker(slot.id) in message["content"]


async def test_429_with_via_on_channel_creation_gives_one_channel(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig
) -> None:
    assert (await waker.wake(agent, make_slot("s-before"), "p")).ok
    fake.fail_next("POST", GUILD_CHANNELS, 429, retry_after=0.2)
    result = await waker.wake(agent, make_slot("s-rate-limited"), "p")
    assert result.ok, result.error
    assert len(text_channels(fake)) == 2
    assert len(categories(fake)) == 1
    statuses = [r.status for r in fake.requests_for("POST", GUILD_CHANNELS)]
    assert statuses == [201, 201, 429, 201]
    assert len(fake.messages_in(int(result.reference or 0))) == 1


@pytest.mark.parametrize(
    "fake",
    [
        pytest.param(
            {"bot_permissions": P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY},
            id="no-manage-channels",
        )
    ],
    indirect=True,
)
async def test_missing_manage_channels_is_named(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig
) -> None:
    result = await waker.wake(agent, make_slot(), "p")
    assert not result.ok
    assert result.error is not None
    assert "missing Manage Channels" in result.error
    assert str(fake.guild_id) in result.error
    assert text_channels(fake) == []


async def test_guild_channel_cap_is_a_clear_error(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig, state: StateStore
) -> None:
    fake.rules.guild_channel_limit = len(fake.channels) + 1  # room for the category only
    result = await waker.wake(agent, make_slot("s-cap"), "p")
    assert not result.ok
    assert result.error is not None
    assert "500 channels" in result.error and "30013" in result.error
    assert "s-cap" in result.error
    assert await state.channel_link("s-cap") is None


async def test_full_category_makes_room_by_deleting_the_oldest_ended_channel(
    fake: FakeDiscord,
    waker: PrivateChannelWaker,
    agent: AgentConfig,
    state: StateStore,
    clock: FakeClock,
) -> None:
    old = await waker.wake(agent, make_slot("s-old"), "p")
    newer = await waker.wake(agent, make_slot("s-newer"), "p")
    await state.mark_ended("s-old", clock.now())
    await clock.advance(60)
    await state.mark_ended("s-newer", clock.now())
    await clock.advance(60)
    category_id = int(_only(categories(fake))["id"])
    fill_category(fake, category_id, 50)

    result = await waker.wake(agent, make_slot("s-new"), "p")

    assert result.ok, result.error
    assert int(old.reference or 0) not in fake.channels
    assert int(newer.reference or 0) in fake.channels  # only as many as needed go
    assert await state.channel_link("s-old") is None
    assert fake.channel(int(result.reference or 0))["parent_id"] == str(category_id)
    assert len(categories(fake)) == 1


async def test_full_category_with_nothing_ended_opens_a_second_private_category(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig
) -> None:
    live = await waker.wake(agent, make_slot("s-live"), "p")  # not ended: must stay
    category_id = int(_only(categories(fake))["id"])
    fill_category(fake, category_id, 50)

    result = await waker.wake(agent, make_slot("s-overflow"), "p")

    assert result.ok, result.error
    assert int(live.reference or 0) in fake.channels
    second = _only([c for c in categories(fake) if c["name"] == "agent-wakeups-2"])
    channel_id = int(result.reference or 0)
    assert fake.channel(channel_id)["parent_id"] == second["id"]
    assert not fake.can_view(int(second["id"]), fake.member.id)
    assert fake.viewers(channel_id) == {
        fake.agents["alice"].id,
        fake.bot_user.id,
        fake.admin.id,
    }
    # The next wake goes to the second category too, without another new one.
    third = await waker.wake(agent, make_slot("s-overflow-2"), "p")
    assert fake.channel(int(third.reference or 0))["parent_id"] == second["id"]
    assert len(categories(fake)) == 2


@pytest.mark.parametrize(
    "fake", [pytest.param({"category_channel_limit": 1}, id="one-per-category")], indirect=True
)
async def test_discord_saying_full_before_our_count_does_moves_on(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig
) -> None:
    first = await waker.wake(agent, make_slot("s-1"), "p")
    second = await waker.wake(agent, make_slot("s-2"), "p")
    assert first.ok and second.ok, (first.error, second.error)
    parents = {fake.channel(int(r.reference or 0))["parent_id"] for r in (first, second)}
    assert len(parents) == 2
    assert sorted(c["name"] for c in categories(fake)) == ["agent-wakeups", "agent-wakeups-2"]


async def test_cleanup_deletes_ended_channels_after_the_retention_only(
    fake: FakeDiscord,
    client: discord.Client,
    agent: AgentConfig,
    state: StateStore,
    clock: FakeClock,
) -> None:
    waker = channel_waker(client, fake, state, clock, retention_s=3600)
    ended = await waker.wake(agent, make_slot("s-ended"), "p")
    running = await waker.wake(agent, make_slot("s-running"), "p")
    ended_at = clock.now()
    await state.mark_ended("s-ended", ended_at)

    assert await waker.cleanup(ended_at + timedelta(seconds=3599)) == 0
    assert int(ended.reference or 0) in fake.channels

    assert await waker.cleanup(ended_at + timedelta(seconds=3601)) == 1
    assert int(ended.reference or 0) not in fake.channels
    assert int(running.reference or 0) in fake.channels
    assert await state.channel_link("s-ended") is None
    assert await state.channel_link("s-running") is not None

    # A channel someone already deleted by hand is just forgotten.
    await state.mark_ended("s-running", ended_at)
    by_hand = await client.fetch_channel(int(running.reference or 0))
    assert isinstance(by_hand, discord.TextChannel)
    await by_hand.delete()
    assert await waker.cleanup(ended_at + timedelta(hours=2)) == 1
    assert await state.channel_link("s-running") is None


async def test_startup_cleanup_removes_only_leftovers_of_final_slots_in_our_categories(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig, clock: FakeClock
) -> None:
    known = await waker.wake(agent, make_slot("s-known"), "p")
    category_id = int(_only(categories(fake))["id"])
    leftover = fake.add_channel("alice-gone", parent_id=category_id, topic="x · slot-id: s-gone")
    alive = fake.add_channel("alice-alive", parent_id=category_id, topic="x · slot-id: s-alive")
    elsewhere_cat = fake.add_category("general-stuff")
    elsewhere = fake.add_channel(
        "notes", parent_id=elsewhere_cat, topic="people's notes · slot-id: s-gone"
    )

    deleted = await waker.cleanup(clock.now(), final_slot_ids={"s-gone", "s-known"})

    assert deleted == 1
    assert leftover not in fake.channels
    assert alive in fake.channels and elsewhere in fake.channels
    assert int(known.reference or 0) in fake.channels  # the ledger governs it, not the caller


async def test_notify_posts_in_the_slot_channel_without_mentions(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig
) -> None:
    slot = make_slot("s-notify")
    assert not await waker.notify(agent, slot, "nobody home")  # no channel yet
    woken = await waker.wake(agent, slot, "p")
    assert await waker.notify(agent, slot, f"Still there, {fake.agents['alice'].mention}?")
    messages = fake.messages_in(int(woken.reference or 0))
    assert len(messages) == 2
    assert messages[1]["mentions"] == []
    body = fake.requests_for("POST", MESSAGES)[-1].json
    assert body["allowed_mentions"]["parse"] == []
    assert not body["allowed_mentions"].get("users")


async def test_a_prompt_longer_than_one_message_is_posted_in_parts(
    fake: FakeDiscord, waker: PrivateChannelWaker, agent: AgentConfig, state: StateStore
) -> None:
    prompt = "\n".join(f"Step {i}: do the next small thing carefully." for i in range(120))
    assert len(prompt) > 4000
    slot = make_slot("s-long")
    result = await waker.wake(agent, slot, prompt)
    assert result.ok, result.error
    messages = fake.messages_in(int(result.reference or 0))
    assert len(messages) >= 3
    assert messages[0]["content"].startswith(fake.agents["alice"].mention)
    assert [len(m["mentions"]) for m in messages] == [1] + [0] * (len(messages) - 1)
    text = "\n".join(m["content"] for m in messages)
    assert all(f"Step {i}:" in text for i in range(120))
    assert REPLY_HELP in messages[-1]["content"]
    assert (await linked(state, slot.id))[1] == int(messages[0]["id"])
    # Waking again does not repeat any part.
    assert (await waker.wake(agent, slot, prompt)).ok
    assert len(fake.messages_in(int(result.reference or 0))) == len(messages)
