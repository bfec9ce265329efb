"""Telling listeners of every commit to a PostgreSQL calendar, from any process (DESIGN §4.1).

Each write transaction sends `NOTIFY calendar_changes` (delivered at its commit);
one connection per process LISTENs, and every notification, every reconnect and a
safety poll every `SAFETY_POLL_S` trigger the same scan of `slot_events` after the
last `seq` seen as the SQLite watch does (`bot.calendar.store.notify`). A
notification carries nothing: it only says "scan now", so a lost one (a dropped
connection, a restart of the database) loses nothing; the scan after the
reconnect finds what it would have said.

The scan never skips a change committed out of order because there is no such
change: the store's writers take one advisory lock per database for the whole
write (`bot.calendar.pg.calendar`), so `seq` values become visible in the order
they were drawn.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from bot.calendar.pg.errors import describe
from bot.calendar.store.dialect import Db
from bot.calendar.store.notify import ChangeWatch, Reader
from bot.core.calendar import CalendarError
from bot.core.clock import Clock

log = logging.getLogger(__name__)

#: The channel every write notifies and every watch listens on.
CHANNEL = "calendar_changes"
#: Longest time between two scans with no notification at all (real seconds).
SAFETY_POLL_S = 5.0
#: Waits between reconnect attempts while the database is away (real seconds).
RECONNECT_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class PgChangeWatch(ChangeWatch):
    """`ChangeWatch` fed by LISTEN/NOTIFY instead of SQLite's `data_version`."""

    def __init__(self, clock: Clock, read: Reader, url: str) -> None:
        super().__init__(clock, read, poll_interval_s=SAFETY_POLL_S)
        self._url = url
        self._scanning = asyncio.Lock()
        #: Set once the LISTEN is in place (tests wait for it before writing elsewhere).
        self.listening = asyncio.Event()

    async def _baseline(self, db: Db) -> None:
        """Where the first listener starts: the newest line (no data version here)."""
        self.listening.clear()
        rows = list(await db.execute_fetchall("SELECT COALESCE(MAX(seq), 0) FROM slot_events"))
        self._last_seq = int(rows[0][0])

    async def committed(self, db: Db) -> None:
        """Our own write just committed: tell our listeners now, not at the notification."""
        if not self._listeners:
            return
        try:
            async with self._scanning:
                changes = await self._scan(db)
        except psycopg.Error as exc:  # the write stands; the notification's scan catches up
            log.warning("calendar change scan after a commit failed: %s", describe(exc, self._url))
            return
        self._deliver(changes)

    @property
    def change_feed_up(self) -> bool:
        """Up only while the LISTEN is in place: without it another process' commits are seen
        only by the scans of the reconnect waits, and the moderator's periodic sync (the
        safety net of DESIGN §4.1) must run meanwhile."""
        return super().change_feed_up and self.listening.is_set()

    async def poll(self) -> None:
        # The connection first, then the lock, as a committed write holds them (`committed`
        # runs on the write's own connection): the other order let writes holding every
        # pooled connection wait for a scan that waited for a connection.
        async with self._read() as db, self._scanning:
            changes = await self._scan(db)
        self._deliver(changes)

    async def _poll_loop(self) -> None:
        attempt = 0
        while self._listeners:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                if self.listening.is_set():  # it was up: a new drop starts at the first wait
                    attempt = 0
                self.listening.clear()
                wait = RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)]
                attempt += 1
                log.warning(
                    "calendar change feed lost its database connection (%s); again in %.1fs",
                    describe(exc, self._url),
                    wait,
                )
                await self._scan_while_away()
                await asyncio.sleep(wait)
            else:
                attempt = 0

    async def _scan_while_away(self) -> None:
        """A scan through the pool while the LISTEN is down: the pool may work when a new
        connection cannot be made (the server's slots taken), and changes keep arriving."""
        try:
            await self.poll()
        except CalendarError as exc:
            log.debug("calendar change scan while reconnecting failed: %s", exc.detail)

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=10)
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            while self._listeners:
                # Re-read after every (re)connect and after each notification or quiet spell.
                try:
                    await self.poll()
                except CalendarError as exc:  # the pool's trouble; the LISTEN says if it is ours
                    log.warning("calendar change scan failed: %s", exc.detail)
                async for _ in conn.notifies(timeout=self._poll_interval_s, stop_after=1):
                    pass
