"""The import call of `EmbeddedCalendar` (DESIGN §10), a mixin like `SeriesCalls`.

The connection, its lock, the clock and the agents are `EmbeddedCalendar`'s;
a whole file is one write transaction there (`imports` does the writing).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from zoneinfo import ZoneInfo

import aiosqlite

from bot.calendar.ics.outcome import ImportOutcome
from bot.calendar.store.imports import ImportedSeries, ImportedSlot, import_all
from bot.core.clock import Clock
from bot.core.validation import check_known_agent


class ImportCalls:
    """`import_batch`: one imported file, kept whole or not at all."""

    _tz: ZoneInfo
    _clock: Clock
    _agents: Collection[str] | None

    def _write(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def import_batch(
        self, agent_id: str, series: Sequence[ImportedSeries], slots: Sequence[ImportedSlot]
    ) -> ImportOutcome:
        """Write one file's events for `agent_id` in one transaction: all of them, or none."""
        check_known_agent(agent_id, self._agents)
        now = self._clock.now()
        async with self._write() as db:
            return await import_all(db, agent_id, series, slots, now=now, tz=self._tz)
