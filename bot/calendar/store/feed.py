"""The store's history read as the change feed's pages (`GET /calendar/changes`, DESIGN §4.1).

Every slot write adds a `slot_events` line in its own transaction and writers
to one file are serialised, so `seq` grows in commit order whichever process
(or server) wrote: `seq` itself is the feed's cursor, valid across restarts and
on every server of one file, and "the lines after it" never skip a change. The
history is never pruned, so the only cursors this store does not know are one
beyond its newest line (a file put back from a copy) and another store's: each
page names its store by a mark made from its first history line (`store_mark`,
fixed once the store has one; "0" while empty, which is "from the start"
anywhere), and a cursor given with another mark is answered `reset` too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from bot.calendar.store.dialect import Db
from bot.calendar.store.notify import LINE_SUBJECT, OF_SERIES
from bot.calendar.store.rows import from_us

#: History lines read for one page; a longer backlog is read in several pages.
PAGE_LINES = 500

_NEWEST = "SELECT COALESCE(MAX(seq), 0) FROM slot_events"
_FIRST = "SELECT slot_id, at_us FROM slot_events ORDER BY seq LIMIT 1"
#: The mark of a store with no history yet.
EMPTY_MARK = "0"
_PAGE = (
    f"SELECT e.seq, COALESCE(s.agent_id, r.agent_id), e.slot_id, {OF_SERIES}, s.series_id, "
    "s.scheduled_at_us, COALESCE(s.version, r.version), e.from_scheduled_at_us "
    f"FROM slot_events e {LINE_SUBJECT} "
    "WHERE e.seq > ? AND e.seq <= ? AND (? IS NULL OR COALESCE(s.agent_id, r.agent_id) = ?) "
    "ORDER BY e.seq LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class FeedChange:
    """One slot that changed after the cursor, as it is now.

    `days` are every day, in the calendar's zone, its changes in the page touched:
    the day it is on now, and the day each move took it from (DESIGN §4.1),
    sorted and without repeats. A line written before the store kept a move's old
    time names only the current day.
    """

    agent_id: str
    #: None for a write to the series itself (`series_id` names it; `days` is empty).
    slot_id: str | None
    series_id: str | None
    days: tuple[date, ...]
    version: int


@dataclass(frozen=True, slots=True)
class FeedPage:
    """What changed after a cursor, and the cursor to ask from next (in store `mark`)."""

    cursor: int
    reset: bool
    changes: tuple[FeedChange, ...]
    mark: str = EMPTY_MARK


async def store_mark(db: Db) -> str:
    """Which store this is, for its cursors: from its first history line (a ULID slot id
    and microseconds), so two stores never share one and a store keeps its own."""
    rows = list(await db.execute_fetchall(_FIRST))
    if not rows:
        return EMPTY_MARK
    slot_id, at_us = rows[0]
    return hashlib.sha256(f"{slot_id}/{at_us}".encode()).hexdigest()[:12]


async def read_page(
    db: Db, since: int | None, agent_id: str | None, tz: ZoneInfo, since_mark: str | None = None
) -> FeedPage:
    """The changes after `since` (of `agent_id` only, when given), at most `PAGE_LINES` lines.

    `since` None is "where are we now": the newest cursor, no changes. The newest
    line is read first and bounds the scan, so a commit landing between the two
    reads is left for the next page rather than half seen. `since_mark`, when
    given, is the store the cursor came from: another one's is a reset, except a
    store that was empty then (its cursor is "from the start" on any store).
    """
    newest = int(next(iter(await db.execute_fetchall(_NEWEST)))[0])
    mark = await store_mark(db)
    if since is None:
        return FeedPage(newest, False, (), mark)
    if since > newest or since_mark not in (None, mark, EMPTY_MARK):
        return FeedPage(newest, True, (), mark)
    rows = list(await db.execute_fetchall(_PAGE, (since, newest, agent_id, agent_id, PAGE_LINES)))
    cursor = int(rows[-1][0]) if len(rows) == PAGE_LINES else newest
    latest: dict[tuple[bool, str], FeedChange] = {}
    for _, owner, written_id, of_series, series_id, at_us, version, moved_from_us in rows:
        if owner is None:  # pragma: no cover - slots and series are never deleted
            continue
        key = (bool(of_series), str(written_id))
        earlier = latest.pop(key, None)  # keep the order of each one's last change
        if of_series:
            # A write to the series itself: its agent's days are read again (DESIGN §4.1).
            latest[key] = FeedChange(str(owner), None, str(written_id), (), int(version))
            continue
        days = {from_us(int(at_us), tz).date()}
        if moved_from_us is not None:
            days.add(from_us(int(moved_from_us), tz).date())
        if earlier is not None:
            days.update(earlier.days)
        latest[key] = FeedChange(
            agent_id=str(owner),
            slot_id=str(written_id),
            series_id=None if series_id is None else str(series_id),
            days=tuple(sorted(days)),
            version=int(version),
        )
    return FeedPage(cursor, False, tuple(latest.values()), mark)
