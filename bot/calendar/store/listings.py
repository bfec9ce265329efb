"""The embedded calendar's calls beyond the `Calendar` protocol, for the CLI, the server and tests.

`ListingCalls` is a mixin, like `SeriesCalls`: the connection, its lock and the
zone are `EmbeddedCalendar`'s; each call is one read there.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from bot.calendar.store.days import day_bounds
from bot.calendar.store.feed import FeedPage, read_page
from bot.calendar.store.rows import SLOT_COLUMNS, SlotEvent, readable_events, readable_slots
from bot.core.models import Slot
from bot.core.validation import check_day


class ListingCalls:
    """The change feed's pages, slot listings, agent ids and a slot's history."""

    _tz: ZoneInfo

    def _read(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def feed_page(
        self, since: int | None, agent_id: str | None = None, since_mark: str | None = None
    ) -> FeedPage:
        """The change feed's page after cursor `since` of store `since_mark` (`feed`, §4.1)."""
        async with self._read() as db:
            return await read_page(db, since, agent_id, self._tz, since_mark)

    async def list_slots(self, day: date | None = None, agent_id: str | None = None) -> list[Slot]:
        """Slots of every agent (or one), on one local day or all of them, by time then id."""
        clauses: list[str] = []
        params: list[Any] = []
        if day is not None:
            check_day(day)
            start, end = day_bounds(day, self._tz)
            clauses.append("scheduled_at_us >= ? AND scheduled_at_us < ?")
            params += [start, end]
        if agent_id is not None:
            clauses.append("agent_id = ?")
            params.append(agent_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                f"SELECT {SLOT_COLUMNS} FROM slots{where} ORDER BY scheduled_at_us, id", params
            )
        return readable_slots(rows, self._tz)

    async def agent_ids(self) -> list[str]:
        """Every agent the calendar knows, from its slots or its heartbeats."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT agent_id FROM slots UNION SELECT agent_id FROM heartbeats ORDER BY 1"
            )
        return [str(row[0]) for row in rows]

    async def slot_events(self, slot_id: str) -> list[SlotEvent]:
        """The slot's history, oldest first: every accepted change and its note."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT slot_id, at_us, action, from_status, to_status, note FROM slot_events "
                "WHERE slot_id = ? ORDER BY seq",
                (slot_id,),
            )
        return readable_events(rows, self._tz)
