"""`/status [agent]`: what the moderator and the agents are doing, and what the guild lacks.

Shard 0 answers for every agent (DESIGN §11): its own from its moderator's
memory, the other shards' from the calendar, marked with their shard. It also
says whether calendar changes arrive live or wait for the periodic sync.

The guild check (the moderator's permissions, agents outside the guild) is
cached and refreshed in the background (`guild_refresh`), and invalidated at
once when roles or the guild change, so `/status` is usually instant and never
shows a fixed problem for long. Membership changes send the moderator nothing
(no Server Members intent): `/status` asks again for the agent it is about, or
for the agents last found missing, a call each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.core.agents import UnknownAgent
from bot.core.guild_report import GuildReport
from bot.core.shard_status import CalendarAgentStatus, calendar_statuses, feed_health
from bot.discord_io.client import ModeratorBot
from bot.discord_io.guild_check import GuildChecker
from bot.presenters.discord_status import status_embed
from bot.presenters.formatting import cut
from cogs.interactions import CommandCog, configured_agent_autocomplete, defer, show
from cogs.lifecycle import StoppingCog

log = logging.getLogger(__name__)

#: The guild check is redone after this long (and at once after role or guild changes).
GUILD_CHECK_MAX_AGE_S = 600.0
#: `/status` waits this long for a stale guild check, then shows the last one it has.
GUILD_CHECK_WAIT_S = 8.0


class StatusCog(StoppingCog, CommandCog, name="Status"):
    def __init__(self, bot: ModeratorBot) -> None:
        super().__init__(bot)
        self.guild_checker = GuildChecker(
            bot, bot.guild_id, bot.agents, clock=bot.clock, max_age_s=GUILD_CHECK_MAX_AGE_S
        )

    async def cog_load(self) -> None:
        self.guild_refresh.start()
        self.stop_at_shutdown()

    async def stop_work(self) -> None:
        self.guild_refresh.cancel()
        await self.guild_checker.close()

    @app_commands.command(name="status", description="What the moderator and the agents are doing")
    @app_commands.autocomplete(agent=configured_agent_autocomplete)
    @app_commands.describe(agent="Agent id (all agents when left out)")
    @app_commands.guild_only()
    async def status(self, interaction: discord.Interaction, agent: str | None = None) -> None:
        agent_id = self._any_agent(agent)
        await defer(interaction)
        mine = set(self.moderator.agent_ids)
        if agent_id is None:
            snapshots = self.moderator.statuses()
            elsewhere = [a.id for a in self.bot.agents if a.id not in mine]
        elif agent_id in mine:
            snapshots, elsewhere = [self.moderator.status(agent_id)], []
        else:
            snapshots, elsewhere = [], [agent_id]
        links: dict[str, str] = {}
        for snap in snapshots:
            if snap.current is not None:
                ref = await self.channel_ref(snap.current.id)
                if ref is not None:
                    links[snap.current.id] = ref[1]
        others = await self._from_calendar(elsewhere)
        report = await self._guild_report(agent_id)
        spec = status_embed(
            snapshots,
            self.moderator.timezone,
            links=links,
            guild=report,
            agent_count=len(self.bot.agents),
            others=others,
            feed=feed_health(self.moderator.calendar),
            sync_interval_s=self.bot.options.sync_interval_s,
        )
        await show(interaction, spec)

    def _any_agent(self, text: str | None) -> str | None:
        """A configured agent of any shard (shard 0 answers for all); None for "all"."""
        if text is None or not text.strip():
            return None
        name = text.strip().lower()
        known = [a.id for a in self.bot.agents]
        if name not in known:
            # Cut: a huge name would push the list of configured agents out of the answer.
            raise UnknownAgent(cut(name, 60), known)
        return name

    async def _from_calendar(self, agent_ids: Sequence[str]) -> list[CalendarAgentStatus]:
        """Agents another shard schedules, as the calendar (which all shards follow) has them."""
        shard = self.bot.options.shard
        if not agent_ids:
            return []
        count = shard.count if shard is not None else 1
        return await calendar_statuses(
            self.moderator.calendar,
            agent_ids,
            count,
            self.bot.clock.now(),
            self.moderator.timezone,
        )

    async def _guild_report(self, agent_id: str | None) -> GuildReport | None:
        """The cached guild check, refreshed first when stale, with the membership of the
        agent asked about (or of the agents last found missing) asked again: no member
        events reach the moderator. Each step waits a bounded time."""
        checker = self.guild_checker
        try:
            if not checker.fresh:
                await asyncio.wait_for(checker.refresh(), GUILD_CHECK_WAIT_S)
            report = checker.report
            if report is not None:
                ids = {agent_id} if agent_id else {n.agent_id for n in report.non_members}
                await asyncio.wait_for(checker.recheck(ids), GUILD_CHECK_WAIT_S)
        except TimeoutError:
            log.warning(
                "guild check took over %.0f s; /status shows the last one", GUILD_CHECK_WAIT_S
            )
        return checker.report

    # ---- keeping the guild check fresh ------------------------------------------

    @tasks.loop(seconds=GUILD_CHECK_MAX_AGE_S)
    async def guild_refresh(self) -> None:
        """Keeps `/status` instant: the check is usually fresh when someone asks."""
        try:
            await self.guild_checker.refresh()
        except Exception:  # a tasks.loop ends for good on anything but network errors
            log.exception("periodic guild check failed")

    def _invalidate_if_ours(self, guild: discord.Guild | None) -> None:
        if guild is not None and guild.id == self.bot.guild_id:
            self.guild_checker.invalidate()

    @commands.Cog.listener()
    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        self._invalidate_if_ours(after.guild)

    @commands.Cog.listener()
    async def on_guild_role_create(self, role: discord.Role) -> None:
        self._invalidate_if_ours(role.guild)

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        self._invalidate_if_ours(role.guild)

    @commands.Cog.listener()
    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        self._invalidate_if_ours(after)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        self._invalidate_if_ours(guild)


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(StatusCog(bot))
