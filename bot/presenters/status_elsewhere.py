"""`/status` wording for what this moderator does not schedule itself.

Agents of another shard, as the calendar has them (`CalendarAgentStatus`), and
how calendar changes reach the moderator (`FeedHealth`, DESIGN §4.1: while the
feed is down the periodic sync carries them, "and says so in /status").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.cache import local_day
from bot.core.models import Slot
from bot.core.shard_status import CalendarAgentStatus, FeedHealth
from bot.core.status import NextSlot
from bot.presenters.formatting import clock_time, coarse_span, cut, escape, relative, status_label


def shard_name(status: CalendarAgentStatus) -> str:
    return f"shard {status.shard}"


def elsewhere_lines(status: CalendarAgentStatus, tz: ZoneInfo) -> list[str]:
    """One agent of another shard: what the calendar says, and which shard to ask for more."""
    now = status.as_of
    today = local_day(now, tz)
    owner = shard_name(status)
    if status.error is not None:
        return [f"⚠️ scheduled by {owner}; the calendar could not be read: {cut(status.error, 200)}"]
    lines: list[str] = []
    cur = status.current
    if cur is None:
        lines.append(f"🟢 **idle** (scheduled by {owner})")
    else:
        lines.append(
            f"🟠 **busy** — {status_label(cur.status)}: {_slot(cur)} (scheduled by {owner})"
        )
    lines.append(next_line(status.next_due, now, tz))
    if status.pending_count:
        lines.append(f"Pending today: {status.pending_count}")
    beat = status.last_heartbeat_at
    lines.append(
        f"Last heartbeat: {clock_time(beat, tz, today)} ({relative(beat, now)})"
        if beat is not None
        else "Last heartbeat: none yet"
    )
    lines.append(f"From the calendar; syncs and wakes are in {owner}'s /metrics and logs")
    return lines


def _slot(slot: Slot) -> str:
    return named_slot(slot.title, slot.id)


def named_slot(title: str, slot_id: str) -> str:
    """A slot as `/status` names it, on any shard: its title in bold and its id to copy."""
    return f"**{escape(title) or '(untitled)'}** (`{slot_id}`)"


def next_line(nxt: NextSlot | None, now: datetime, tz: ZoneInfo) -> str:
    """The slot an agent is woken for next: due since when, or at what time (any shard's)."""
    if nxt is None:
        return "Next: nothing pending today"
    when = clock_time(nxt.at, tz, local_day(now, tz))
    timing = f"due since {when}" if nxt.at <= now else f"at {when}"
    slot = named_slot(nxt.title, nxt.id)
    return f"Next: {slot} {timing} ({relative(nxt.at, now)}) · prio {nxt.priority}"


def feed_line(feed: FeedHealth, now: datetime, tz: ZoneInfo, sync_interval_s: float) -> str:
    """ "changes: live", or why they wait for the periodic sync and how often it runs."""
    if feed.live:
        return "Calendar changes: live"
    every = f"syncing every {coarse_span(sync_interval_s)}"
    if feed.missing:
        return f"⚠️ Calendar changes: the calendar has no change feed (API 1), {every}"
    if feed.down_since is None:
        return f"⚠️ Calendar changes: the feed has not answered yet, {every}"
    since = clock_time(feed.down_since, tz, local_day(now, tz))
    return (
        f"⚠️ Calendar changes: feed down since {since} ({relative(feed.down_since, now)}), {every}"
    )
