"""What the moderator answers to an agent's reply: the one wording for Discord and the demo.

Answers never mention anyone and never start with a reply word (each starts
with an emoji): agents read bot messages, and either could start a reply loop.
Which outcomes get an answer at all is the core's call
(`bot.core.reply_handling.ReplyHandler.should_answer`); this module only words
them.
"""

from __future__ import annotations

from typing import Final

from bot.core.calendar import TransitionConflict
from bot.core.models import Action, Slot, SlotStatus
from bot.core.reply_handling import (
    CalendarFailed,
    HandlingFailed,
    ReplyApplied,
    ReplyOutcome,
    ReplyRefused,
    SlotGone,
)
from bot.core.reply_words import REPLY_WORDS
from bot.presenters.discord_embed import MESSAGE_LIMIT
from bot.presenters.formatting import cut, one_line

#: Longest note quoted back in an acknowledgement.
NOTE_SHOWN: Final = 200

_ACKS: Final = {
    SlotStatus.FINISHED: "✅ Recorded: **{title}** is finished. Nothing more is needed here.",
    SlotStatus.ABORTED: "⏹️ Recorded: **{title}** is aborted.",
    SlotStatus.PAUSED: "⏸️ Recorded: **{title}** is paused. Write `RESUME` here to carry on.",
    SlotStatus.ONGOING: "▶️ Recorded: **{title}** is ongoing again.",
}


def reply_word(action: Action) -> str:
    """The word agents write for `action`: the first DESIGN lists (`DONE`, not `COMPLETE`)."""
    return next((w for w, a in REPLY_WORDS.items() if a is action), action.value.upper())


def acknowledgement(slot: Slot, note: str | None) -> str:
    """What the moderator answers to a state change (never a reply word first, no mention)."""
    title = one_line(slot.title or slot.slot_type or slot.id, 120)
    text = _ACKS.get(slot.status, "☑️ Recorded: **{title}** is now {status}.").format(
        title=title, status=slot.status.value
    )
    if note:
        text += f"\n> {one_line(note, NOTE_SHOWN)}"
    return text


def reply_refusal(action: Action, conflict: TransitionConflict) -> str:
    """Why a reply word changed nothing, and what the agent can do instead."""
    word = reply_word(action)
    status = conflict.slot.status if conflict.slot is not None else None
    if status is None:
        return f"ℹ️ Not applied: `{word}` is not possible for this slot now ({conflict.detail})."
    if status.is_final:
        hint = "it has already ended, so nothing more is needed here."
    elif status is SlotStatus.PAUSED:
        hint = "write `RESUME` to carry on, or `DONE` / `ABORT` to end it."
    elif status is SlotStatus.ONGOING:
        hint = "it is running; write `DONE` when finished, `PAUSE` to hold it."
    else:
        hint = "it has not started yet."
    return f"ℹ️ Not applied: `{word}` is not possible while the slot is {status.value}; {hint}"


def answer_text(outcome: ReplyOutcome) -> str | None:
    """The answer posted in the wake channel for `outcome`, within Discord's message limit.

    None for outcomes nobody is told about (progress, other people's messages).
    """
    match outcome:
        case ReplyApplied(slot=slot, note=note):
            text = acknowledgement(slot, note)
        case ReplyRefused(action=action, conflict=conflict):
            text = reply_refusal(action, conflict)
        case SlotGone():
            text = "ℹ️ Not applied: this channel's slot is no longer in the calendar."
        case CalendarFailed(action=action):
            text = (
                f"⚠️ Couldn't record `{reply_word(action)}` just now: the calendar is not "
                "answering. Nothing was changed; please send it again in a few minutes."
            )
        case HandlingFailed():
            text = (
                "⚠️ Couldn't record that because of an internal error (it is logged). "
                "Nothing was changed; please send it again in a few minutes."
            )
        case _:
            return None
    return cut(text, MESSAGE_LIMIT)
