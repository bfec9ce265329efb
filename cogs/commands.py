"""Slash commands for people (DESIGN §7): `/schedule`, `/status`, `/slot`, `/sync`.

Thin glue: the words come from `bot.presenters.text`, the facts from the
`Moderator`, the Discord set-up from `bot.discord_io.guild_check`. What this module owns
is Discord's contract for interactions:

* every interaction is answered within 3 s: quick refusals (no permission, a
  bad date, an unknown agent) are answered at once; anything that may touch the
  calendar, the state file or Discord's REST is deferred first;
* answers are ephemeral (only the asker sees them): they are looks and steers
  for one person, and a refusal must never become channel noise. A `/slot`
  change is the exception that others need to see: it is announced in the
  slot's wake channel, so the agent knows, mentioning nobody;
* bad input of any kind gets a sentence, never a traceback: every failure the
  core documents is explained, and anything else is logged with its traceback
  and answered with "something went wrong" (`cog_app_command_error`).

Complete and Abort buttons (`cogs.views`) are put on each Discord wake message
when the core reports the wake, and taken off when the slot ends; a press
follows `/slot`'s rules and announcement.

`/slot` and `/sync` are for members holding `ADMIN_ROLE_ID` or Manage Server
(`ModeratorBot.is_admin`). They are registered without
`default_member_permissions`, because Discord would then hide them from the
admin role, which needs no Manage Server of its own; the check is made here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.core.cache import local_day
from bot.core.calendar import (
    BadRequest,
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.events import AgentWoken, SlotEnded
from bot.core.guild_report import GuildReport
from bot.core.models import TRANSITIONS, Action, Slot, SlotStatus
from bot.core.moderator import Moderator, UnknownAgent
from bot.core.state import StateError
from bot.discord_io.guild_check import GuildChecker
from bot.presenters.discord_embed import CHOICE_COUNT_LIMIT, EmbedSpec
from bot.presenters.discord_schedule import AgentDay, BadDate, parse_day, schedule_embed
from bot.presenters.discord_slot import (
    refusal_text,
    slot_change_notice,
    slot_change_reply,
    slot_choice,
)
from bot.presenters.discord_status import status_embed
from bot.presenters.formatting import cut, day_title
from cogs.views import SlotButton, controls_view

if TYPE_CHECKING:
    from bot.discord_io.client import ModeratorBot

log = logging.getLogger(__name__)

#: The guild check is redone after this long (and at once after role or guild changes).
GUILD_CHECK_MAX_AGE_S = 600.0
#: `/status` waits this long for a stale guild check, then shows the last one it has.
GUILD_CHECK_WAIT_S = 8.0
#: Autocomplete has Discord's 3 s in total; the calendar gets this much of it.
AUTOCOMPLETE_BUDGET_S = 1.5
#: Calendar calls at once for `/schedule` of every agent on a day that is not cached.
SCHEDULE_CONCURRENCY = 8
NOTE_LIMIT = 500
DEFER_MINUTES_MAX = 1440
NO_MENTIONS = discord.AllowedMentions.none()
ADMIN_ONLY = (
    "Only members with the moderator's admin role or the Manage Server permission "
    "may use `/{command}`."
)
#: What `/slot`'s `action` offers, in this order (DESIGN §7).
SLOT_ACTIONS: tuple[Action, ...] = (
    Action.COMPLETE,
    Action.ABORT,
    Action.PAUSE,
    Action.RESUME,
    Action.DEFER,
)
NOT_AN_ACTION = (
    "`{value}` is not something `/slot` does: pick complete, abort, pause, resume or defer."
)
MINUTES_ONLY_FOR_DEFER = (
    "`minutes` goes only with `defer` (it reschedules the slot), not with `{action}`; "
    "nothing was changed."
)
#: discord.py's `Range` only tells Discord the limits; it does not check what arrives
#: (a stale command registration or another client may send anything), so the cog does.
OUT_OF_RANGE = "`{option}` must be {limits} (got {got}); nothing was changed."
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
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
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


def _slot_action(value: str) -> Action | None:
    """The `/slot` action a chosen value names; None for anything else (never raises)."""
    return next((a for a in SLOT_ACTIONS if a.value == value), None)


def _person(user: discord.abc.User) -> str:
    return getattr(user, "display_name", None) or user.name


class CommandsCog(commands.Cog, name="Commands"):
    """`/schedule`, `/status`, `/slot`, `/sync`, with autocomplete and the guild check."""

    def __init__(self, bot: ModeratorBot) -> None:
        self.bot = bot
        self.guild_checker = GuildChecker(
            bot, bot.guild_id, bot.agents, clock=bot.clock, max_age_s=GUILD_CHECK_MAX_AGE_S
        )
        self._unsubscribe: list[Callable[[], None]] = []
        self._hooked = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._controls_locks: dict[str, asyncio.Lock] = {}

    # ---- life ------------------------------------------------------------------

    @property
    def moderator(self) -> Moderator:
        return self.bot.moderator

    async def cog_load(self) -> None:
        self.guild_refresh.start()
        self.bot.add_dynamic_items(SlotButton)
        events = self.moderator.events
        self._unsubscribe = [
            events.subscribe(AgentWoken, self._woken),
            events.subscribe(SlotEnded, self._ended),
        ]
        self._hooked = True
        self.bot.add_shutdown_hook(self._stop)

    async def cog_unload(self) -> None:
        await self._stop()

    async def _stop(self) -> None:
        if self._hooked:
            self._hooked = False
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self.bot.remove_dynamic_items(SlotButton)
        self.guild_refresh.cancel()
        tasks_, self._tasks = self._tasks, set()
        for task in tasks_:
            task.cancel()
        await asyncio.gather(*tasks_, return_exceptions=True)
        await self.guild_checker.close()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    def _woken(self, event: AgentWoken) -> None:
        """A wake posted in a Discord channel gets its buttons."""
        if event.channel_id is not None and self._hooked:
            self._spawn(self._controls_in_order(event.slot_id, on=True), "slot-controls-on")

    def _ended(self, event: SlotEnded) -> None:
        """An ended slot's buttons come off."""
        if self._hooked:
            self._spawn(self._controls_in_order(event.slot_id, on=False), "slot-controls-off")

    async def _controls_in_order(self, slot_id: str, *, on: bool) -> None:
        """One change at a time per slot, in event order: an agent that answers within
        milliseconds must not see the buttons come back after its slot ended."""
        lock = self._controls_locks.setdefault(slot_id, asyncio.Lock())
        try:
            async with lock:
                await self._set_controls(slot_id, on=on)
        finally:
            if not on and not lock.locked():
                self._controls_locks.pop(slot_id, None)

    async def _set_controls(self, slot_id: str, *, on: bool) -> None:
        """Put the Complete/Abort buttons on the slot's wake message, or take them off."""
        link = await self.bot.state.channel_link(slot_id)
        if link is None or link.message_id is None:
            return
        view = controls_view(slot_id) if on else None
        if on and view is None:
            log.info("slot id %r does not fit a button; no buttons for it", slot_id)
            return
        channel = self.bot.get_partial_messageable(link.channel_id, guild_id=self.bot.guild_id)
        message = channel.get_partial_message(link.message_id)
        try:
            await message.edit(view=view)
        except discord.NotFound:
            log.info("wake message of slot %s is gone; buttons not changed", slot_id)
        except discord.HTTPException as exc:
            log.warning(
                "buttons of slot %s not %s: %s %s",
                slot_id,
                "added" if on else "removed",
                exc.status,
                exc.text,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("buttons of slot %s not changed: %r", slot_id, exc)

    @tasks.loop(seconds=GUILD_CHECK_MAX_AGE_S)
    async def guild_refresh(self) -> None:
        """Keeps `/status` instant: the check is usually fresh when someone asks."""
        try:
            await self.guild_checker.refresh()
        except Exception:  # a tasks.loop ends for good on anything but network errors
            log.exception("periodic guild check failed")

    def _our_guild(self, guild: discord.Guild | None) -> bool:
        return guild is not None and guild.id == self.bot.guild_id

    @commands.Cog.listener()
    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        if self._our_guild(after.guild):
            self.guild_checker.invalidate()

    @commands.Cog.listener()
    async def on_guild_role_create(self, role: discord.Role) -> None:
        if self._our_guild(role.guild):
            self.guild_checker.invalidate()

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        if self._our_guild(role.guild):
            self.guild_checker.invalidate()

    @commands.Cog.listener()
    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        if self._our_guild(after):
            self.guild_checker.invalidate()

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        if self._our_guild(guild):
            self.guild_checker.invalidate()

    # ---- errors ----------------------------------------------------------------

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

    # ---- helpers ---------------------------------------------------------------

    def _today(self) -> dt.date:
        return local_day(self.bot.clock.now(), self.moderator.timezone)

    def _agent_id(self, text: str | None) -> str | None:
        """The configured agent `text` names (None for "all"); raises `UnknownAgent`."""
        if text is None or not text.strip():
            return None
        name = text.strip().lower()
        self.moderator.agent(name)  # raises UnknownAgent listing the configured ones
        return name

    async def _channel_ref(self, slot_id: str) -> tuple[int, str] | None:
        """The slot's wake channel (id, clickable text), if it has a live one."""
        link = await self.bot.state.channel_link(slot_id)
        if link is None:
            return None
        channel = self.bot.get_channel(link.channel_id)
        name = getattr(channel, "name", None) or "wake channel"
        return link.channel_id, f"[#{name}]({self.bot.channel_link_url(link.channel_id)})"

    # ---- /schedule -------------------------------------------------------------

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
        day = parse_day(date, self._today())
        agent_id = self._agent_id(agent)
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
            today = self._today()
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
        except Exception:
            log.exception("date autocomplete failed")
            return []

    # ---- /status ---------------------------------------------------------------

    @app_commands.command(name="status", description="What the moderator and the agents are doing")
    @app_commands.describe(agent="Agent id (all agents when left out)")
    @app_commands.guild_only()
    async def status(self, interaction: discord.Interaction, agent: str | None = None) -> None:
        agent_id = self._agent_id(agent)
        await defer(interaction)
        snapshots = [self.moderator.status(agent_id)] if agent_id else self.moderator.statuses()
        links: dict[str, str] = {}
        for snap in snapshots:
            if snap.current is not None:
                ref = await self._channel_ref(snap.current.id)
                if ref is not None:
                    links[snap.current.id] = ref[1]
        report = await self._guild_report()
        spec = status_embed(
            snapshots,
            self.moderator.timezone,
            links=links,
            guild=report,
            agent_count=len(self.moderator.agent_ids),
        )
        await show(interaction, spec)

    async def _guild_report(self) -> GuildReport | None:
        """The cached guild check, refreshed first when stale (bounded wait)."""
        checker = self.guild_checker
        if checker.fresh:
            return checker.report
        try:
            return await asyncio.wait_for(checker.refresh(), GUILD_CHECK_WAIT_S)
        except TimeoutError:
            log.warning(
                "guild check took over %.0f s; /status shows the last one", GUILD_CHECK_WAIT_S
            )
            return checker.report

    @status.autocomplete("agent")
    async def _status_agent(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.agent_choices(current)

    # ---- /sync -----------------------------------------------------------------

    @app_commands.command(name="sync", description="Sync from the calendar now (admins only)")
    @app_commands.describe(agent="Agent id (all agents when left out)")
    @app_commands.guild_only()
    async def sync(self, interaction: discord.Interaction, agent: str | None = None) -> None:
        if not self.bot.is_admin(interaction.user):
            await tell(interaction, ADMIN_ONLY.format(command="sync"))
            return
        agent_id = self._agent_id(agent)
        await defer(interaction)
        log.info("/sync %s by %s", agent_id or "(all)", interaction.user.id)
        if agent_id is not None:
            ok = await self.moderator.sync(agent_id)
            snap = self.moderator.status(agent_id)
            if ok:
                text = f"Synced {agent_id}: {snap.pending_count} pending slot(s) today."
                if snap.next_due is not None:
                    text += f" Next: `{snap.next_due.id}` ({cut(snap.next_due.title, 60)})."
            else:
                text = (
                    f"Sync of {agent_id} failed: {cut(snap.last_sync_error or 'unknown', 300)}. "
                    "It is retried by the sync loop."
                )
            await tell(interaction, text)
            return
        failed = await self.moderator.sync_all()
        total = len(self.moderator.agent_ids)
        if not failed:
            await tell(interaction, f"Synced all {total} agent(s).")
            return
        bad = [s for s in self.moderator.statuses() if s.consecutive_sync_failures]
        lines = [f"Synced {total - failed} of {total} agent(s); {failed} failed:"]
        lines += [f"- {s.agent_id}: {cut(s.last_sync_error or 'unknown', 200)}" for s in bad[:10]]
        if len(bad) > 10:
            lines.append(f"… and {len(bad) - 10} more (see `/status`)")
        await tell(interaction, "\n".join(lines))

    @sync.autocomplete("agent")
    async def _sync_agent(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.agent_choices(current)

    # ---- /slot -----------------------------------------------------------------

    @app_commands.command(
        name="slot",
        description="Steer a slot: complete, abort, pause, resume or defer (admins only)",
    )
    @app_commands.describe(
        action="What to do with the slot",
        slot_id="The slot's id (see /schedule)",
        note="Why, for the calendar and the agent",
        minutes="defer only: reschedule it this many minutes from now (1-1440)",
        agent="Narrows the slot suggestions to one agent",
    )
    @app_commands.choices(
        action=[app_commands.Choice(name=a.value, value=a.value) for a in SLOT_ACTIONS]
    )
    @app_commands.guild_only()
    async def slot(
        self,
        interaction: discord.Interaction,
        action: app_commands.Choice[str],
        slot_id: str,
        note: app_commands.Range[str, 1, NOTE_LIMIT] | None = None,
        minutes: app_commands.Range[int, 1, DEFER_MINUTES_MAX] | None = None,
        agent: str | None = None,
    ) -> None:
        if not self.bot.is_admin(interaction.user):
            await tell(interaction, ADMIN_ONLY.format(command="slot"))
            return
        if minutes is not None and not 1 <= minutes <= DEFER_MINUTES_MAX:
            limits = f"between 1 and {DEFER_MINUTES_MAX}"
            await tell(
                interaction, OUT_OF_RANGE.format(option="minutes", limits=limits, got=minutes)
            )
            return
        if note is not None and len(note) > NOTE_LIMIT:
            got = f"{len(note)} characters"
            limits = f"at most {NOTE_LIMIT} characters"
            await tell(interaction, OUT_OF_RANGE.format(option="note", limits=limits, got=got))
            return
        chosen = _slot_action(action.value)
        if chosen is None:  # Discord offers only the choices; a stale client might not
            await tell(interaction, NOT_AN_ACTION.format(value=cut(str(action.value), 30)))
            return
        if minutes is not None and chosen is not Action.DEFER:
            # Refused, not ignored: a person asking for a 30-minute pause must not
            # get an open-ended one without noticing.
            await tell(interaction, MINUTES_ONLY_FOR_DEFER.format(action=chosen.value))
            return
        slot_id = slot_id.strip()
        if not slot_id or len(slot_id) > 100 or any(c.isspace() for c in slot_id):
            await tell(interaction, "That is not a slot id: pick one from the suggestions.")
            return
        agent_id = self._agent_id(agent)
        await defer(interaction)
        if agent_id is not None:
            owner = self.moderator.slot_owner(slot_id)
            if owner is None:
                owner = (await self.moderator.calendar.get_slot(slot_id)).agent_id
            if owner != agent_id:
                await tell(
                    interaction,
                    f"Slot `{slot_id}` belongs to {owner}, not {agent_id}; nothing was changed.",
                )
                return
        until = self.bot.clock.now() + dt.timedelta(minutes=minutes) if minutes else None
        _, text = await self._steer(
            interaction.user, chosen, slot_id, note=note, until=until, via=f"/slot {chosen.value}"
        )
        await tell(interaction, text)

    async def _steer(
        self,
        user: discord.abc.User,
        action: Action,
        slot_id: str,
        *,
        note: str | None,
        until: dt.datetime | None,
        via: str,
    ) -> tuple[Slot | None, str]:
        """Apply a person's action and announce it; the slot (None if refused) and the
        text for the person. Documented failures other than a refusal propagate."""
        person = _person(user)
        try:
            slot = await self.moderator.apply_action(
                slot_id, action, note=note, source=f"{person} via {via}", until=until
            )
        except TransitionConflict as exc:
            log.info("%s on %s by %s refused: %s", via, slot_id, user.id, exc)
            return None, refusal_text(
                action, slot_id, code=exc.code, detail=exc.detail, slot=exc.slot
            )
        log.info("%s on %s by %s (%s): now %s", via, slot_id, person, user.id, slot.status)
        announced = await self._announce(slot, action, person, note, via)
        reply = slot_change_reply(slot, action, self.moderator.timezone, announced_in=announced)
        return slot, reply

    async def on_slot_button(
        self, interaction: discord.Interaction, action: Action, slot_id: str
    ) -> None:
        """A Complete/Abort button on a wake message (`cogs.views`): `/slot`'s rules."""
        try:
            if not self.bot.is_admin(interaction.user):
                await tell(interaction, ADMIN_ONLY.format(command=f"slot {action.value}"))
                return
            # Acknowledge without touching the message yet: the calendar may be slow.
            await interaction.response.defer()
            slot, text = await self._steer(
                interaction.user, action, slot_id, note=None, until=None, via="button"
            )
            if slot is not None and slot.status.is_final:
                await self._set_controls(slot_id, on=False)
            await tell(interaction, text)
        except Exception as exc:
            known = explain(exc)
            if known is None:
                log.exception("the %s button on slot %s failed", action, slot_id)
            await tell(interaction, known or SOMETHING_WENT_WRONG)

    async def _announce(
        self, slot: Slot, action: Action, person: str, note: str | None, via: str
    ) -> str | None:
        """Post the change in the slot's wake channel; where (for the person), or None."""
        ref = await self._channel_ref(slot.id)
        if ref is None:
            return None
        channel_id, shown = ref
        text = slot_change_notice(
            slot, action, person, note=note, tz=self.moderator.timezone, via=via
        )
        target = self.bot.get_partial_messageable(channel_id, guild_id=self.bot.guild_id)
        try:
            await target.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning(
                "announcement of %s on %s not posted in %s: %s %s",
                via,
                slot.id,
                channel_id,
                exc.status,
                exc.text,
            )
            return None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("announcement of %s on %s not posted: %r", via, slot.id, exc)
            return None
        return shown

    # ---- autocomplete ----------------------------------------------------------

    def agent_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Configured agents matching what was typed: prefix matches first."""
        typed = current.strip().lower()
        names = sorted(self.moderator.agent_ids)
        first = [n for n in names if n.startswith(typed)]
        then = [n for n in names if typed in n and not n.startswith(typed)]
        return [app_commands.Choice(name=n, value=n) for n in (first + then)[:CHOICE_COUNT_LIMIT]]

    async def slot_choices(
        self, interaction: discord.Interaction, current: str, action: Action | None
    ) -> list[app_commands.Choice[str]]:
        """Slots for `/slot <action>`: today's of the chosen agent, else every agent's
        pending and active ones, matching the typed text; those the chosen action can
        move come first (the ones still open, while no action is chosen yet)."""
        try:
            return await asyncio.wait_for(
                self._slot_choices(interaction, current, action), AUTOCOMPLETE_BUDGET_S
            )
        except TimeoutError:
            log.warning("slot autocomplete ran out of time")
            return []
        except Exception:  # an autocomplete that raises leaves Discord spinning
            log.exception("slot autocomplete failed")
            return []

    async def _slot_choices(
        self, interaction: discord.Interaction, current: str, action: Action | None
    ) -> list[app_commands.Choice[str]]:
        today = self._today()
        chosen = getattr(interaction.namespace, "agent", None)
        agent_ids = self.moderator.agent_ids
        if isinstance(chosen, str) and chosen.strip().lower() in agent_ids:
            agent_ids = [chosen.strip().lower()]
            keep = None
        else:
            keep = {s for s in SlotStatus if not s.is_final}
        slots: list[Slot] = []
        for name in agent_ids:
            try:
                day = await self.moderator.schedule(name, today)
            except CalendarError:
                continue
            slots.extend(s for s in day if keep is None or s.status in keep)
        typed = current.strip().lower()
        if typed:
            slots = [
                s
                for s in slots
                if s.id.lower().startswith(typed)
                or typed in (s.title or "").lower()
                or s.agent_id.startswith(typed)
            ]
        movable = (
            TRANSITIONS[action].allowed_from
            if action is not None
            else frozenset(s for s in SlotStatus if not s.is_final)
        )
        slots.sort(key=lambda s: (s.status not in movable, s.scheduled_at, -s.priority, s.id))
        choices = [slot_choice(s, self.moderator.timezone, today) for s in slots]
        return [
            app_commands.Choice(name=name, value=value)
            for name, value in choices[:CHOICE_COUNT_LIMIT]
        ]

    @slot.autocomplete("slot_id")
    async def _slot_ids(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = getattr(interaction.namespace, "action", None)
        action = _slot_action(chosen) if isinstance(chosen, str) else None
        return await self.slot_choices(interaction, current, action)

    @slot.autocomplete("agent")
    async def _slot_agent(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.agent_choices(current)


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(CommandsCog(bot))
