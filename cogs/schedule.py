"""`/schedule [agent] [date]`: an agent's (or every agent's) slots for a day, for anyone."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import discord
from discord import app_commands

from bot.core.calendar import CalendarError
from bot.discord_io.client import ModeratorBot
from bot.presenters.discord_embed import CHOICE_COUNT_LIMIT
from bot.presenters.discord_schedule import AgentDay, parse_day, schedule_embed
from bot.presenters.formatting import cut, day_title
from cogs.interactions import CommandCog, defer, explain, show

log = logging.getLogger(__name__)

#: Calendar calls at once for `/schedule` of every agent on a day that is not cached.
SCHEDULE_CONCURRENCY = 8


class ScheduleCog(CommandCog, name="Schedule"):
    @app_commands.command(name="schedule", description="An agent's slots for a day (today)")
    @app_commands.describe(
        agent="Agent id (all agents when left out)",
        date="YYYY-MM-DD, or today / tomorrow / yesterday (default today)",
    )
    @app_commands.guild_only()
    async def schedule(
        self,
        interaction: discord.Interaction,
        agent: str | None = None,
        date: str | None = None,
    ) -> None:
        day = parse_day(date, self.today())
        agent_id = self.agent_id(agent)
        await defer(interaction)
        agent_ids = [agent_id] if agent_id else self.moderator.agent_ids
        gate = asyncio.Semaphore(SCHEDULE_CONCURRENCY)
        failures: list[CalendarError] = []

        async def one(name: str) -> AgentDay:
            async with gate:
                try:
                    return AgentDay(name, await self.moderator.schedule(name, day))
                except CalendarError as exc:
                    log.warning("schedule of %s on %s: %s", name, day, exc)
                    failures.append(exc)
                    return AgentDay(name, (), cut(explain(exc) or str(exc), 200))

        days = await asyncio.gather(*(one(n) for n in agent_ids))
        if len(failures) == len(days):
            raise failures[0]  # nothing to show: explained by the error handler
        await show(interaction, schedule_embed(days, day, self.moderator.timezone))

    @schedule.autocomplete("agent")
    async def _schedule_agent(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.agent_choices(current)

    @schedule.autocomplete("date")
    async def _schedule_date(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            return self.day_choices(current)
        except Exception:  # an autocomplete that raises leaves Discord spinning
            log.exception("date autocomplete failed")
            return []

    def day_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Today, tomorrow, yesterday and the week ahead, matching what was typed."""
        today = self.today()
        out: list[app_commands.Choice[str]] = []
        for offset, word in ((0, "today"), (1, "tomorrow"), (-1, "yesterday")):
            day = today + dt.timedelta(days=offset)
            out.append(app_commands.Choice(name=f"{word} ({day_title(day)})", value=word))
        for offset in range(2, 8):
            day = today + dt.timedelta(days=offset)
            out.append(app_commands.Choice(name=day_title(day), value=day.isoformat()))
        typed = current.strip().lower()
        return [c for c in out if typed in c.name.lower() or c.value.startswith(typed)][
            :CHOICE_COUNT_LIMIT
        ]


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(ScheduleCog(bot))
