"""`/history` on Discord: what ended lately, one embed per page, each within Discord's limits.

Every entry says when the slot ended, how late it was woken (`started_at` -
`scheduled_at`), how long it ran (`ended_at` - `started_at`) and its note: the
slots' own times, so the answer is the same whichever moderator asks. Pages
are cut by entry count and by characters, so a page of long titles and notes
still fits one embed; `finish_embed` is the last guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from bot.core.history import HISTORY_DAYS_MAX, HISTORY_DAYS_MIN
from bot.core.models import Slot
from bot.presenters.discord_embed import COLOR_INFO, EmbedSpec, finish_embed
from bot.presenters.formatting import coarse_span, cut, escape, one_line, status_label

#: At most this many slots on a page: a page is read at a glance.
PAGE_ENTRIES: Final = 10
#: A page's description stays under this (Discord allows 4096, and 6000 for the whole embed).
PAGE_CHARS: Final = 3500
#: Lateness under this reads "on time": the wake itself takes a moment.
ON_TIME_S: Final = 1.0
TITLE_CHARS: Final = 80
NOTE_CHARS: Final = 200


def days_refusal(value: int) -> str:
    return (
        f"`days` must be a whole number from {HISTORY_DAYS_MIN} to {HISTORY_DAYS_MAX} "
        f"(got {cut(str(value), 30)}); nothing was read."
    )


def _days(days: int) -> str:
    return "day" if days == 1 else f"{days} days"


def nothing_ended(who: str, days: int) -> str:
    return f"Nothing ended in the last {_days(days)} ({who})."


def _lateness(slot: Slot) -> str:
    if slot.started_at is None:
        return "never woken"
    late = (slot.started_at - slot.scheduled_at).total_seconds()
    if abs(late) < ON_TIME_S:
        return "woken on time"
    return f"woken {coarse_span(late)} {'late' if late > 0 else 'early'}"


def entry_text(slot: Slot, tz: ZoneInfo) -> str:
    """One ended slot in two lines: what and when it ended, then lateness, run time and note."""
    ended = slot.ended_at or slot.updated_at
    title = escape(slot.title or slot.slot_type, TITLE_CHARS)
    slot_id = cut(slot.id.replace("`", "'"), 40)
    head = (
        f"{status_label(slot.status)} {ended.astimezone(tz):%a %Y-%m-%d %H:%M} · "
        f"{slot.agent_id} · **{title}** (`{slot_id}`)"
    )
    facts = [_lateness(slot)]
    if slot.started_at is not None:
        facts.append(f"ran {coarse_span((ended - slot.started_at).total_seconds())}")
    if slot.note and slot.note.strip():
        facts.append(f"note: {escape(one_line(slot.note, NOTE_CHARS), NOTE_CHARS)}")
    return f"{head}\n↳ {' · '.join(facts)}"


def _pack(entries: Sequence[str]) -> list[list[str]]:
    pages: list[list[str]] = []
    page: list[str] = []
    size = 0
    for entry in entries:
        if page and (len(page) >= PAGE_ENTRIES or size + len(entry) + 2 > PAGE_CHARS):
            pages.append(page)
            page, size = [], 0
        page.append(entry)
        size += len(entry) + 2
    if page:
        pages.append(page)
    return pages


def history_pages(
    slots: Sequence[Slot], tz: ZoneInfo, who: str, days: int, now: datetime
) -> list[EmbedSpec]:
    """The pages of `/history`, newest first as given; none when nothing ended."""
    packed = _pack([entry_text(slot, tz) for slot in slots])
    title = f"History of {who}: the last {_days(days)}"
    stamp = f"{now.astimezone(tz):%Y-%m-%d %H:%M}"
    return [
        finish_embed(
            EmbedSpec(
                title=title,
                description="\n\n".join(page),
                footer=(
                    f"Page {number} of {len(packed)} · {len(slots)} ended · "
                    f"times in {tz.key}, as of {stamp}"
                ),
                color=COLOR_INFO,
            )
        )
        for number, page in enumerate(packed, start=1)
    ]
