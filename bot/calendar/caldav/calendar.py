"""`CaldavCalendar`: the `Calendar` protocol over a CalDAV calendar home (DESIGN §10).

The CalDAV server is the truth; the moderator works from a local copy of it
(an embedded store: day views, ETags, heartbeats, series expansion and the
change notices are that store's own, unchanged) that polling keeps in step.
Every write goes to the server first, as a conditional PUT, and is copied
locally only once the server took it: a claim is won on the server, so two
moderators that overlap still wake nothing twice. Reads are the copy's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Unpack
from zoneinfo import ZoneInfo

from bot.calendar.caldav.dav import DavClient
from bot.calendar.caldav.ledger import Ledger
from bot.calendar.caldav.sync import CalendarCopy
from bot.calendar.caldav.writes import EventWriter
from bot.calendar.store.embedded import EmbeddedCalendar
from bot.calendar.store.schema import CALDAV_COPY
from bot.core import models
from bot.core.calendar import CalendarError, ChangeListener, DayResult, TransitionOptions
from bot.core.clock import Clock, SystemClock
from bot.core.fanout import fan_out
from bot.core.tasks import TaskGroup

log = logging.getLogger(__name__)

#: How often each collection is asked what changed (DESIGN §8 `CALDAV_POLL_S`).
DEFAULT_POLL_S = 15.0
#: Collections asked at the same time in one round (each its own connection to the server).
POLLS_AT_ONCE = 8
#: How long one request to the CalDAV server may take (seconds), as `DavClient`'s default.
DEFAULT_TIMEOUT_S = 10.0


class CaldavCalendar(EventWriter):
    """The calendar of `home_url`'s collections, one per agent, through a local copy."""

    def __init__(self, copy: CalendarCopy, agents: Sequence[str], clock: Clock, poll_s: float):
        super().__init__(copy)
        self._agents = list(agents)
        self._clock = clock
        self._poll_s = poll_s
        self._tasks = TaskGroup()
        self._polling_fails = False

    @classmethod
    async def open(
        cls,
        home_url: str,
        *,
        timezone: ZoneInfo,
        agents: Iterable[str] | None,
        username: str | None = None,
        password: str | None = None,
        copy_path: Path | None = None,
        clock: Clock | None = None,
        poll_s: float = DEFAULT_POLL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> CaldavCalendar:
        """Check the home, find or make each agent's collection, list them all, start polling.

        `copy_path` is where the local copy lives (a SQLite file, and its ledger beside it);
        None keeps both in memory (a restart then lists everything again). `agents` None
        takes every calendar collection of the home as an agent's (its path segment).
        `timeout_s` bounds each request to the server (answer read whole included)."""
        clock = clock or SystemClock()
        named = list(agents) if agents is not None else None
        dav = DavClient(home_url, username=username, password=password, timeout_s=timeout_s)
        try:
            await dav.check_home()
            mirror = await EmbeddedCalendar.open(
                copy_path or ":memory:",
                timezone=timezone,
                clock=clock,
                agents=named,
                kind=CALDAV_COPY,
            )
        except BaseException:
            await dav.close()
            raise
        ledger_path = None if copy_path is None else copy_path.with_suffix(".ledger.json")
        ledger = Ledger(ledger_path, clock.now())
        copy = CalendarCopy(dav, mirror, ledger, clock)
        calendar = cls(copy, [], clock, poll_s)
        try:
            calendar._agents = await copy.attach(named)
            await calendar.poll_all()
        except BaseException:
            await calendar.close()
            raise
        calendar._tasks.spawn(calendar._poll_loop(), name="caldav-poll")
        return calendar

    # ---- changes -------------------------------------------------------

    async def poll_all(self) -> None:
        """One poll of every agent's collection, `POLLS_AT_ONCE` at a time (a round over many
        agents stays short, so each calendar is asked about every `CALDAV_POLL_S`); a failure
        is raised after trying them all."""
        failure: CalendarError | None = None

        async def poll(agent_id: str) -> None:
            nonlocal failure
            try:
                await self.copy.poll(agent_id)
            except CalendarError as exc:
                failure = exc

        await fan_out(self._agents, poll, POLLS_AT_ONCE)
        self._polling_fails = failure is not None
        if failure is not None:
            raise failure

    async def _poll_loop(self) -> None:
        # A round starts `poll_s` after the last one started, not after it ended.
        next_round = self._clock.now() + timedelta(seconds=self._poll_s)
        while True:
            await self._clock.sleep(max(0.0, (next_round - self._clock.now()).total_seconds()))
            next_round = self._clock.now() + timedelta(seconds=self._poll_s)
            try:
                await self.poll_all()
            except CalendarError as exc:
                log.warning(
                    "CalDAV: polling failed, trying again in %.0f s: %s", self._poll_s, exc.detail
                )

    async def follow(self, listener: ChangeListener) -> Callable[[], None]:
        return await self.copy.mirror.changes.follow(listener)

    @property
    def change_feed_up(self) -> bool:
        """The last poll of every collection worked: what the app changes reaches the copy, and
        the copy tells its followers on every commit."""
        return not self._polling_fails

    # ---- reads: the copy's ---------------------------------------------

    @property
    def timezone(self) -> ZoneInfo:
        return self.copy.mirror.timezone

    async def get_day(self, agent_id: str, day: date, etag: str | None = None) -> DayResult:
        return await self.copy.mirror.get_day(agent_id, day, etag)

    async def heartbeat(
        self, agent_id: str, status: models.HeartbeatStatus, current_slot_id: str | None = None
    ) -> list[models.Slot]:
        return await self.copy.mirror.heartbeat(agent_id, status, current_slot_id)

    async def heartbeat_many(
        self, beats: Sequence[models.AgentHeartbeat]
    ) -> dict[str, list[models.Slot]]:
        return await self.copy.mirror.heartbeat_many(beats)

    async def agent_status(self, agent_id: str) -> models.AgentStatus:
        return await self.copy.mirror.agent_status(agent_id)

    async def get_slot(self, slot_id: str, agent_id: str | None = None) -> models.Slot:
        return await self.copy.mirror.get_slot(slot_id, agent_id)

    async def list_range(
        self, agent_id: str, start: datetime, end: datetime, status: models.SlotStatus | None = None
    ) -> list[models.Slot]:
        return await self.copy.mirror.list_range(agent_id, start, end, status)

    async def features(self) -> frozenset[str]:
        return await self.copy.mirror.features()

    async def get_series(self, series_id: str, agent_id: str | None = None) -> models.Series:
        return await self.copy.mirror.get_series(series_id, agent_id)

    async def list_series(self, agent_id: str | None = None) -> list[models.Series]:
        return await self.copy.mirror.list_series(agent_id)

    # ---- writes: the server first (EventWriter) ---------------------------

    async def transition(
        self, slot_id: str, action: models.Action, **options: Unpack[TransitionOptions]
    ) -> models.Slot:
        return await self.write_transition(slot_id, action, **options)

    async def edit_slot(
        self, slot_id: str, edit: models.SlotEdit, agent_id: str | None = None
    ) -> models.Slot:
        return await self.write_edit(slot_id, edit, agent_id)

    async def create_slot(self, new: models.SlotCreate, agent_id: str | None = None) -> models.Slot:
        return await self.write_new_slot(new, agent_id)

    async def create_series(
        self, new: models.SeriesCreate, agent_id: str | None = None
    ) -> models.Series:
        return await self.write_new_series(new, agent_id)

    async def edit_series(
        self, series_id: str, edit: models.SeriesEdit, agent_id: str | None = None
    ) -> models.Series:
        return await self.write_series_edit(series_id, edit, agent_id)

    async def end_series(self, series_id: str, agent_id: str | None = None) -> models.Series:
        return await self.write_series_end(series_id, agent_id)

    async def close(self) -> None:
        await self._tasks.cancel_all()
        await self.copy.dav.close()
        await self.copy.mirror.close()
