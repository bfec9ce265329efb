"""`/history [agent] [days]`: what ended lately, for everyone (DESIGN §7), paged with buttons."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands

from bot.core.history import HISTORY_DAYS_DEFAULT, HISTORY_DAYS_MAX, HISTORY_DAYS_MIN
from bot.discord_io.client import ModeratorBot
from bot.discord_io.errors import DISCORD_FAILURES
from bot.presenters.discord_history import days_refusal, history_pages, nothing_ended
from cogs.interactions import NO_MENTIONS, CommandCog, agent_autocomplete, defer, tell, to_embed

log = logging.getLogger(__name__)

#: A pager stops answering before Discord's 15 min interaction token lapses, so it can
#: still take its buttons off the message.
PAGER_TIMEOUT_S = 14 * 60


class HistoryPager(discord.ui.View):
    """Previous/Next over pages kept in memory for one answer.

    The answer is ephemeral: only the asker sees it and can press, and an ephemeral
    message can only be changed through an interaction, so each press edits it through
    its own (`edit_message`) and the timeout through the asking one. The buttons get
    discord.py's random custom ids, so two people's pagers never answer each other.
    """

    def __init__(self, pages: Sequence[discord.Embed]) -> None:
        super().__init__(timeout=PAGER_TIMEOUT_S)
        self.pages = list(pages)
        self.index = 0
        self.origin: discord.Interaction | None = None
        self._arm()

    def _arm(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await self._turn(interaction, self.index - 1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.primary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._turn(interaction, self.index + 1)

    async def _turn(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._arm()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    async def on_timeout(self) -> None:
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(view=None)
        except DISCORD_FAILURES as exc:
            log.info("/history: could not take the page buttons off: %s", exc)


class HistoryCog(CommandCog, name="History"):
    @app_commands.command(
        name="history", description="What ended lately: how late, how long, and the notes"
    )
    @app_commands.autocomplete(agent=agent_autocomplete)
    @app_commands.describe(
        agent="Agent id (every agent's when left out)",
        days=f"How many days back, {HISTORY_DAYS_MIN} to {HISTORY_DAYS_MAX} "
        f"(default {HISTORY_DAYS_DEFAULT})",
    )
    @app_commands.guild_only()
    async def history(
        self,
        interaction: discord.Interaction,
        agent: str | None = None,
        days: int = HISTORY_DAYS_DEFAULT,
    ) -> None:
        if not HISTORY_DAYS_MIN <= days <= HISTORY_DAYS_MAX:
            await tell(interaction, days_refusal(days))
            return
        agent_id = self.agent_id(agent)
        await defer(interaction)
        found = await self.moderator.history(agent_id, days)
        who = agent_id or "every agent"
        tz = self.moderator.timezone
        pages = history_pages(found, tz, who, days, self.bot.clock.now())
        if not pages:
            await tell(interaction, nothing_ended(who, days))
            return
        embeds = [to_embed(page) for page in pages]
        pager = HistoryPager(embeds) if len(embeds) > 1 else None
        try:
            if pager is None:
                await interaction.followup.send(
                    embed=embeds[0], ephemeral=True, allowed_mentions=NO_MENTIONS
                )
                return
            await interaction.followup.send(
                embed=embeds[0], view=pager, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            pager.origin = interaction
        except DISCORD_FAILURES as exc:
            log.warning("/history: could not answer interaction %s: %s", interaction.id, exc)


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(HistoryCog(bot))
