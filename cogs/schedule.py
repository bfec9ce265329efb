"""`/schedule [agent] [date] [days] [view] [feed]`: an agent's (or every agent's) slots for a
day or a few, as a list or a timeline picture, for anyone; `feed:true` gives an admin the
agent's ICS feed address (with its feed token), ephemeral."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import Sequence

import discord
from discord import app_commands

from bot.core.calendar import CalendarError
from bot.core.models import Slot
from bot.discord_io.client import ModeratorBot
from bot.presenters.discord_embed import CHOICE_COUNT_LIMIT, EmbedSpec
from bot.presenters.discord_feed import feed_answer, feed_needs_agent
from bot.presenters.discord_schedule import AgentDay, parse_day, schedule_embed
from bot.presenters.formatting import cut, day_title
from bot.presenters.timeline import TimelineRow, render_timeline
from cogs.feeds import feed_url
from cogs.interactions import (
    NO_MENTIONS,
    CommandCog,
    agent_autocomplete,
    defer,
    explain,
    show,
    tell,
    to_embed,
)

log = logging.getLogger(__name__)

#: Calendar calls at once for `/schedule` of every agent on a day that is not cached.
SCHEDULE_CONCURRENCY = 8


VIEWS = ("list", "timeline")
#: `/schedule days` reaches at most this far: a week is what a person plans at a glance.
MAX_DAYS = 7
TIMELINE_FILE = "timeline.png"


class ScheduleCog(CommandCog, name="Schedule"):
    @app_commands.command(name="schedule", description="An agent's slots for a day (today)")
    @app_commands.autocomplete(agent=agent_autocomplete)
    @app_commands.describe(
        agent="Agent id (all agents when left out)",
        date="YYYY-MM-DD, or today / tomorrow / yesterday (default today)",
        days=f"How many days from that date (1-{MAX_DAYS}, default 1)",
        view="list (default) or timeline (a picture: one row per agent)",
        feed="Admins: the agent's ICS feed address, for a calendar app",
    )
    @app_commands.choices(view=[app_commands.Choice(name=v, value=v) for v in VIEWS])
    @app_commands.guild_only()
    async def schedule(
        self,
        interaction: discord.Interaction,
        agent: str | None = None,
        date: str | None = None,
        days: app_commands.Range[int, 1, MAX_DAYS] | None = None,
        view: app_commands.Choice[str] | None = None,
        feed: bool = False,
    ) -> None:
        if feed:
            await self._feed(interaction, agent)
            return
        day = parse_day(date, self.today())
        count = days if days is not None else 1
        if not 1 <= count <= MAX_DAYS:  # Range only tells Discord; a stale client may not obey
            await tell(interaction, f"`days` must be between 1 and {MAX_DAYS} (got {count}).")
            return
        agent_id = self.agent_id(agent)
        await defer(interaction)
        agent_ids = [agent_id] if agent_id else self.moderator.agent_ids
        gate = asyncio.Semaphore(SCHEDULE_CONCURRENCY)
        failures: list[CalendarError] = []

        async def one(name: str) -> AgentDay:
            async with gate:
                try:
                    slots: list[Slot] = []
                    for offset in range(count):
                        slots += await self.moderator.schedule(name, day + dt.timedelta(offset))
                    return AgentDay(name, slots)
                except CalendarError as exc:
                    log.warning("schedule of %s from %s: %s", name, day, exc)
                    failures.append(exc)
                    return AgentDay(name, (), cut(explain(exc) or str(exc), 200))

        found = await asyncio.gather(*(one(n) for n in agent_ids))
        if len(failures) == len(found):
            raise failures[0]  # nothing to show: explained by the error handler
        spec = schedule_embed(found, day, self.moderator.timezone, count)
        if view is None or view.value != "timeline":
            await show(interaction, spec)
            return
        await self._show_timeline(interaction, spec, found, day, count)

    async def _feed(self, interaction: discord.Interaction, agent: str | None) -> None:
        """The agent's feed address (it carries a token): for admins, ephemeral."""
        if await self.refuse_non_admin(interaction, "schedule feed:true"):
            return
        agent_id = self.agent_id(agent)
        if agent_id is None:
            await tell(interaction, feed_needs_agent())
            return
        log.info("/schedule feed of %s given to %s", agent_id, interaction.user.id)
        await tell(interaction, feed_answer(agent_id, feed_url(self.bot, agent_id)))

    async def _show_timeline(
        self,
        interaction: discord.Interaction,
        spec: EmbedSpec,
        found: Sequence[AgentDay],
        day: dt.date,
        count: int,
    ) -> None:
        """The embed with the day(s) drawn as a picture under it (`bot.presenters.timeline`)."""
        tz = self.moderator.timezone
        start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
        end = dt.datetime.combine(day + dt.timedelta(count), dt.time(), tz).astimezone(dt.UTC)
        rows = [TimelineRow(d.agent_id, d.slots) for d in found]
        # Pillow holds the event loop while it draws: a thread keeps the gateway answered.
        png = await asyncio.to_thread(render_timeline, rows, start, end, self.bot.clock.now(), tz)
        embed = to_embed(spec)
        embed.set_image(url=f"attachment://{TIMELINE_FILE}")
        picture = discord.File(io.BytesIO(png), filename=TIMELINE_FILE)
        await interaction.followup.send(
            embed=embed, file=picture, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

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
