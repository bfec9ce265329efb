"""What the glue reads about the scheduling core: per-agent snapshots, and their vitals.

`/status`, `check-config` and the demo print these; they are frozen so a cog
can hold one across an `await` without seeing it change under it. Nothing here
does I/O: `Moderator.status()` builds a snapshot from memory in microseconds.
Health checks and metrics scrapes read every agent, often: they take `AgentVitals`,
which look up no slot (at 10,000 agents a scrape of snapshots held the loop ~0.2 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.core.models import Slot, SlotStatus
from bot.core.rules import pick, undeferred
from bot.core.waker import WakeResult

if TYPE_CHECKING:
    from bot.core.agent import AgentScheduler


class AgentActivity(StrEnum):
    IDLE = "idle"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class CurrentSlot:
    """The slot the agent holds (ONGOING or PAUSED)."""

    id: str
    title: str
    status: SlotStatus
    #: Where it was woken (a channel id for Discord, a wake id for spawn), if we woke it.
    reference: str | None
    #: Silent for 2 x its estimated duration: nudged, and aborted at 4 x.
    overdue: bool
    last_activity_at: datetime | None


@dataclass(frozen=True, slots=True)
class NextSlot:
    """The slot an agent is woken for next, as `/status` shows it (on any shard)."""

    id: str
    title: str
    priority: int
    at: datetime

    @classmethod
    def of(cls, slot: Slot | None) -> NextSlot | None:
        if slot is None:
            return None
        return cls(id=slot.id, title=slot.title, priority=slot.priority, at=slot.scheduled_at)


@dataclass(frozen=True, slots=True)
class WakeInfo:
    """The last wake attempt of an agent: when, for which slot, and the waker's answer.

    `result.attempts` lists each waker the chain tried, in order, as "name: ok" or
    "name: why it failed" (e.g. "discord: missing Manage Channels"), so a fallback
    that worked still shows why the first choice did not.
    """

    at: datetime
    slot_id: str
    result: WakeResult


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    agent_id: str
    as_of: datetime
    state: AgentActivity
    current: CurrentSlot | None
    #: The next pending slot (may be due already while the agent is busy).
    next_due: NextSlot | None
    last_sync_at: datetime | None
    last_sync_age_s: float | None
    last_sync_error: str | None
    last_sync_error_at: datetime | None
    consecutive_sync_failures: int
    #: NOT_STARTED + DEFERRED slots held for the agent.
    pending_count: int
    #: Of those, the ones in DEFERRED status.
    deferred_count: int
    #: Slots deferred in this busy session (not offered again until it ends).
    session_deferred_count: int
    last_wake: WakeInfo | None
    consecutive_wake_failures: int
    wake_retry_at: datetime | None
    #: The calendar failing a check's own calls (agent status, claim, defer, release,
    #: recovery), which a good sync does not show; cleared when a check gets through.
    last_calendar_error: str | None = None
    last_calendar_error_at: datetime | None = None
    #: The state file refusing this agent's writes (a wake intent cannot be written: nothing
    #: is claimed); cleared when a write goes through.
    last_state_error: str | None = None
    last_state_error_at: datetime | None = None

    @property
    def busy(self) -> bool:
        return self.state is AgentActivity.BUSY

    @property
    def healthy(self) -> bool:
        """Synced lately, checks reach the calendar, the state file takes writes, and the last
        wake (if any) worked."""
        return (
            self.consecutive_sync_failures == 0
            and self.last_sync_at is not None
            and self.consecutive_wake_failures == 0
            and self.last_calendar_error is None
            and self.last_state_error is None
        )


@dataclass(frozen=True, slots=True)
class AgentVitals:
    """What a health check or a metrics scrape needs of one agent."""

    agent_id: str
    state: AgentActivity
    #: None: it never synced.
    last_sync_age_s: float | None


def vitals_of(scheduler: AgentScheduler, now: datetime) -> AgentVitals:
    last_sync = scheduler.syncer.current_at
    return AgentVitals(
        agent_id=scheduler.agent_id,
        state=AgentActivity.BUSY if scheduler.cache.busy else AgentActivity.IDLE,
        last_sync_age_s=(now - last_sync).total_seconds() if last_sync else None,
    )


def build_snapshot(scheduler: AgentScheduler, now: datetime) -> AgentSnapshot:
    """What `/status` shows of one agent, from the scheduler's memory (no I/O)."""
    cache = scheduler.cache
    active = cache.active_slot()
    current: CurrentSlot | None = None
    if active is not None:
        track = scheduler.stuck.get(active.id)
        current = CurrentSlot(
            id=active.id,
            title=active.title,
            status=active.status,
            reference=track.reference if track else None,
            overdue=scheduler.stuck.overdue(active, now),
            last_activity_at=track.at if track else None,
        )
    pending = cache.get_due_slots(now)
    first = pick(undeferred(pending, scheduler.deferred) or pending)
    if first is None:
        upcoming = cache.next_due_at(after=now)
        if upcoming is not None:
            first = pick([s for s in cache.get_due_slots(upcoming) if s.scheduled_at == upcoming])
    next_due = NextSlot.of(first)
    sync, backoff = scheduler.syncer, scheduler.backoff
    vitals = vitals_of(scheduler, now)
    return AgentSnapshot(
        agent_id=scheduler.agent_id,
        as_of=now,
        state=vitals.state,
        current=current,
        next_due=next_due,
        last_sync_at=sync.current_at,
        last_sync_age_s=vitals.last_sync_age_s,
        last_sync_error=sync.last_error,
        last_sync_error_at=sync.last_error_at,
        consecutive_sync_failures=sync.failures,
        pending_count=cache.pending_count,
        deferred_count=cache.count(SlotStatus.DEFERRED),
        session_deferred_count=len(scheduler.deferred),
        last_wake=scheduler.claims.last_wake,
        consecutive_wake_failures=backoff.wake_failures,
        wake_retry_at=backoff.wake_retry_at,
        last_calendar_error=backoff.last_calendar_error,
        last_calendar_error_at=backoff.last_calendar_error_at,
        last_state_error=scheduler.state_health.last_error,
        last_state_error_at=scheduler.state_health.last_error_at,
    )
