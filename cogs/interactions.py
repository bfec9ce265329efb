"""What every slash-command cog shares: answering interactions, explaining failures,
the permission rule, agent lookup and autocomplete, the embed conversion.

Discord's contract for interactions (DESIGN §7), kept in one place:

* every interaction is answered within 3 s: quick refusals (no permission, a
  bad date, an unknown agent) are answered at once; anything that may touch the
  calendar, the state file or Discord's REST is deferred first (`defer`);
* answers are ephemeral (only the asker sees them): they are looks and steers
  for one person, and a refusal must never become channel noise;
* bad input of any kind gets a sentence, never a traceback: every failure the
  core documents is explained (`explain`), and anything else is logged with its
  traceback and answered with `SOMETHING_WENT_WRONG` (`CommandCog`'s error hook).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.agents import UnknownAgent
from bot.core.cache import local_day
from bot.core.calendar import (
    BadRequest,
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    SlotNotFound,
)
from bot.core.moderator import Moderator
from bot.core.state import StateError
from bot.discord_io.errors import DISCORD_FAILURES
from bot.presenters.discord_embed import CHOICE_COUNT_LIMIT, EmbedSpec
from bot.presenters.discord_schedule import BadDate
from bot.presenters.formatting import cut

if TYPE_CHECKING:
    from bot.discord_io.client import ModeratorBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
ADMIN_ONLY = (
    "Only members with the moderator's admin role or the Manage Server permission "
    "may use `/{command}`."
)
SOMETHING_WENT_WRONG = (
    "Something went wrong on the moderator's side; it has been logged. Nothing was changed "
    "unless said otherwise — try `/status` to see where things stand."
)


def to_embed(spec: EmbedSpec) -> discord.Embed:
    embed = discord.Embed(title=spec.title, description=spec.description or None)
    if spec.color is not None:
        embed.colour = discord.Colour(spec.color)
    for fld in spec.fields:
        embed.add_field(name=fld.name, value=fld.value, inline=fld.inline)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    return embed


def explain(exc: BaseException) -> str | None:
    """A sentence for a failure the core documents; None for anything unexpected."""
    if isinstance(exc, app_commands.CommandInvokeError):
        return explain(exc.original)
    if isinstance(exc, UnknownAgent | BadDate):
        return str(exc)
    if isinstance(exc, SlotNotFound):
        return "No such slot: check the id with `/schedule` (or pick one from the suggestions)."
    if isinstance(exc, CalendarUnavailable):
        return (
            "The calendar cannot be reached right now, so nothing was read or changed. "
            "Try again in a minute; `/status` shows the sync failures."
        )
    if isinstance(exc, CalendarAuthError):
        return (
            "The calendar refused the moderator's credentials (CALENDAR_TOKEN); "
            "tell whoever runs the moderator."
        )
    if isinstance(exc, BadRequest):
        return f"The calendar refused the request: {cut(exc.detail, 300)}"
    if isinstance(exc, CalendarError):
        return f"The calendar failed: {cut(exc.detail, 300)}. Nothing was changed."
    if isinstance(exc, StateError):
        return "The moderator cannot write its state file; tell whoever runs it."
    if isinstance(exc, app_commands.CheckFailure):
        return "You are not allowed to use this command here."
    if isinstance(exc, app_commands.TransformerError):
        return f"`{cut(str(exc.value), 50)}` is not a valid value for that option."
    return None


async def tell(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, whether or not the interaction was answered (or deferred) yet."""
    text = cut(text, 2000)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
    except DISCORD_FAILURES as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc)


async def show(interaction: discord.Interaction, spec: EmbedSpec) -> None:
    embed = to_embed(spec)
    if interaction.response.is_done():
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def defer(interaction: discord.Interaction) -> None:
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


#: Autocomplete has Discord's 3 s in total; the calendar gets this much of it.
AUTOCOMPLETE_BUDGET_S = 1.5


async def bounded_choices(
    work: Awaitable[list[app_commands.Choice[str]]], what: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete choices that may read the calendar: none rather than late or a raise,
    since either leaves Discord spinning."""
    try:
        return await asyncio.wait_for(work, AUTOCOMPLETE_BUDGET_S)
    except TimeoutError:
        log.warning("%s autocomplete ran out of time", what)
        return []
    except Exception:  # the autocomplete's boundary
        log.exception("%s autocomplete failed", what)
        return []


def person(user: discord.abc.User) -> str:
    """How a person is named in announcements and the calendar's notes."""
    return getattr(user, "display_name", None) or user.name


def matching_agents(agent_ids: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    """Configured agents matching what was typed: prefix matches first."""
    typed = current.strip().lower()
    names = sorted(agent_ids)
    first = [n for n in names if n.startswith(typed)]
    then = [n for n in names if typed in n and not n.startswith(typed)]
    return [app_commands.Choice(name=n, value=n) for n in (first + then)[:CHOICE_COUNT_LIMIT]]


async def agent_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Suggestions for any command's `agent` option, so a cog attaches it with one
    `@app_commands.autocomplete(agent=agent_autocomplete)` instead of a method of its own."""
    bot = cast("ModeratorBot", interaction.client)
    return matching_agents(bot.moderator.agent_ids, current)


async def configured_agent_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Suggestions among every configured agent, not only this shard's: for `/status`,
    which shard 0 answers for all agents (DESIGN §11)."""
    bot = cast("ModeratorBot", interaction.client)
    return matching_agents((a.id for a in bot.agents), current)


class CommandCog(commands.Cog):
    """A cog of slash commands: the moderator, the agents, and the answer to any failure."""

    def __init__(self, bot: ModeratorBot) -> None:
        self.bot = bot

    @property
    def moderator(self) -> Moderator:
        return self.bot.moderator

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        text = explain(error)
        if text is None:
            name = interaction.command.qualified_name if interaction.command else "?"
            log.error("/%s failed", name, exc_info=error)
            text = SOMETHING_WENT_WRONG
        else:
            log.info("/%s refused: %s", getattr(interaction.command, "name", "?"), text)
        await tell(interaction, text)

    async def refuse_non_admin(self, interaction: discord.Interaction, command: str) -> bool:
        """True (and the person told) when `interaction.user` may not use `/command`.

        `/slot` and `/sync` are for members holding `ADMIN_ROLE_ID` or Manage Server
        (`ModeratorBot.is_admin`). They are registered without
        `default_member_permissions`, because Discord would then hide them from the
        admin role, which needs no Manage Server of its own; the check is made here.
        """
        if self.bot.is_admin(interaction.user):
            return False
        await tell(interaction, ADMIN_ONLY.format(command=command))
        return True

    def today(self) -> dt.date:
        return local_day(self.bot.clock.now(), self.moderator.timezone)

    def agent_id(self, text: str | None) -> str | None:
        """The configured agent `text` names (None for "all"); raises `UnknownAgent`."""
        if text is None or not text.strip():
            return None
        name = text.strip().lower()
        self.moderator.agent(name)  # raises UnknownAgent listing the configured ones
        return name

    async def channel_ref(self, slot_id: str) -> tuple[int, str] | None:
        """The slot's wake channel (id, clickable text), if it has a live one: ours, or (with
        SHARD) the one the agent's own shard made, found by its topic."""
        link = await self.bot.state.channel_link(slot_id)
        channel_id = link.channel_id if link is not None else None
        waker = self.bot.channel_waker
        if channel_id is None and waker is not None:
            channel_id = await waker.placement.channel_by_topic(slot_id)
        if channel_id is None:
            return None
        channel = self.bot.get_channel(channel_id)
        name = getattr(channel, "name", None) or "wake channel"
        return channel_id, f"[#{name}]({self.bot.channel_link_url(channel_id)})"
