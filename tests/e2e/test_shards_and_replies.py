"""Sharded moderators answering for each other's agents, and an agent answering its wake
with Discord's reply (message reference). From a review: the announcement of a change made
on shard 0 in shard 1's wake channel failed before its fix (the channel is found by topic).

Two real `ModeratorBot`s (SHARD=0/2 and 1/2, each with its own state file and gateway
session) on one fake Discord and one served calendar, as in `test_shard_duties`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.core.clock import SystemClock
from bot.core.models import Slot, SlotCreate, SlotStatus
from bot.core.shards import shard_index
from testkit.fakediscord import FakeDiscord
from tests.cogs.support import slot_command
from tests.e2e.harness import BotHarness
from tests.e2e.test_shard_duties import served_calendar, shard_bot

CALLBACK = "/interactions/{interaction_id}/{token}/callback"


def custom_ids(message: dict[str, Any]) -> list[str]:
    rows = message.get("components") or []
    return [str(c["custom_id"]) for row in rows for c in row.get("components", [])]


@contextlib.asynccontextmanager
async def bob_woken_by_shard_1(
    fake: FakeDiscord, tmp_path: Path
) -> AsyncIterator[tuple[BotHarness, Slot, int]]:
    """Shards 0/2 and 1/2 on one served calendar; bob (shard 1's) woken for a slot due now.
    Yields shard 1's harness, the slot and its wake channel."""
    assert shard_index("bob", 2) == 1
    async with contextlib.AsyncExitStack() as stack:
        calendar, url = await stack.enter_async_context(served_calendar(tmp_path))
        await stack.enter_async_context(shard_bot(fake, tmp_path, calendar, url, 0))
        one = await stack.enter_async_context(shard_bot(fake, tmp_path, calendar, url, 1))
        due = SystemClock().now() - timedelta(seconds=1)
        bob = await calendar.create_slot(SlotCreate(agent_id="bob", scheduled_at=due))
        await one.bot.moderator.sync_all()
        await one.bot.moderator.check_all()
        yield one, bob, await one.wait_wake_channel(bob.id)


async def test_slot_pause_on_shard_0_is_announced_in_shard_1_agents_channel(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    async with bob_woken_by_shard_1(fake, tmp_path) as (one, bob, channel_id):
        await one.wait_status(bob.id, SlotStatus.ONGOING)
        handle = await slot_command(fake, fake.admin, "pause", bob.id)
        await one.wait_status(bob.id, SlotStatus.PAUSED)
        # DESIGN §7: "announced in the slot's channel when it has one, so the agent knows".
        assert "Not announced" not in handle.text()
        notices = await one.wait_bot_messages(channel_id, 2, timeout=3.0)
        assert "paused" in notices[1]["content"].lower()


async def test_a_button_on_shard_1s_wake_is_answered_once_and_taken_off(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """Shard 0 answers the press (shard 1 has no buttons registered); shard 1 follows the
    calendar and takes the buttons off its own wake message."""
    fake = fake_discord
    async with bob_woken_by_shard_1(fake, tmp_path) as (one, bob, channel_id):
        await one.wait_bot_messages(channel_id, 1)

        def wake_with_buttons() -> dict[str, Any] | None:
            [first] = one.bot_messages(channel_id)[:1]
            return first if custom_ids(first) else None

        wake = await fake.wait_for(wake_with_buttons, what="the wake's buttons")
        assert wake is not None
        handle = await fake.inject_component(
            fake.admin, channel_id, int(wake["id"]), f"slotctl:complete:{bob.id}"
        )
        await handle.wait_response()
        await one.wait_status(bob.id, SlotStatus.FINISHED)
        assert not handle.refused
        assert len(fake.requests_for("POST", CALLBACK)) == 1  # shard 1 stayed silent
        await fake.wait_for(
            lambda: not custom_ids(one.bot_messages(channel_id)[0]), what="buttons taken off"
        )


async def test_a_done_sent_as_a_reply_to_the_wake_message_completes(
    moderator_bot: BotHarness,
) -> None:
    """An agent answering with Discord's reply (type 19, a message reference to the wake)."""
    h = moderator_bot
    slot = await h.add_slot("alice", in_s=-1)
    channel_id = await h.wait_wake_channel(slot.id)
    [wake] = await h.wait_bot_messages(channel_id, 1)
    await h.fake.inject_message(
        channel_id, h.fake.agents["alice"], "DONE: replied", reply_to=int(wake["id"])
    )
    await h.wait_status(slot.id, SlotStatus.FINISHED)
    answers = await h.wait_bot_messages(channel_id, 2)
    assert len(answers) == 2
