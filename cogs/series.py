"""`/series <action> [agent] [series_id]`: `list` the recurring slots with their next times,
or `end` one, for admins (DESIGN §7)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.core.calendar import SlotNotFound
from bot.discord_io.client import ModeratorBot
from bot.presenters.discord_embed import CHOICE_COUNT_LIMIT
from bot.presenters.discord_plan import series_choice, series_ended_reply, series_list_text
from bot.presenters.formatting import cut
from cogs.interactions import CommandCog, agent_autocomplete, bounded_choices, defer, tell

log = logging.getLogger(__name__)

SERIES_ACTIONS = ("list", "end")
SERIES_ID_LIMIT = 100
NEEDS_SERIES_ID = "`/series end` needs the `series_id` (see `/series list`); nothing was changed."
NO_SUCH_SERIES = "There is no series `{id}`{owner}: see `/series list`. Nothing was changed."
NOT_AN_ACTION = "`{value}` is not something `/series` does: pick list or end."


class SeriesCog(CommandCog, name="Series"):
    @app_commands.command(name="series", description="List or end recurring slots (admins only)")
    @app_commands.autocomplete(agent=agent_autocomplete)
    @app_commands.describe(
        action="list (with the next times) or end",
        agent="Agent id (every agent's when left out)",
        series_id="end only: the series' id (see /series list)",
    )
    @app_commands.choices(action=[app_commands.Choice(name=a, value=a) for a in SERIES_ACTIONS])
    @app_commands.guild_only()
    async def series(
        self,
        interaction: discord.Interaction,
        action: app_commands.Choice[str],
        agent: str | None = None,
        series_id: str | None = None,
    ) -> None:
        if await self.refuse_non_admin(interaction, "series"):
            return
        if action.value not in SERIES_ACTIONS:  # Discord offers only the choices
            await tell(interaction, NOT_AN_ACTION.format(value=cut(str(action.value), 30)))
            return
        agent_id = self.agent_id(agent)
        if action.value == "list":
            await defer(interaction)
            found = await self.moderator.series_of(agent_id)
            who = agent_id or "every agent"
            text = series_list_text(found, self.moderator.timezone, self.bot.clock.now(), who)
            await tell(interaction, text)
            return
        wanted = (series_id or "").strip()
        if not wanted or len(wanted) > SERIES_ID_LIMIT or any(c.isspace() for c in wanted):
            await tell(interaction, NEEDS_SERIES_ID)
            return
        await defer(interaction)
        try:
            ended = await self.moderator.end_series(wanted, agent_id)
        except SlotNotFound:
            owner = f" of {agent_id}" if agent_id else ""
            await tell(interaction, NO_SUCH_SERIES.format(id=cut(wanted, 40), owner=owner))
            return
        log.info("/series end %s of %s by %s", ended.id, ended.agent_id, interaction.user.id)
        await tell(interaction, series_ended_reply(ended, self.moderator.timezone))

    @series.autocomplete("series_id")
    async def _series_ids(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Running series (of the chosen agent, if one is), matching the typed id or title."""
        chosen = getattr(interaction.namespace, "agent", None)
        agent_id = chosen.strip().lower() if isinstance(chosen, str) else ""
        named = agent_id if agent_id in self.moderator.agent_ids else None
        return await bounded_choices(self._series_choices(named, current), "series")

    async def _series_choices(
        self, agent_id: str | None, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await self.moderator.series_of(agent_id)
        typed = current.strip().lower()
        running = [
            s
            for s in found
            if s.ended_at is None and (s.id.lower().startswith(typed) or typed in s.title.lower())
        ]
        return [
            app_commands.Choice(name=name, value=value)
            for name, value in (series_choice(s) for s in running[:CHOICE_COUNT_LIMIT])
        ]


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(SeriesCog(bot))
