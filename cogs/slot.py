"""`/slot <action> <slot_id> [note] [minutes] [agent] [when]` and the Complete/Abort buttons,
for admins. `move` is not a transition but an edit of the slot's time (`when`).

Both steer a slot through the moderator with the same rules (admins only, the
calendar's transition rules, the refusal explained) and the same announcement:
a change others need to see is posted in the slot's wake channel, mentioning
nobody, so the agent knows. The buttons themselves come and go with the core's
events (`cogs.slot_controls`); a press arrives here (`on_slot_button`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

import discord
from discord import app_commands

from bot.core.calendar import CalendarError, TransitionConflict
from bot.core.models import TRANSITIONS, Action, Slot, SlotStatus
from bot.core.when import WhenError, parse_when
from bot.discord_io.client import ModeratorBot
from bot.discord_io.errors import DISCORD_FAILURES, describe_failure
from bot.presenters.discord_embed import CHOICE_COUNT_LIMIT
from bot.presenters.discord_plan import move_refusal, moved_notice, moved_reply
from bot.presenters.discord_slot import (
    refusal_text,
    slot_change_notice,
    slot_change_reply,
    slot_choice,
)
from bot.presenters.formatting import cut
from cogs.interactions import (
    NO_MENTIONS,
    SOMETHING_WENT_WRONG,
    CommandCog,
    agent_autocomplete,
    bounded_choices,
    defer,
    explain,
    person,
    tell,
)
from cogs.slot_controls import SlotControls
from cogs.views import SLOT_COG

log = logging.getLogger(__name__)

NOTE_LIMIT = 500
DEFER_MINUTES_MAX = 1440
SLOT_ID_LIMIT = 100
#: What `/slot`'s `action` offers, in this order (DESIGN §7).
SLOT_ACTIONS: tuple[Action, ...] = (
    Action.COMPLETE,
    Action.ABORT,
    Action.PAUSE,
    Action.RESUME,
    Action.DEFER,
    Action.CANCEL,
)
#: The `/slot` choice that moves a slot to another time (an edit, not a transition).
MOVE: Final = "move"
NOT_AN_ACTION = (
    "`{value}` is not something `/slot` does: pick complete, abort, pause, resume, defer, "
    "cancel or move."
)
WHEN_ONLY_FOR_MOVE = "`when` goes only with `move`, not with `{action}`; nothing was changed."
MOVE_NEEDS_WHEN = (
    "`/slot move` needs `when` (e.g. 2026-12-24 09:00, 14:30, tomorrow 09:00, in 2h); "
    "nothing was changed."
)
MINUTES_ONLY_FOR_DEFER = (
    "`minutes` goes only with `defer` (it reschedules the slot), not with `{action}`; "
    "nothing was changed."
)
#: discord.py's `Range` only tells Discord the limits; it does not check what arrives
#: (a stale command registration or another client may send anything), so the cog does.
OUT_OF_RANGE = "`{option}` must be {limits} (got {got}); nothing was changed."
NOT_A_SLOT_ID = "That is not a slot id: pick one from the suggestions."


def slot_action(value: str) -> Action | None:
    """The `/slot` action a chosen value names; None for anything else (never raises)."""
    return next((a for a in SLOT_ACTIONS if a.value == value), None)


def refuse_slot_input(
    value: str, slot_id: str, note: str | None, minutes: int | None, when: str | None = None
) -> str | None:
    """The sentence refusing `/slot`'s input as it came, or None when it may go ahead."""
    if minutes is not None and not 1 <= minutes <= DEFER_MINUTES_MAX:
        limits = f"between 1 and {DEFER_MINUTES_MAX}"
        return OUT_OF_RANGE.format(option="minutes", limits=limits, got=minutes)
    if note is not None and len(note) > NOTE_LIMIT:
        got = f"{len(note)} characters"
        limits = f"at most {NOTE_LIMIT} characters"
        return OUT_OF_RANGE.format(option="note", limits=limits, got=got)
    chosen = slot_action(value)
    if chosen is None and value != MOVE:  # Discord offers only the choices; a stale client
        return NOT_AN_ACTION.format(value=cut(str(value), 30))
    if minutes is not None and chosen is not Action.DEFER:
        # Refused, not ignored: a person asking for a 30-minute pause must not
        # get an open-ended one without noticing.
        return MINUTES_ONLY_FOR_DEFER.format(action=value)
    if when is not None and chosen is not None:
        return WHEN_ONLY_FOR_MOVE.format(action=value)
    if chosen is None and not (when or "").strip():
        return MOVE_NEEDS_WHEN
    if not slot_id or len(slot_id) > SLOT_ID_LIMIT or any(c.isspace() for c in slot_id):
        return NOT_A_SLOT_ID
    return None


class SlotCog(CommandCog, name=SLOT_COG):
    def __init__(self, bot: ModeratorBot) -> None:
        super().__init__(bot)
        self.controls = SlotControls(bot)

    async def cog_load(self) -> None:
        self.controls.start()
        self.bot.add_shutdown_hook(self.controls.stop)

    async def cog_unload(self) -> None:
        await self.controls.stop()

    @app_commands.command(
        name="slot",
        description="Steer a slot: complete, abort, pause, resume, defer, cancel or move (admins)",
    )
    @app_commands.autocomplete(agent=agent_autocomplete)
    @app_commands.describe(
        action="What to do with the slot",
        slot_id="The slot's id (see /schedule)",
        note="Why, for the calendar and the agent",
        minutes="defer only: reschedule it this many minutes from now (1-1440)",
        agent="Narrows the slot suggestions to one agent",
        when="move only: the new time (YYYY-MM-DD HH:MM, HH:MM, tomorrow HH:MM, in 2h)",
    )
    @app_commands.choices(
        action=[
            app_commands.Choice(name=v, value=v) for v in (*(a.value for a in SLOT_ACTIONS), MOVE)
        ]
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
        when: str | None = None,
    ) -> None:
        if await self.refuse_non_admin(interaction, "slot"):
            return
        slot_id = slot_id.strip()
        refused = refuse_slot_input(action.value, slot_id, note, minutes, when)
        if refused is not None:
            await tell(interaction, refused)
            return
        chosen = slot_action(action.value)
        agent_id = self.agent_id(agent)
        at = None
        if chosen is None:  # move: the time is read before anything is asked of the calendar
            try:
                at = parse_when(when or "", self.bot.clock.now(), self.moderator.timezone)
            except WhenError as exc:
                await tell(
                    interaction, f"Cannot move slot `{slot_id}`: {exc}. Nothing was changed."
                )
                return
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
        if chosen is None:
            assert at is not None
            await tell(interaction, await self._move(interaction.user, slot_id, at, note))
            return
        until = self.bot.clock.now() + dt.timedelta(minutes=minutes) if minutes else None
        _, text = await self._steer(
            interaction.user, chosen, slot_id, note=note, until=until, via=f"/slot {chosen.value}"
        )
        await tell(interaction, text)

    async def on_slot_button(
        self, interaction: discord.Interaction, action: Action, slot_id: str
    ) -> None:
        """A Complete/Abort button on a wake message (`cogs.views`): `/slot`'s rules."""
        try:
            if await self.refuse_non_admin(interaction, f"slot {action.value}"):
                return
            # Acknowledge without touching the message yet: the calendar may be slow.
            await interaction.response.defer()
            slot, text = await self._steer(
                interaction.user, action, slot_id, note=None, until=None, via="button"
            )
            if slot is not None and slot.status.is_final:
                await self.controls.set(slot_id, on=False)
            await tell(interaction, text)
        except Exception as exc:  # the button's task boundary: always answer the press
            known = explain(exc)
            if known is None:
                log.exception("the %s button on slot %s failed", action, slot_id)
            await tell(interaction, known or SOMETHING_WENT_WRONG)

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
        who = person(user)
        try:
            slot = await self.moderator.apply_action(
                slot_id, action, note=note, source=f"{who} via {via}", until=until
            )
        except TransitionConflict as exc:
            log.info("%s on %s by %s refused: %s", via, slot_id, user.id, exc)
            return None, refusal_text(
                action, slot_id, code=exc.code, detail=exc.detail, slot=exc.slot
            )
        log.info("%s on %s by %s (%s): now %s", via, slot_id, who, user.id, slot.status)
        tz = self.moderator.timezone
        notice = slot_change_notice(slot, action, who, note=note, tz=tz, via=via)
        announced = await self._announce(slot, notice, via)
        reply = slot_change_reply(slot, action, tz, announced_in=announced)
        return slot, reply

    async def _move(
        self, user: discord.abc.User, slot_id: str, at: dt.datetime, note: str | None
    ) -> str:
        """Move a pending slot to `at` and announce it; the text for the person."""
        tz = self.moderator.timezone
        try:
            slot = await self.moderator.move_slot(slot_id, at)
        except TransitionConflict as exc:
            log.info("/slot move on %s by %s refused: %s", slot_id, user.id, exc)
            return move_refusal(slot_id, code=exc.code, detail=exc.detail, slot=exc.slot)
        who = person(user)
        log.info("/slot move on %s by %s (%s): now at %s", slot_id, who, user.id, at)
        notice = moved_notice(slot, who, tz, note)
        return moved_reply(slot, tz, announced_in=await self._announce(slot, notice, "/slot move"))

    async def _announce(self, slot: Slot, text: str, via: str) -> str | None:
        """Post `text` in the slot's wake channel; where (for the person), or None."""
        ref = await self.channel_ref(slot.id)
        if ref is None:
            return None
        channel_id, shown = ref
        target = self.bot.get_partial_messageable(channel_id, guild_id=self.bot.guild_id)
        try:
            await target.send(text, allowed_mentions=NO_MENTIONS)
        except DISCORD_FAILURES as exc:
            log.warning(
                "announcement of %s on %s not posted in %s: %s",
                via,
                slot.id,
                channel_id,
                describe_failure(exc),
            )
            return None
        return shown

    # ---- autocomplete ----------------------------------------------------------

    @slot.autocomplete("slot_id")
    async def _slot_ids(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = getattr(interaction.namespace, "action", None)
        action = slot_action(chosen) if isinstance(chosen, str) else None
        return await self.slot_choices(interaction, current, action)

    async def slot_choices(
        self, interaction: discord.Interaction, current: str, action: Action | None
    ) -> list[app_commands.Choice[str]]:
        """Slots for `/slot <action>`: today's of the chosen agent, else every agent's
        pending and active ones, matching the typed text; those the chosen action can
        move come first (the ones still open, while no action is chosen yet)."""
        return await bounded_choices(self._slot_choices(interaction, current, action), "slot")

    async def _slot_choices(
        self, interaction: discord.Interaction, current: str, action: Action | None
    ) -> list[app_commands.Choice[str]]:
        today = self.today()
        chosen = getattr(interaction.namespace, "agent", None)
        agent_ids = self.moderator.agent_ids
        open_statuses = frozenset(s for s in SlotStatus if not s.is_final)
        keep: frozenset[SlotStatus] | None = open_statuses
        if isinstance(chosen, str) and chosen.strip().lower() in agent_ids:
            agent_ids = [chosen.strip().lower()]
            keep = None
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
        movable = TRANSITIONS[action].allowed_from if action is not None else open_statuses
        slots.sort(key=lambda s: (s.status not in movable, s.scheduled_at, -s.priority, s.id))
        choices = [slot_choice(s, self.moderator.timezone, today) for s in slots]
        return [
            app_commands.Choice(name=name, value=value)
            for name, value in choices[:CHOICE_COUNT_LIMIT]
        ]


async def setup(bot: ModeratorBot) -> None:
    await bot.add_cog(SlotCog(bot))
