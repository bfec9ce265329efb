"""Which slots ended lately (`/history`, DESIGN §7), read from the slots' own times.

The calendar lists slots by `scheduled_at`, but history is by `ended_at`: a
slot ends after it was due (woken late, ran long) or, when cancelled, before.
So the read covers a day more behind the asked window (a slot due just before
it that ended in it) and `AHEAD` in front (a slot of the coming weeks cancelled
in it), and the ended ones are then filtered and sorted by `ended_at`. A slot
that ran longer than a day past the window's start, or was cancelled more
than `AHEAD` before its time, is not found: the calendar offers no query by
`ended_at`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Final

from bot.core.calendar import Calendar
from bot.core.fanout import fan_out
from bot.core.models import Slot, SlotStatus

HISTORY_DAYS_MIN: Final = 1
HISTORY_DAYS_MAX: Final = 92
HISTORY_DAYS_DEFAULT: Final = 7
ENDED: Final = frozenset({SlotStatus.FINISHED, SlotStatus.ABORTED, SlotStatus.CANCELLED})
#: How far behind the asked window a slot may be due and still have ended in it.
BEHIND: Final = timedelta(days=1)
#: How far past now a slot may be due and already have ended (cancelled ahead of time).
AHEAD: Final = timedelta(days=31)
#: The widest range one `Calendar.list_range` call takes (DESIGN §3).
RANGE_MAX: Final = timedelta(days=92)
#: At most this many agents are read at once, so a big fleet does not flood the calendar.
READ_CONCURRENCY: Final = 16


def _ranges(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    while start < end:
        stop = min(start + RANGE_MAX, end)
        yield start, stop
        start = stop


async def ended_slots(
    calendar: Calendar, agent_ids: Sequence[str], now: datetime, days: int
) -> list[Slot]:
    """The agents' slots that reached a final status in the `days` days before `now`,
    newest end first (ties by id, so pages are stable)."""
    if not HISTORY_DAYS_MIN <= days <= HISTORY_DAYS_MAX:
        raise ValueError(f"days must be {HISTORY_DAYS_MIN}..{HISTORY_DAYS_MAX}, not {days}")
    since = now - timedelta(days=days)

    async def one(agent_id: str) -> list[Slot]:
        found: list[Slot] = []
        for start, end in _ranges(since - BEHIND, now + AHEAD):
            found.extend(await calendar.list_range(agent_id, start, end))
        return found

    batches = await fan_out(dict.fromkeys(agent_ids), one, READ_CONCURRENCY)
    ended = {
        slot.id: slot
        for batch in batches
        for slot in batch
        if slot.status in ENDED and slot.ended_at is not None and slot.ended_at >= since
    }
    return sorted(ended.values(), key=lambda s: (s.ended_at or since, s.id), reverse=True)
