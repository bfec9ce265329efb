"""Buttons for people on a wake message: Complete and Abort, with `/slot`'s permission rule.

The buttons are `DynamicItem`s whose custom_id carries the action and the slot
id (`slotctl:complete:<slot id>`), registered once with
`bot.add_dynamic_items`: a press is routed by its custom_id alone, so buttons
on messages posted before a restart keep working, and no view has to be kept
in memory per slot.

They are attached by editing the wake message (the waker posts it; an edit
adds no message to the channel, so an agent reading its channel sees nothing
new). Snooze is not offered: a slot woken in Discord is ONGOING, and giving it
back for a later wake would find its wake message already posted (the waker
is idempotent per slot), so the agent would never be asked again.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import discord

from bot.core.models import Action

CUSTOM_ID_PREFIX = "slotctl"
#: The cog a press is handed to (`cogs.slot`), found by name: the extension may be reloaded.
SLOT_COG = "Slot"
BUTTON_ACTIONS: tuple[Action, ...] = (Action.COMPLETE, Action.ABORT)
_LABELS = {Action.COMPLETE: "Complete", Action.ABORT: "Abort"}
_STYLES = {Action.COMPLETE: discord.ButtonStyle.success, Action.ABORT: discord.ButtonStyle.danger}
#: Discord allows 100 characters per custom_id; "slotctl:complete:" leaves 83.
SLOT_ID_MAX = 80
#: The slot ids a button can carry: one pattern for routing a press and for making buttons.
_SLOT_ID = rf"[A-Za-z0-9_.-]{{1,{SLOT_ID_MAX}}}"
_BUTTON_SLOT_ID = re.compile(_SLOT_ID)
_ACTIONS = "|".join(action.value for action in BUTTON_ACTIONS)


@runtime_checkable
class SlotButtonHandler(Protocol):
    """What a button press is handed to (the `/slot` cog)."""

    async def on_slot_button(
        self, interaction: discord.Interaction, action: Action, slot_id: str
    ) -> None: ...


def custom_id(action: Action, slot_id: str) -> str:
    return f"{CUSTOM_ID_PREFIX}:{action.value}:{slot_id}"


class SlotButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{CUSTOM_ID_PREFIX}:(?P<action>{_ACTIONS}):(?P<slot_id>{_SLOT_ID})",
):
    def __init__(self, action: Action, slot_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_LABELS[action], style=_STYLES[action], custom_id=custom_id(action, slot_id)
            )
        )
        self.action = action
        self.slot_id = slot_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> SlotButton:
        return cls(Action(match["action"]), match["slot_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = interaction.client.get_cog(SLOT_COG)
        if not isinstance(handler, SlotButtonHandler):
            await interaction.response.send_message(
                "The moderator's commands are not loaded right now; use the slot's channel "
                "replies or try again later.",
                ephemeral=True,
            )
            return
        await handler.on_slot_button(interaction, self.action, self.slot_id)


def controls_view(slot_id: str) -> discord.ui.View | None:
    """The buttons for one slot, or None when its id cannot fit a custom_id."""
    if not _BUTTON_SLOT_ID.fullmatch(slot_id):
        return None
    view = discord.ui.View(timeout=None)
    for action in BUTTON_ACTIONS:
        view.add_item(SlotButton(action, slot_id))
    return view
