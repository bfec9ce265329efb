"""`/slot` and its buttons on Discord: refusals, the notice in the wake channel, the reply.

Also the autocomplete label of a slot id, which must fit Discord's choice limit.
"""

from __future__ import annotations

from datetime import date
from typing import Final
from zoneinfo import ZoneInfo

from bot.core.models import TRANSITIONS, Action, Slot
from bot.presenters.discord_embed import CHOICE_NAME_LIMIT, MESSAGE_LIMIT
from bot.presenters.formatting import (
    ACTION_PAST,
    clock_time,
    cut,
    escape,
    status_label,
    status_word,
    status_words,
)

_LABEL_OF: Final = {Action.COMPLETE: "Complete", Action.ABORT: "Abort"}


def refusal_text(
    action: Action,
    slot_id: str,
    *,
    code: str,
    detail: str,
    slot: Slot | None,
) -> str:
    """Why the calendar refused `/slot <action>`, and what would work instead."""
    allowed = status_words(TRANSITIONS[action].allowed_from)
    if code == "agent_busy":
        owner = slot.agent_id if slot else "the agent"
        return (
            f"Cannot {action.value} slot `{slot_id}`: {owner} already holds another ongoing "
            "or paused slot. End that one first."
        )
    if code == "version_mismatch":
        return (
            f"Slot `{slot_id}` changed while this was being done; nothing was changed. "
            "Look at `/schedule` and try again."
        )
    if slot is not None:
        return (
            f"Cannot {action.value} slot `{slot_id}`: it is {status_label(slot.status)}, and "
            f"`{action.value}` works only on {allowed} slots."
        )
    return f"Cannot {action.value} slot `{slot_id}`: {cut(detail, 300)}"


def slot_change_notice(
    slot: Slot,
    action: Action,
    person: str,
    *,
    note: str | None,
    tz: ZoneInfo,
    via: str | None = None,
) -> str:
    """The announcement in the agent's wake channel (no mentions: agents read bot messages).

    `via` is how the person did it: `/slot complete` by default, or e.g. "button".
    """
    title = escape(slot.title or slot.slot_type, 100)
    if via == "button":
        verb = f"pressed the {_LABEL_OF.get(action, action.value)} button"
    else:
        verb = f"used `{via or f'/slot {action.value}'}`"
    text = (
        f"📣 **{escape(person, 60)}** {verb} on this slot "
        f"(`{slot.id}` — {title}): it is now {status_label(slot.status)}."
    )
    if action is Action.DEFER:
        text += f" Rescheduled for {clock_time(slot.scheduled_at, tz)} ({tz.key})."
    follow = {
        Action.COMPLETE: "No more work is needed on it.",
        Action.ABORT: "Please stop working on it.",
        Action.PAUSE: "Please pause until it is resumed.",
        Action.RESUME: "Please carry on.",
    }.get(action)
    if follow:
        text += f" {follow}"
    if note:
        text += f"\nNote: {' '.join(note.split())}"
    return cut(text, MESSAGE_LIMIT)


def slot_change_reply(slot: Slot, action: Action, tz: ZoneInfo, *, announced_in: str | None) -> str:
    """What the person who ran `/slot` sees."""
    title = escape(slot.title or slot.slot_type, 100)
    text = (
        f"Slot `{slot.id}` ({title}) of {slot.agent_id} {ACTION_PAST[action]}: "
        f"now {status_label(slot.status)}."
    )
    if action is Action.DEFER:
        text += f" Scheduled at {clock_time(slot.scheduled_at, tz)} ({tz.key})."
    return cut(text + where_announced(announced_in), MESSAGE_LIMIT)


def where_announced(announced_in: str | None) -> str:
    """The line telling the person whether (and where) the agent was told of a change."""
    if announced_in:
        return f"\nAnnounced in {announced_in}."
    return "\nNot announced: the slot has no wake channel (it was not woken on Discord)."


def slot_choice(slot: Slot, tz: ZoneInfo, today: date | None = None) -> tuple[str, str]:
    """An autocomplete choice for a slot id: (label for people, the id)."""
    title = " ".join((slot.title or slot.slot_type).split())
    label = (
        f"{slot.agent_id} {clock_time(slot.scheduled_at, tz, today)} "
        f"{status_word(slot.status)} · {title}"
    )
    prefix = f"[{slot.id[:8]}] "
    return cut(prefix + label, CHOICE_NAME_LIMIT), slot.id
