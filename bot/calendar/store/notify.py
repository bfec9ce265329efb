"""Telling listeners, right after a write commits, which agents' slots changed (DESIGN §4.1).

The store's history is the change log: every slot write adds a `slot_events`
line in its own transaction, and writers to one file are serialised (`BEGIN
IMMEDIATE`), so `seq` grows in commit order whichever process wrote. A scan of
the lines after the last `seq` seen therefore never skips a change and needs no
table of its own.

A write to a series itself (create, edit, end) touches no slot row for the
occurrences nobody changed on their own, so it adds one line of its own
(`record_series_change`: the series' id where a slot's would be, an action in
`SERIES_ACTIONS`): one line per series write, read by the same scan, so a
series made while the bot runs reaches its agent's moderator at once, from
this process or another.

Two things trigger a scan: our own commit (the store calls `committed` under
its write lock), and another connection's commit, which SQLite reports by a new
`PRAGMA data_version` on ours; that is polled every `POLL_INTERVAL_S` with one
tiny query (a `calendar add` from another process while the bot runs). Listeners
are synchronous and may only schedule work, so a slow listener never holds the
store's lock.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Literal

from bot.calendar.store.dialect import Db
from bot.core.calendar import CalendarError, ChangeListener, SlotChanged, tell_listeners
from bot.core.clock import Clock
from bot.core.models import SlotStatus
from bot.core.tasks import cancel_and_wait, log_task_end

log = logging.getLogger(__name__)

#: How often another process' commits are looked for (real seconds through the clock).
POLL_INTERVAL_S = 0.5
#: History lines read per query; a bigger backlog is read in several bounded steps.
SCAN_BATCH = 1000

SeriesAction = Literal["series_create", "series_edit", "series_end"]
#: The actions of a series' own lines; each stands for what its untouched occurrences become.
SERIES_ACTIONS: dict[SeriesAction, SlotStatus] = {
    "series_create": SlotStatus.NOT_STARTED,
    "series_edit": SlotStatus.NOT_STARTED,
    "series_end": SlotStatus.CANCELLED,
}
_SERIES_IN = ", ".join(f"'{action}'" for action in SERIES_ACTIONS)
#: Whether a history line `e` is a series' own (its `slot_id` column names the series).
OF_SERIES = f"e.action IN ({_SERIES_IN})"
#: What a history line `e` is about: its slot `s`, or, for a series' own line, the series `r`;
#: the watch's scan and the change feed's pages read the lines alike.
LINE_SUBJECT = (
    f"LEFT JOIN slots s ON NOT {OF_SERIES} AND s.id = e.slot_id "
    f"LEFT JOIN series r ON {OF_SERIES} AND r.id = e.slot_id"
)
_SCAN = (
    f"SELECT e.seq, e.slot_id, {OF_SERIES} AS of_series, "
    f"COALESCE(s.agent_id, r.agent_id) AS agent_id FROM slot_events e {LINE_SUBJECT} "
    "WHERE e.seq > ? ORDER BY e.seq LIMIT ?"
)

#: How the watch gets the store's connection: under the store's lock, as its reads do.
Reader = Callable[[], AbstractAsyncContextManager[Db]]


class ChangeWatch:
    """The listeners of one store, the last history line they were told of, and the poller."""

    def __init__(self, clock: Clock, read: Reader, *, poll_interval_s: float = POLL_INTERVAL_S):
        self._clock = clock
        self._read = read
        self._poll_interval_s = poll_interval_s
        self._listeners: list[ChangeListener] = []
        self._last_seq = 0
        self._data_version: int | None = None
        self._poller: asyncio.Task[None] | None = None

    async def follow(self, listener: ChangeListener) -> Callable[[], None]:
        """`ChangeSource.follow`: changes committed after this returns reach `listener`."""
        async with self._read() as db:
            if not self._listeners:
                await self._baseline(db)
            self._listeners.append(listener)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_loop(), name="calendar-change-poll")
            self._poller.add_done_callback(log_task_end)

        def unfollow() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
            if not self._listeners and self._poller is not None:
                self._poller.cancel()

        return unfollow

    @property
    def change_feed_up(self) -> bool:
        """`ChangeSource.change_feed_up`: our commits are told at once; another process'
        are seen while the poller runs."""
        return bool(self._listeners) and self._poller is not None and not self._poller.done()

    async def _baseline(self, db: Db) -> None:
        """Where the first listener starts: the newest line, and the file's data version."""
        self._last_seq = await _max_seq(db)
        self._data_version = await _data_version(db)

    async def committed(self, db: Db) -> None:
        """Our own write just committed (the caller holds the store's lock)."""
        if not self._listeners:
            return
        try:
            self._deliver(await self._scan(db))
        except sqlite3.Error as exc:  # the write stands; the next scan catches up
            log.warning("calendar change scan after a commit failed: %s", exc)

    async def poll(self) -> None:
        """Look once for another connection's commits; the poller calls this."""
        async with self._read() as db:
            version = await _data_version(db)
            if version == self._data_version:
                return
            self._data_version = version
            changes = await self._scan(db)
        self._deliver(changes)

    async def stop(self) -> None:
        self._listeners.clear()
        poller, self._poller = self._poller, None
        await cancel_and_wait(poller)

    async def _poll_loop(self) -> None:
        while self._listeners:
            await self._clock.sleep(self._poll_interval_s)
            try:
                await self.poll()
            except CalendarError as exc:  # a closed or failing store: the sync still runs
                log.warning("calendar change poll failed: %s", exc.detail)

    async def _scan(self, db: Db) -> list[SlotChanged]:
        seen: dict[SlotChanged, None] = {}
        while True:
            rows = list(await db.execute_fetchall(_SCAN, (self._last_seq, SCAN_BATCH)))
            for seq, written_id, of_series, agent_id in rows:
                self._last_seq = max(self._last_seq, int(seq))
                if agent_id is None:  # pragma: no cover - slots and series are never deleted
                    continue
                change = (
                    SlotChanged(str(agent_id), None, series_id=str(written_id))
                    if of_series
                    else SlotChanged(str(agent_id), str(written_id))
                )
                seen[change] = None
            if len(rows) < SCAN_BATCH:
                return list(seen)

    def _deliver(self, changes: list[SlotChanged]) -> None:
        tell_listeners(self._listeners, changes)


async def _max_seq(db: Db) -> int:
    rows = list(await db.execute_fetchall("SELECT COALESCE(MAX(seq), 0) FROM slot_events"))
    return int(rows[0][0])


async def _data_version(db: Db) -> int:
    rows = list(await db.execute_fetchall("PRAGMA data_version"))
    return int(rows[0][0])


async def record_series_change(db: Db, series_id: str, action: SeriesAction, at_us: int) -> None:
    """The line that tells the watch a series changed, inside the caller's write transaction."""
    await db.execute(
        "INSERT INTO slot_events (slot_id, at_us, action, from_status, to_status, note) "
        "VALUES (?, ?, ?, NULL, ?, NULL)",
        (series_id, at_us, action, SERIES_ACTIONS[action].value),
    )
