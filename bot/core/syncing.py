"""One agent's sync: pull the day, refresh carried slots, heartbeat, remember how it went.

A sync merges the calendar's day into the cache (ETag; a 304 merges nothing),
asks for each slot carried from an earlier day (today's listing does not hold
them), and after a restart learns which slot the agent holds. The heartbeat
goes out in the same cycle even when the day call failed. A failed sync keeps
the cached schedule and is recorded (persisted) for `/status`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.cache import SlotChange, local_day
from bot.core.calendar import CalendarError, SlotNotFound
from bot.core.events import DayRolledOver, Synced, SyncFailed
from bot.core.state import SyncRecord

if TYPE_CHECKING:
    from bot.core.agent import AgentScheduler

log = logging.getLogger(__name__)


class Syncer:
    def __init__(self, host: AgentScheduler) -> None:
        self._host = host
        #: The last good read of the agent's day.
        self.last_ok_at: datetime | None = None
        #: When the cache was last known to match the calendar: a good read, or later a
        #: heartbeat answered while the calendar's changes reached us (`confirm`). What
        #: "synced" means to `/status` and `/healthz`: while the news flows the day is
        #: re-read only every `SAFETY_RESYNC_S`, and the cache is no staler for it.
        self.current_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.failures = 0
        self._synced_once = False

    def load(self, last_sync: SyncRecord | None) -> None:
        if last_sync is not None:
            self.last_ok_at = self.current_at = last_sync.last_ok_at
            self.failures = last_sync.consecutive_failures
            if not last_sync.ok:
                self.last_error = last_sync.error
                self.last_error_at = last_sync.attempt_at

    async def sync(self, now: datetime, *, full: bool = False, heartbeat: bool = True) -> bool:
        """Pull today's day (the ETag unless `full`) and heartbeat (when `heartbeat`);
        False on failure."""
        host = self._host
        cache = host.cache
        today = local_day(now, host.tz)
        if cache.day != today:
            previous = cache.day
            carried = cache.roll_to(today)
            if previous is not None:
                log.info(
                    "agent %s: day rollover %s -> %s, carrying %d slot(s)",
                    host.agent_id,
                    previous,
                    today,
                    len(carried),
                )
                host.publish(DayRolledOver, previous=previous, today=today, carried=len(carried))
        was_active = cache.active_slot()
        changes: list[SlotChange] = []
        error: str | None = None
        try:
            diff = await cache.sync(host.calendar, today, at=now, use_etag=not full)
            changes.extend(diff.changes())
            changes.extend(await self._refresh_carried())
            if not self._synced_once and cache.active_slot() is None:
                changes.extend(await self.learn_current_slot())
        except CalendarError as exc:
            error = f"{type(exc).__name__}: {exc.detail}"
        except Exception as exc:  # a broken answer must not look like a good sync
            log.exception("agent %s: sync failed unexpectedly", host.agent_id)
            error = f"{type(exc).__name__}: {exc}"
        # The heartbeat goes out in the same cycle, even when the day call failed. Its due
        # slots (earlier days' too) join the day's changes before anything reacts, so the
        # first check after the sync chooses among all of them (DESIGN §4's order).
        if heartbeat:
            changes.extend(cache.put_many(await host.heartbeat(force=True)))
        await host.reactions.react(changes, was_active, now)
        if error is None:
            self._synced_once = True
            self.last_ok_at = now
            self.failures = 0
            self.confirm(now)
            self.last_error = None
            host.publish(Synced, slot_count=len(cache))
            await host.persist(host.state.record_sync(host.agent_id, ok=True, at=now))
            return True
        self.failures += 1
        self.last_error = error
        self.last_error_at = now
        log.warning(
            "agent %s: sync failed (%d in a row), keeping the cached schedule: %s",
            host.agent_id,
            self.failures,
            error,
        )
        host.publish(SyncFailed, error=error)
        await host.persist(host.state.record_sync(host.agent_id, ok=False, error=error, at=now))
        return False

    def confirm(self, at: datetime) -> None:
        """The cache is known current at `at`, as of the last good read plus the news since;
        nothing to confirm while the last read failed or before the first one."""
        if self.last_ok_at is not None and self.failures == 0:
            self.current_at = at if self.current_at is None else max(self.current_at, at)

    async def _refresh_carried(self) -> list[SlotChange]:
        """Slots kept from earlier days are not in today's listing: ask for each."""
        host = self._host
        changes: list[SlotChange] = []
        for slot in host.cache.carried():
            try:
                fresh = await host.calendar.get_slot(slot.id, host.agent_id)
            except SlotNotFound:
                gone = host.cache.remove(slot.id)
                if gone is not None:
                    changes.append(SlotChange(gone, None))
                continue
            change = host.cache.put(fresh)
            if change is not None:
                changes.append(change)
        return changes

    async def learn_current_slot(self) -> list[SlotChange]:
        """Ask the calendar which slot the agent holds (after a restart or state loss)."""
        host = self._host
        status = await host.calendar.agent_status(host.agent_id)
        if status.current_slot_id is None:
            return []
        held = host.cache.get(status.current_slot_id)
        if held is not None and held.status.is_active:
            return []
        try:
            slot = await host.calendar.get_slot(status.current_slot_id, host.agent_id)
        except SlotNotFound:
            return []
        change = host.cache.put(slot)
        return [change] if change is not None else []
