"""Discord misbehaving under the running bot: refusals, rate limits, 5xx, a dropped gateway.

The real `ModeratorBot` (the same class, cogs and discord.py HTTP/gateway code as
`python -m bot`) runs against the fake Discord, which injects the faults at the
HTTP and websocket level. Each test asserts nothing is lost and nothing doubles:
the slot is woken (through Discord or the fallback), exactly one channel and one
wake message exist, and the agent's reply is applied once.

Already covered elsewhere, at the waker level (tests/discord_io, tests/wakers): 403/30013 fall back
to the webhook through the chain, one 429 on channel creation. Here the whole
bot runs, with bursts and with what a person sees in `/status` and the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.core.models import Slot, SlotStatus
from bot.wakers.spawn import wake_id_for
from testkit.fakediscord import DEFAULT_BOT_PERMISSIONS, FakeDiscord, P
from testkit.fakediscord.fixtures import fake_discord, make_fake_discord
from tests.e2e.harness import (
    BotHarness,
    SpawnReceiver,
    make_moderator_bot,
    moderator_bot,
    running_bot,
    slot_channels,
    spawn_receiver,
)
from tests.faults.discord_fixtures import (
    CHANNEL_MESSAGES,
    GUILD_CHANNELS,
    bot_texts,
    wake_posts,
)

# Fixtures this module uses (no conftest of ours in tests/faults/).
__all__ = [
    "fake_discord",
    "make_fake_discord",
    "make_moderator_bot",
    "moderator_bot",
    "spawn_receiver",
]

MakeFake = Callable[..., Awaitable[FakeDiscord]]


async def _done_and_acked(h: BotHarness, slot_id: str, channel_id: int) -> None:
    await h.agent_says("alice", channel_id, "DONE: all good")
    await h.wait_status(slot_id, SlotStatus.FINISHED)
    await h.fake.wait_for(
        lambda: any(t.startswith("✅") for t in bot_texts(h.fake, channel_id)),
        20,
        what="the acknowledgement",
    )


async def _wake_recorded(h: BotHarness, slot_id: str) -> None:
    """The core recorded the wake as a success through Discord (no failure, no retry)."""
    wake = await h.fake.wait_for(
        lambda: h.bot.moderator.status("alice").last_wake, 20, what="the wake recorded"
    )
    assert wake is not None
    assert wake.slot_id == slot_id and wake.result.ok and wake.result.via == "discord", wake
    assert h.bot.moderator.status("alice").consecutive_wake_failures == 0


def _exactly_one_wake(fake: FakeDiscord, slot_id: str) -> int:
    """One channel names the slot and one wake message mentions the agent there; its id."""
    channels = slot_channels(fake, slot_id)
    assert len(channels) == 1, channels
    posts = wake_posts(fake, slot_id)
    assert len(posts) == 1, [p["content"][:60] for p in posts]
    assert int(posts[0]["channel_id"]) == channels[0]
    return channels[0]


async def _alice_woken(h: BotHarness) -> tuple[Slot, int]:
    """Alice's slot, due a second ago, and the channel her wake went to."""
    slot = await h.add_slot("alice", in_s=-1)
    return slot, await h.wait_wake_channel(slot.id)


async def _recorded_then_done_with_one_wake(h: BotHarness, slot_id: str, channel_id: int) -> None:
    """The end every retried Discord fault must reach: the wake recorded as a clean success,
    the agent's DONE applied and acknowledged, and still one channel and one wake message."""
    await _wake_recorded(h, slot_id)
    await _done_and_acked(h, slot_id, channel_id)
    assert _exactly_one_wake(h.fake, slot_id) == channel_id


# ---- 403: the fallback wakes the agent, and the cause is named -----------------------


@pytest.mark.parametrize("how", ["permission-missing", "discord-says-403"])
async def test_403_on_channel_creation_wakes_through_the_spawn_webhook_and_says_why(
    make_fake_discord: MakeFake,
    tmp_path: Path,
    spawn_receiver: SpawnReceiver,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    caplog.set_level(logging.INFO)
    if how == "permission-missing":
        fake = await make_fake_discord(bot_permissions=DEFAULT_BOT_PERMISSIONS & ~P.MANAGE_CHANNELS)
    else:
        fake = await make_fake_discord()
    # The wake category is there already, so the refused call is the channel's creation.
    fake.add_category("agent-wakeups")
    general = fake.add_channel("general")
    async with running_bot(fake, tmp_path, spawn_url=spawn_receiver.url) as h:
        if how == "discord-says-403":
            fake.fail_next("POST", GUILD_CHANNELS, 403, code=50013)
        slot = await h.add_slot("alice", in_s=-1)
        await fake.wait_for(lambda: spawn_receiver.bodies, 20, what="the spawn webhook called")

        (body,) = spawn_receiver.bodies
        assert body["slot"]["id"] == slot.id and body["wake_id"] == wake_id_for(slot.id)
        assert (await h.slot(slot.id)).status is SlotStatus.ONGOING
        assert [r.status for r in fake.requests_for("POST", GUILD_CHANNELS)] == [403]
        assert slot_channels(fake, slot.id) == []
        assert fake.requests_for("POST", CHANNEL_MESSAGES) == []

        # The log names what is missing and that the fallback worked.
        refusals = [r.getMessage() for r in caplog.records if "cannot create channel" in r.message]
        assert refusals, caplog.text
        if how == "permission-missing":
            assert "the moderator is missing Manage Channels" in refusals[0]
        else:
            assert "Missing Permissions" in refusals[0] and "Manage Channels" in refusals[0]
        assert f"slot {slot.id} (agent alice) woken by spawn_url after: discord:" in caplog.text

        # /status says how the agent was woken and, for a missing permission, which one.
        handle = await fake.inject_command(fake.member, general, "status", {"agent": "alice"})
        await handle.wait_response()
        text = await handle.wait_text()
        assert handle.ephemeral and not handle.refused
        assert f"`{slot.id}` via spawn_url" in text, text
        if how == "permission-missing":
            assert "missing permissions: **Manage Channels**" in text, text
    assert fake.token not in caplog.text


# ---- 429 bursts: discord.py waits them out; one channel, one message --------------------


async def test_429_bursts_on_channel_creation_and_posting_give_one_channel_and_one_message(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    # A burst on the channel route (category and channel share it), one of them global,
    # and a burst on posting the wake message.
    fake.fail_next("POST", GUILD_CHANNELS, 429, count=2, retry_after=0.3)
    fake.fail_next("POST", GUILD_CHANNELS, 429, retry_after=0.3, is_global=True)
    fake.fail_next("POST", CHANNEL_MESSAGES, 429, count=3, retry_after=0.3)
    slot, channel_id = await _alice_woken(h)

    made = [r.status for r in fake.requests_for("POST", GUILD_CHANNELS)]
    assert made.count(429) == 3 and made.count(201) == 2, made  # the category and the channel
    posted = [r.status for r in fake.requests_for("POST", CHANNEL_MESSAGES)]
    assert posted == [429, 429, 429, 200], posted
    assert _exactly_one_wake(fake, slot.id) == channel_id
    assert len([c for c in fake.channels.values() if c["type"] == 4]) == 1
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING
    await _recorded_then_done_with_one_wake(h, slot.id, channel_id)


# ---- 5xx: retried; one message -----------------------------------------------------------


async def test_5xx_on_posting_the_wake_message_is_retried_and_posts_it_once(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    for status in (500, 502):
        h.fake.fail_next("POST", CHANNEL_MESSAGES, status)
    slot, channel_id = await _alice_woken(h)

    posted = [r.status for r in h.fake.requests_for("POST", CHANNEL_MESSAGES)]
    assert posted == [500, 502, 200], posted
    assert _exactly_one_wake(h.fake, slot.id) == channel_id
    await _recorded_then_done_with_one_wake(h, slot.id, channel_id)


# ---- the gateway drops: discord.py resumes, the reply is not lost ------------------------


async def test_a_dropped_gateway_resumes_and_the_done_sent_meanwhile_is_applied_once(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    slot, channel_id = await _alice_woken(h)
    identified = [c for c in fake.gateway_connections if c.op == "identify"]
    assert len(identified) == 1

    # The network goes away; the agent answers while the moderator is not connected.
    assert fake.drop_connections(hold=True) >= 1
    await fake.wait_for(lambda: not fake.gateway.live_sessions(), 10, what="the session cut")
    await h.agent_says("alice", channel_id, "DONE: written while you were away")
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING  # not delivered yet
    fake.release_gateway()

    await h.wait_status(slot.id, SlotStatus.FINISHED)
    await fake.wait_for(
        lambda: any(t.startswith("✅") for t in bot_texts(fake, channel_id)), 20, what="the ack"
    )
    resumed = [c for c in fake.gateway_connections if c.op == "resume"]
    assert resumed and resumed[-1].path == "/resume-gateway", fake.gateway_connections
    assert [c for c in fake.gateway_connections if c.op == "identify"] == identified
    # Applied once: one acknowledgement, no refusal ("Not applied"), one wake.
    texts = bot_texts(fake, channel_id)
    assert sum(t.startswith("✅") for t in texts) == 1, texts
    assert not any("Not applied" in t for t in texts), texts
    assert _exactly_one_wake(fake, slot.id) == channel_id

    # And the bot is fully back: the next slot is woken through the resumed session.
    nxt = await h.add_slot("alice", in_s=-1, title="After the outage")
    nxt_channel = await h.wait_wake_channel(nxt.id)
    await h.agent_says("alice", nxt_channel, "DONE")
    await h.wait_status(nxt.id, SlotStatus.FINISHED)
    assert _exactly_one_wake(fake, nxt.id) == nxt_channel
