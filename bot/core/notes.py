"""The words the core writes where people read them: calendar notes and nudges.

Kept apart from the rules so the wording can change without touching when
things happen, and so each text exists once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.models import Slot
from bot.core.rules import ABORT_FACTOR, due_since


def format_duration(span: timedelta) -> str:
    """A lateness or silence for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 1 h`."""
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def action_note(source: str, note: str | None) -> str:
    """The calendar note of a reply's or a command's transition: who asked, and why."""
    return f"{source}: {note}" if note else source


def misfire_note(slot: Slot, now: datetime, tz: ZoneInfo, grace_s: float | None) -> str:
    since = due_since(slot)
    local = slot.scheduled_at.astimezone(tz).isoformat(timespec="minutes")
    moved = "" if since == slot.scheduled_at else ", planned or changed later"
    return (
        f"misfire: first seen {format_duration(now - since)} after it was due "
        f"({local}{moved}) (MISFIRE_GRACE_S={grace_s:g}); not woken, aborted"
    )


def stuck_abort_note(slot: Slot, silence: timedelta) -> str:
    return (
        f"no reply or progress for {format_duration(silence)} "
        f"({ABORT_FACTOR} x the estimated {slot.estimated_duration_min} min): "
        "aborted by the moderator"
    )


def nudge_text(slot: Slot, silence: timedelta) -> str:
    return (
        f"Nudge: no reply or progress on “{slot.title or slot.id}” for "
        f"{format_duration(silence)} (estimated {slot.estimated_duration_min} min). "
        "Reply DONE, PAUSE or ABORT, or post progress; at "
        f"{ABORT_FACTOR} x the estimate the slot is aborted."
    )
