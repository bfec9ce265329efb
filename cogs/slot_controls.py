"""The Complete/Abort buttons on a wake message: posted with it, taken off when the slot ends.

The channel waker posts them with the wake message (`controls`: no edit after
it, so a wake is two Discord calls). The core publishes `SlotEnded`; taking
them off is an edit of the wake message (no new message in the agent's
channel), made in the background and one at a time per slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from bot.core.events import SlotEnded
from bot.core.tasks import TaskGroup
from bot.discord_io.client import ModeratorBot
from bot.discord_io.errors import DISCORD_FAILURES, describe_failure
from bot.discord_io.keyed_lock import KeyedLocks
from cogs.views import SlotButton, controls_view

log = logging.getLogger(__name__)


class SlotControls:
    """While started: buttons go out with each Discord wake and come off when the slot ends."""

    def __init__(self, bot: ModeratorBot) -> None:
        self._bot = bot
        self._tasks = TaskGroup()
        self._locks = KeyedLocks()
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        if self._bot.answers_interactions:  # presses are shard 0's to answer
            self._bot.add_dynamic_items(SlotButton)
        if self._bot.channel_waker is not None:
            self._bot.channel_waker.controls = controls_view
        self._unsubscribe = [self._bot.moderator.events.subscribe(SlotEnded, self._ended)]

    async def stop(self) -> None:
        if self._unsubscribe:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe = []
            if self._bot.answers_interactions:
                self._bot.remove_dynamic_items(SlotButton)
            if self._bot.channel_waker is not None:
                self._bot.channel_waker.controls = None
        await self._tasks.cancel_all()

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
