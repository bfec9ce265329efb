"""ModeratorBot's own duties: who is an admin, channel links, ended channels, the intent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.core.models import SlotStatus
from testkit.fakediscord import FakeDiscord
from tests.e2e.harness import BotHarness, BotProcess, bot_env, wait_until

MakeBot = Callable[..., Awaitable[BotHarness]]


async def test_is_admin_by_role_or_manage_server(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    guild = h.bot.get_guild(h.fake.guild_id)
    assert guild is not None
    admin = await guild.fetch_member(h.fake.admin.id)  # holds ADMIN_ROLE_ID
    member = await guild.fetch_member(h.fake.member.id)
    owner = await guild.fetch_member(h.fake.owner.id)  # the owner has every permission
    agent = await guild.fetch_member(h.fake.agents["alice"].id)

    assert h.bot.is_admin(admin)
    assert h.bot.is_admin(owner)
    assert not h.bot.is_admin(member)
    assert not h.bot.is_admin(agent)
    assert h.bot.channel_link_url(42) == f"https://discord.com/channels/{h.fake.guild_id}/42"


async def test_an_ended_slots_channel_is_deleted_after_the_retention(
    make_moderator_bot: MakeBot,
) -> None:
    h = await make_moderator_bot(channel_retention_s=1)
    slot = await h.add_slot("alice", in_s=0.5)
    channel_id = await h.wait_wake_channel(slot.id)
    await h.agent_says("alice", channel_id, "DONE")
    await h.wait_status(slot.id, SlotStatus.FINISHED)

    await h.fake.wait_for(lambda: channel_id not in h.fake.channels, what="channel deleted")

    async def forgotten() -> bool:
        return await h.bot.state.channel_link(slot.id) is None

    await wait_until(forgotten, what="the ledger forgets the deleted channel")


async def test_without_the_message_content_intent_the_bot_says_how_to_enable_it(
    make_fake_discord: Callable[..., Awaitable[FakeDiscord]], tmp_path: Path
) -> None:
    # Discord refuses IDENTIFY (4014) when the intent is not enabled in the portal.
    fake = await make_fake_discord(privileged_intents=0)
    proc = await BotProcess.start(bot_env(fake, tmp_path), tmp_path)
    try:
        assert await proc.wait(30) == 1
    finally:
        await proc.stop()
    log = proc.log_text()
    assert "Message Content intent" in log and "developer portal" in log
    assert "Traceback" not in log
