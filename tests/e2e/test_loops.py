"""The scheduler cog's loops and start-up: supervised, wired to the core, never blocking wakes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import cast

import pytest

from bot.core.models import SlotCreate, SlotStatus
from cogs.scheduler import SchedulerCog
from testkit.fakediscord import FakeDiscord
from tests.e2e.harness import BotHarness

MakeBot = Callable[..., Awaitable[BotHarness]]


def _cog(h: BotHarness) -> SchedulerCog:
    # load_extension executes the module afresh for each bot, so the class object differs
    # from the one imported here: compare by name.
    cog = h.bot.get_cog("Scheduler")
    assert cog is not None and type(cog).__qualname__ == SchedulerCog.__qualname__
    return cast(SchedulerCog, cog)


async def test_a_loop_that_stops_is_restarted_by_the_supervisor(
    moderator_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cogs.scheduler")
    h = moderator_bot
    cog = _cog(h)
    assert cog.check_loop.is_running() and cog.sync_loop.is_running()

    cog.check_loop.cancel()
    cog.sync_loop.cancel()

    await h.fake.wait_for(
        lambda: (
            cog.restarts["check"] == 1
            and cog.restarts["sync"] == 1
            and cog.check_loop.is_running()
            and cog.sync_loop.is_running()
        ),
        what="both loops restarted",
    )
    assert "the check loop stopped (cancelled); restarting it" in caplog.text
    assert "the sync loop stopped (cancelled); restarting it" in caplog.text
    # Restarted loops still do their work: a slot only the calendar knows is found and woken.
    slot = await h.add_slot("bob", in_s=0.5)
    await h.wait_wake_channel(slot.id)


async def test_the_sync_loop_finds_slots_added_behind_the_bots_back(
    make_moderator_bot: MakeBot,
) -> None:
    h = await make_moderator_bot(sync_interval_s=1.0)  # DESIGN §8: at least 1 s
    slot = await h.calendar.create_slot(
        SlotCreate(
            agent_id="alice",
            scheduled_at=h.bot.clock.now() + timedelta(seconds=1),
            title="Found by a sync",
            prompt="Nobody told the bot.",
        )
    )
    channel_id = await h.wait_wake_channel(slot.id)
    assert "Nobody told the bot." in h.bot_messages(channel_id)[0]["content"]
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING


async def test_without_slash_commands_the_bot_still_wakes_agents(
    fake_discord: FakeDiscord, make_moderator_bot: MakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    # As when the bot was invited without the applications.commands scope.
    fake_discord.fail_next(
        "PUT", "/applications/{application_id}/guilds/{guild_id}/commands", status=403, code=50001
    )
    h = await make_moderator_bot()
    assert not h.bot.commands_synced
    assert "could not register the slash commands" in caplog.text

    slot = await h.add_slot("alice", in_s=0.5)
    channel_id = await h.wait_wake_channel(slot.id)
    await h.agent_says("alice", channel_id, "DONE")
    await h.wait_status(slot.id, SlotStatus.FINISHED)
