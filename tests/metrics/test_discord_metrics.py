"""The real bot on the fake Discord: REST calls by route template, the gateway gauge, /healthz."""

from __future__ import annotations

from pathlib import Path

from bot.app.discord_bot import open_bot
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import SystemClock
from bot.metrics import ModeratorMetrics, attach_discord, health_report
from testkit.bots import harness_settings, started
from testkit.fakediscord import FakeDiscord
from tests.e2e.harness import BotHarness


async def test_discord_calls_are_counted_by_route_template(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    settings = harness_settings(fake_discord, tmp_path)
    agents = [AgentConfig(id="alice", discord_user_id=fake_discord.agents["alice"].id)]
    metrics = ModeratorMetrics(sync_interval_s=settings.sync_interval_s, discord=True)
    bot = await open_bot(settings, agents, clock=SystemClock(), guild_ready_timeout=0.5)
    metrics.watch(bot.moderator)
    attach_discord(bot, metrics)
    async with started(fake_discord, bot):
        assert isinstance(bot.calendar, EmbeddedCalendar)
        h = BotHarness(bot, fake_discord, bot.calendar, settings, agents, tmp_path)
        assert metrics.registry.get_sample_value("moderator_discord_connected") == 1
        assert health_report(metrics) == []
        slot, channel_id = await h.woken_slot("alice")
        woken = {"waker": "discord", "outcome": "ok"}
        await fake_discord.wait_for(
            lambda: metrics.registry.get_sample_value("moderator_wakes_total", woken),
            what="the wake counted",
        )
        samples = {
            (s.labels["route"], s.labels["status"]): s.value
            for family in metrics.registry.collect()
            if family.name == "moderator_discord_requests"
            for s in family.samples
            if s.name.endswith("_total")
        }
        assert samples[("POST /guilds/{guild_id}/channels", "201")] >= 1
        assert samples[("POST /channels/{channel_id}/messages", "200")] >= 1
        # Never an id in a label: not the slot's, not the channel's, not the guild's.
        for route, _ in samples:
            assert str(channel_id) not in route and str(fake_discord.guild_id) not in route
            assert slot.id not in route
        assert (
            metrics.registry.get_sample_value(
                "moderator_wakes_total", {"waker": "discord", "outcome": "ok"}
            )
            == 1
        )
    assert metrics.registry.get_sample_value("moderator_discord_connected") == 0
