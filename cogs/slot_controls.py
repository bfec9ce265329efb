"""The Complete/Abort buttons on a wake message, put on and taken off as the core reports.

The core publishes `AgentWoken` (with the wake's `channel_id` when it went to a
Discord channel) and `SlotEnded`; the buttons follow those typed events, not
the waker's name or a status word. Each change is an edit of the wake message
(no new message in the agent's channel), made in the background and one at a
time per slot, in event order: an agent that answers within milliseconds must
not see the buttons come back after its slot ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from bot.core.events import AgentWoken, SlotEnded
from bot.core.tasks import TaskGroup
from bot.discord_io.client import ModeratorBot
from bot.discord_io.errors import DISCORD_FAILURES, describe_failure
from bot.discord_io.keyed_lock import KeyedLocks
from cogs.views import SlotButton, controls_view

log = logging.getLogger(__name__)


class SlotControls:
    """Subscribed while started: buttons on at a Discord wake, off when the slot ends."""

    def __init__(self, bot: ModeratorBot) -> None:
        self._bot = bot
        self._tasks = TaskGroup()
        self._locks = KeyedLocks()
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        self._bot.add_dynamic_items(SlotButton)
        events = self._bot.moderator.events
        self._unsubscribe = [
            events.subscribe(AgentWoken, self._woken),
            events.subscribe(SlotEnded, self._ended),
        ]

    async def stop(self) -> None:
        if self._unsubscribe:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe = []
            self._bot.remove_dynamic_items(SlotButton)
        await self._tasks.cancel_all()

    def _woken(self, event: AgentWoken) -> None:
        """A wake posted in a Discord channel gets its buttons."""
        if event.channel_id is not None and self._unsubscribe:
            self._tasks.spawn(self.set(event.slot_id, on=True), "slot-controls-on")

    def _ended(self, event: SlotEnded) -> None:
        """An ended slot's buttons come off."""
        if self._unsubscribe:
            self._tasks.spawn(self.set(event.slot_id, on=False), "slot-controls-off")

    async def set(self, slot_id: str, *, on: bool) -> None:
        """Put the buttons on the slot's wake message, or take them off (in order per slot)."""
        async with self._locks(slot_id):
            await self._edit(slot_id, on=on)

    async def _edit(self, slot_id: str, *, on: bool) -> None:
        link = await self._bot.state.channel_link(slot_id)
        if link is None or link.message_id is None:
            return
        view = controls_view(slot_id) if on else None
        if on and view is None:
            log.info("slot id %r does not fit a button; no buttons for it", slot_id)
            return
        channel = self._bot.get_partial_messageable(link.channel_id, guild_id=self._bot.guild_id)
        message = channel.get_partial_message(link.message_id)
        try:
            await message.edit(view=view)
        except discord.NotFound:
            log.info("wake message of slot %s is gone; buttons not changed", slot_id)
        except DISCORD_FAILURES as exc:
            log.warning(
                "buttons of slot %s not %s: %s",
                slot_id,
                "added" if on else "removed",
                describe_failure(exc),
            )
