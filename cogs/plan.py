"""`/plan <agent> <when> <title> [prompt] [priority] [duration_min] [repeat]`, for admins.

Everything a person typed is checked here before the calendar is asked (the
time, the repeat, the §3.2 ranges), so a refusal is answered at once and stores
nothing; what the calendar still refuses is explained by `CommandCog`'s error hook.
The new slot reaches the agent's cache through the calendar's change notice.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from pydantic import ValidationError

from bot.core.models import SeriesCreate, SlotCreate, describe_validation
from bot.core.series import Recurrence, SeriesRuleError
from bot.core.when import Repeat, WhenError, parse_when, repeat_rule
from bot.discord_io.client import ModeratorBot
from bot.presenters.discord_feed import feed_line
from bot.presenters.discord_plan import plan_refusal, planned_series_reply, planned_slot_reply
from cogs.feeds import feed_url
from cogs.interactions import CommandCog, agent_autocomplete, defer, tell

log = logging.getLogger(__name__)

REPEAT_WORDS = ("daily", "weekdays", "weekly", "monthly")
#: The longest `when` / `repeat` text looked at; longer is refused, not parsed.
TEXT_LIMIT = 500
#: Discord caps a text option at 6000 characters; a longer prompt (up to the calendar's
#: 16,000) is planned with `calendar add --prompt-file`.
PROMPT_OPTION_LIMIT = 6000


class PlanCog(CommandCog, name="Plan"):
    @app_commands.command(
        name="plan", description="Plan a slot, or a series with repeat (admins only)"
    )
    @app_commands.autocomplete(agent=agent_autocomplete)
    @app_commands.describe(
        agent="Agent id",
        when="YYYY-MM-DD HH:MM, HH:MM, tomorrow HH:MM, or in 10m / in 2h (calendar time zone)",
        title="What the slot is called",
        prompt="What the agent is asked to do (longer: calendar add --prompt-file)",
        priority="0-100 (default 50)",
        duration_min="Estimated minutes, 1-10080 (default 30)",
        repeat="daily, weekdays, weekly, monthly, or an RRULE such as FREQ=WEEKLY;BYDAY=MO",
    )
    @app_commands.guild_only()
    async def plan(
        self,
        interaction: discord.Interaction,
        agent: str,
        when: str,
        title: app_commands.Range[str, 1, 200],
        prompt: app_commands.Range[str, 1, PROMPT_OPTION_LIMIT] | None = None,
        priority: app_commands.Range[int, 0, 100] | None = None,
        duration_min: app_commands.Range[int, 1, 10080] | None = None,
        repeat: str | None = None,
    ) -> None:
        if await self.refuse_non_admin(interaction, "plan"):
            return
        agent_id = self.agent_id(agent)  # an unknown agent: explained by the error hook
        if agent_id is None:
            await tell(interaction, plan_refusal("name the agent"))
            return
        content: dict[str, Any] = {"agent_id": agent_id, "title": title}
        for name, value in (
            ("prompt", prompt),
            ("priority", priority),
            ("estimated_duration_min", duration_min),
        ):
            if value is not None:
                content[name] = value
        now = self.bot.clock.now()
        tz = self.moderator.timezone
        try:
            request = self._request(content, when, repeat)
        except (WhenError, SeriesRuleError) as exc:
            await tell(interaction, plan_refusal(str(exc)))
            return
        except ValidationError as exc:
            await tell(interaction, plan_refusal(describe_validation(exc, limit=3)))
            return
        await defer(interaction)
        who = interaction.user.id
        if isinstance(request, SlotCreate):
            slot = await self.moderator.plan_slot(request)
            log.info("/plan slot %s for %s at %s by %s", slot.id, agent_id, slot.scheduled_at, who)
            await tell(interaction, planned_slot_reply(slot, tz) + self._feed_line(agent_id))
            return
        new_series, chosen = request
        series = await self.moderator.plan_series(new_series)
        log.info("/plan series %s for %s (%s) by %s", series.id, agent_id, series.rrule, who)
        word = (repeat or "").strip()
        word = word if word.lower() in REPEAT_WORDS else "by the rule"
        text = planned_series_reply(series, tz, now, word=word, note=chosen.note)
        await tell(interaction, text + self._feed_line(agent_id))

    def _feed_line(self, agent_id: str) -> str:
        """Where the plan shows in a calendar app: the answer is ephemeral and for admins."""
        return feed_line(feed_url(self.bot, agent_id))

    def _request(
        self, content: dict[str, Any], when: str, repeat: str | None
    ) -> SlotCreate | tuple[SeriesCreate, Repeat]:
        """The slot or series asked for, held to the calendar's rules (§3.1, §3.2) before it
        is sent; raises `WhenError`, `SeriesRuleError` or pydantic's `ValidationError`."""
        if len(when) > TEXT_LIMIT or (repeat is not None and len(repeat) > TEXT_LIMIT):
            raise WhenError(f"`when` and `repeat` are at most {TEXT_LIMIT} characters")
        tz = self.moderator.timezone
        at = parse_when(when, self.bot.clock.now(), tz)
        if repeat is None or not repeat.strip():
            return SlotCreate.model_validate({**content, "scheduled_at": at})
        wall = at.astimezone(tz).replace(tzinfo=None, microsecond=0)
        chosen = repeat_rule(repeat, wall)
        start = wall.isoformat(timespec="seconds")
        Recurrence.checked(chosen.rule, start, tz.key)
        series = SeriesCreate.model_validate(
            {**content, "rrule": chosen.rule, "start": start, "timezone": tz.key}
        )
        return series, chosen

    @plan.autocomplete("repeat")
    async def _plan_repeat(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().lower()
        return [app_commands.Choice(name=w, value=w) for w in REPEAT_WORDS if w.startswith(typed)]


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(PlanCog(bot))
