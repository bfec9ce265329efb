"""What `/status` shows of agents another shard schedules, read from the calendar.

Shard 0 answers every slash command (DESIGN §11), but its moderator holds only
its own agents. The calendar is what every shard follows, so an agent of
another shard is shown as the calendar has it: the slot it holds (ONGOING or
PAUSED), the next pending one today, how many are pending, and its last
heartbeat. What only the owning shard knows (its syncs, wake attempts,
backoff) is not claimed here; the status names the shard to look at.

Also how calendar changes reach this moderator (`FeedHealth`, DESIGN §4.1):
the remote calendar client reports its change feed, and the moderator falls
back to the periodic sync while the feed is down, which `/status` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from bot.core.cache import local_day
from bot.core.calendar import Calendar, CalendarError
from bot.core.fanout import fan_out
from bot.core.models import Slot
from bot.core.rules import pick
from bot.core.shards import Shard, owner_of
from bot.core.status import NextSlot

#: At most this many agents are read at once, so a big fleet does not flood the calendar.
READ_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class CalendarAgentStatus:
    """An agent of another shard as the calendar has it at `as_of`."""

    agent_id: str
    #: The shard that schedules it.
    shard: Shard
    as_of: datetime
    #: The slot it holds (ONGOING or PAUSED), if any.
    current: Slot | None = None
    #: The pending slot it is woken for next today (may be due already).
    next_due: NextSlot | None = None
    pending_count: int = 0
    last_heartbeat_at: datetime | None = None
    #: The calendar could not be read; the rest is empty then.
    error: str | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None


async def calendar_status(
    calendar: Calendar, agent_id: str, shard: Shard, now: datetime, tz: ZoneInfo
) -> CalendarAgentStatus:
    """One agent's status from today's slots and its agent status (two reads)."""
    try:
        day = await calendar.get_day(agent_id, local_day(now, tz))
        seen = await calendar.agent_status(agent_id)
        slots = list(day.schedule.slots) if day.schedule is not None else []
        current = next((s for s in slots if s.status.is_active), None)
        if current is None and seen.current_slot_id is not None:
            # Held since an earlier day: not among today's slots.
            held = await calendar.get_slot(seen.current_slot_id, agent_id)
            current = held if held.status.is_active else None
    except CalendarError as exc:
        return CalendarAgentStatus(agent_id, shard, now, error=exc.detail)
    pending = [s for s in slots if s.status.is_pending]
    due = [s for s in pending if s.scheduled_at <= now]
    upcoming = sorted((s for s in pending if s.scheduled_at > now), key=lambda s: s.scheduled_at)
    next_due = pick(due) or (upcoming[0] if upcoming else None)
    return CalendarAgentStatus(
        agent_id,
        shard,
        now,
        current=current,
        next_due=NextSlot.of(next_due),
        pending_count=len(pending),
        last_heartbeat_at=seen.last_heartbeat_at,
    )


async def calendar_statuses(
    calendar: Calendar, agent_ids: Sequence[str], count: int, now: datetime, tz: ZoneInfo
) -> list[CalendarAgentStatus]:
    """`calendar_status` of each agent (of `count` shards), in the order given."""

    async def one(agent_id: str) -> CalendarAgentStatus:
        return await calendar_status(calendar, agent_id, owner_of(agent_id, count), now, tz)

    return await fan_out(agent_ids, one, READ_CONCURRENCY)


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """How calendar changes reach the moderator (DESIGN §4.1)."""

    #: Changes arrive at once (the feed answers, or the calendar is embedded).
    live: bool
    #: When the feed stopped answering (None while live, or before it first answered).
    down_since: datetime | None = None
    #: The calendar has no change feed at all (API 1): the periodic sync is all there is.
    missing: bool = False


#: What an embedded calendar's moderator has: every commit is told in-process.
IN_PROCESS = FeedHealth(live=True)


@runtime_checkable
class FeedReporter(Protocol):
    """A calendar followed through a change feed (the HTTP client) says how it goes."""

    @property
    def change_feed_health(self) -> FeedHealth: ...


def feed_health(calendar: object) -> FeedHealth:
    """The calendar's feed as `FeedHealth`; a calendar without a feed tells in-process."""
    if isinstance(calendar, FeedReporter):
        return calendar.change_feed_health
    return IN_PROCESS
