"""One agent's scheduler: the state machine that syncs, checks, claims and wakes (DESIGN §4).

`AgentScheduler` is the heart of the product and knows nothing of Discord: it
takes a `Calendar`, a `StateStore`, a `Waker` and a `Clock`. The `Moderator`
owns one per configured agent and is what the glue calls; nothing outside the
core should need this module directly.

The scheduler orders the work and owns the two paths every change takes; its
small collaborators hold one concern each:

* `transition` is the one way a slot is moved (a check's defer, claim, release,
  recovery, stuck abort and misfire abort; a reply's or a command's action):
  the calendar's answer is caught once and comes back as an `Outcome`;
* `react` applies the consequences of every change learnt about a slot (a sync,
  a transition's answer, a heartbeat): a NOT_STARTED slot first seen later
  than `MISFIRE_GRACE_S` is aborted; an ended slot's channel is marked for
  retention before `SlotEnded` goes out; a busy<->idle change heartbeats at
  once, and on idle clears the session deferrals and asks for a check at once;
* `Syncer` (syncing.py) pulls the day; `Checker` (check.py) is the check;
  `Claims` (claims.py) claims, wakes, gives back and recovers; `StuckWatch`
  (stuck.py) nudges and aborts silent slots; `Backoff` (backoff.py) holds the
  retries; `AgentTimer` (timer.py) fires the check at the right moment; the
  rules themselves are pure functions in rules.py.

Operations on one agent are serialised by a lock; events are delivered by
`_after`, outside the lock, in the order they happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.agents import AgentConfig
from bot.core.backoff import Backoff
from bot.core.cache import ScheduleCache, SlotChange
from bot.core.calendar import Calendar, CalendarError, SlotNotFound, TransitionConflict
from bot.core.check import Checker
from bot.core.claims import Claims
from bot.core.clock import Clock
from bot.core.events import (
    E,
    Event,
    EventBus,
    HeartbeatSent,
    SlotTransitioned,
)
from bot.core.follow import ChangeFollower
from bot.core.models import AgentHeartbeat, HeartbeatStatus, Slot
from bot.core.moves import Applied, Missing, Move, Outcome, Refused, Trouble
from bot.core.quiet import QuietMemo
from bot.core.reactions import Reactions
from bot.core.state import StateStore, SyncRecord, WakeEntry
from bot.core.state_health import StateHealth
from bot.core.status import AgentSnapshot, build_snapshot
from bot.core.stuck import StuckWatch
from bot.core.syncing import Syncer
from bot.core.timer import AgentTimer
from bot.core.waker import SlotNotifier, Waker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """The settings every agent's scheduler shares (from DESIGN §8 plus retry tuning)."""

    timezone: ZoneInfo
    check_interval_s: float = 30.0
    misfire_grace_s: float | None = None
    wake_template: str = "{title}\n{prompt}"
    precise_timer: bool = True
    wake_retry_base_s: float = 15.0
    wake_retry_max_s: float = 900.0


class AgentScheduler:
    """The scheduler of one agent; built and driven by `Moderator`.

    The glue's surface is the lifecycle, the public operations and the reading
    methods. The parts it holds (calendar, state, cache, backoff, ...) and the
    shared steps (`transition`, `fold`, `heartbeat`, `publish`, `persist`) are
    there for its collaborators, which run under its lock.
    """

    def __init__(
        self,
        agent: AgentConfig,
        *,
        calendar: Calendar,
        state: StateStore,
        waker: Waker,
        clock: Clock,
        config: SchedulerConfig,
        notifier: SlotNotifier | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.agent = agent
        self.agent_id = agent.id
        self.calendar = calendar
        self.state = state
        self.waker = waker
        self.clock = clock
        self.config = config
        self.tz = config.timezone
        self.notifier = notifier
        self._events = events if events is not None else EventBus()
        self.cache = ScheduleCache(agent.id, config.timezone)
        self._lock = asyncio.Lock()
        #: Slot ids deferred in the current busy session (persisted).
        self.deferred: set[str] = set()
        self._hb_sent: HeartbeatStatus | None = None
        #: When the calendar last took this agent's heartbeat (alone or in the batch).
        self.heartbeat_at: datetime | None = None
        #: Set when a change calls for a check at once (the agent went idle).
        self.check_soon = False
        #: While a claimed slot is being woken, a busy heartbeat waits until after the wake
        #: (see `Claims`): the agent is told first, the calendar's liveness view a moment later.
        self.heartbeat_held = False
        self.heartbeat_owed = False
        self.state_health = StateHealth()
        self.backoff = Backoff(
            agent.id,
            check_interval_s=config.check_interval_s,
            wake_base_s=config.wake_retry_base_s,
            wake_max_s=config.wake_retry_max_s,
        )
        self.syncer = Syncer(self)
        self.claims = Claims(self)
        self.stuck = StuckWatch(self)
        self.checker = Checker(self)
        self.reactions = Reactions(self)
        self.timer = AgentTimer(
            agent.id,
            clock=clock,
            interval_s=config.check_interval_s,
            enabled=config.precise_timer,
            next_wakeup=self.next_wakeup,
            fire=self.run_check,
        )
        #: Syncs at once when the calendar says this agent's slots changed (DESIGN §4.1).
        self.follower = ChangeFollower(agent.id, partial(self.run_sync, heartbeat=False))
        #: Events of the operation in progress, delivered by `_after` outside the lock.
        self._outbox: list[Event] = []
        #: `Checker.quiet_until` remembered, forgotten after every operation (`_after`).
        self.quiet_memo = QuietMemo()

    # ==== lifecycle =======================================================

    def load(self, deferrals: Iterable[str], last_sync: SyncRecord | None) -> None:
        """Take back what the state file remembers for this agent."""
        self.deferred = set(deferrals)
        self.syncer.load(last_sync)
        self.forget_quiet()

    def adopt_unfinished(self, entries: Iterable[WakeEntry]) -> None:
        """Ledger entries with an intent and no result, left by a previous run: the first
        check settles them (`Claims.resolve`) before it claims anything new."""
        self.claims.adopt(entries)
        self.forget_quiet()

    def start_timer(self) -> None:
        self.timer.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop the timer; an in-flight check (a wake) may finish within `grace_s` real seconds."""
        await asyncio.gather(self.timer.stop(grace_s), self.follower.stop(grace_s))

    @property
    def quiet(self) -> bool:
        """No background work in flight: the timer (if any) is parked, no news being synced."""
        return self.timer.quiet and self.follower.quiet

    # ==== the public operations =============================================

    async def run_sync(self, *, heartbeat: bool = True) -> bool:
        """Pull today's day (ETag; 304 = nothing to merge) and heartbeat; False on failure.

        A sync for news of a change skips the heartbeat: nothing about the agent
        changed, and the periodic sync keeps its liveness fresh.
        """
        async with self._lock:
            ok = await self.syncer.sync(self.clock.now(), heartbeat=heartbeat)
        await self._after()
        return ok

    async def run_check(self, now: datetime | None = None) -> None:
        """The DESIGN §4 check; calendar trouble is recorded and retried, never raised."""
        moment = now or self.clock.now()
        async with self._lock:
            try:
                await self.checker.run(moment)
            except Exception:
                # Unexpected (a bug, a malformed answer): log it and back off a whole
                # interval, so a repeating failure cannot spin the timer.
                log.exception("agent %s: check failed", self.agent_id)
                self.backoff.hold_for_interval(moment)
        await self._after()

    async def apply_action(self, move: Move, source: str) -> Slot:
        """A reply or a command moves a slot; refusals propagate for the caller to explain."""
        slot_id, action = move.slot_id, move.action
        async with self._lock:
            now = self.clock.now()
            was_active = self.cache.active_slot()
            outcome = await self.transition(move, now, missing_ok=True)
            if isinstance(outcome, Missing):
                gone = self.cache.remove(slot_id)
                if gone is not None:
                    await self.reactions.react([SlotChange(gone, None)], was_active, now)
            if not isinstance(outcome, Applied):
                raise outcome.exc
            result = outcome.slot
            self.publish(
                SlotTransitioned,
                slot_id=slot_id,
                action=action,
                source=source,
                status=result.status,
            )
            if result.status.is_active:
                await self.stuck.touch(slot_id, now)
            await self.fold([result], was_active, now)
        await self._after()
        return result

    async def record_progress(self, slot_id: str, note: str | None = None) -> bool:
        """The agent said something that is not a command: the slot is alive.

        False (and nothing recorded) when the slot is not one the agent holds.
        """
        async with self._lock:
            held = self.cache.get(slot_id)
            if held is None or not held.status.is_active:
                log.info("agent %s: progress on %s, which it does not hold", self.agent_id, slot_id)
                return False
            await self.stuck.touch(slot_id, self.clock.now())
        await self._after()
        return True

    # ==== every transition ====================================================

    async def transition(
        self,
        move: Move,
        now: datetime,
        *,
        check: bool = False,
        claim: bool = False,
        missing_ok: bool = False,
    ) -> Outcome:
        """Move a slot on the calendar; the one place its answers are caught.

        A refusal's slot (as it is now) is folded in before returning. `check`: the
        call is a check's own, so an answer counts for the check and a failure is
        recorded as calendar trouble under `what` (with the claim streak when
        `claim`). A 404 is `Missing` only when `missing_ok`, else trouble.
        """
        was_active = self.cache.active_slot()
        try:
            result = await self.calendar.transition(
                move.slot_id,
                move.action,
                agent_id=self.agent_id,
                expected_version=move.version,
                note=move.note,
                until=move.until,
                idempotency_key=move.key,
            )
        except TransitionConflict as exc:
            if check:
                self.backoff.answered()
            log.info(
                "agent %s: %s of slot %s refused (%s): %s",
                self.agent_id,
                move.what,
                move.slot_id,
                exc.code,
                exc.detail,
            )
            if exc.slot is not None:
                await self.fold([exc.slot], was_active, now)
            return Refused(exc)
        except CalendarError as exc:
            if missing_ok and isinstance(exc, SlotNotFound):
                return Missing(exc)
            if check:
                self.backoff.trouble(now, f"{move.what} {move.slot_id}", exc, claim=claim)
            return Trouble(exc)
        if check:
            self.backoff.answered()
        return Applied(result, was_active)

    # ==== reacting to change =================================================

    async def fold(self, slots: Iterable[Slot], was_active: Slot | None, now: datetime) -> None:
        """Fold slots the calendar answered into the cache and react to what moved."""
        await self.reactions.react(self.cache.put_many(slots), was_active, now)

    async def clear_deferrals(self) -> None:
        self.deferred.clear()
        await self.persist(self.state.clear_deferrals(self.agent_id))

    def heartbeat_entry(self) -> AgentHeartbeat:
        """What the calendar should be told of this agent now: idle, or busy with its slot."""
        active = self.cache.active_slot()
        return AgentHeartbeat(
            agent_id=self.agent_id,
            status=HeartbeatStatus.BUSY if active is not None else HeartbeatStatus.IDLE,
            current_slot_id=active.id if active is not None else None,
        )

    async def heartbeat(self, *, force: bool) -> list[Slot]:
        """Tell the calendar idle/busy; answers the due slots it returned (empty on failure)."""
        entry = self.heartbeat_entry()
        if not force and entry.status is self._hb_sent:
            return []
        try:
            due = await self.calendar.heartbeat(self.agent_id, entry.status, entry.current_slot_id)
        except CalendarError as exc:
            self.heartbeat_lost(exc)
            return []
        self._heartbeat_told(entry)
        return due

    def heartbeat_lost(self, exc: CalendarError) -> None:
        """A heartbeat (its own or the batch's) failed: the next check sends idle again."""
        self._hb_sent = None
        log.warning("agent %s: heartbeat failed: %s", self.agent_id, exc.detail)

    async def run_heartbeat(
        self, sent: AgentHeartbeat | None = None, due: Sequence[Slot] = ()
    ) -> None:
        """A heartbeat outside a sync: on its own, or (`sent`, `due`) this agent's part of the
        batch that told the calendar of every agent at once. The agent may have gone busy or
        idle while the batch flew (it holds no agent's lock), so an entry that no longer
        holds is sent again on its own and the calendar ends up right."""
        async with self._lock:
            answered = list(due)
            if sent is not None and self.heartbeat_entry() == sent:
                self._heartbeat_told(sent)
            else:
                answered += await self.heartbeat(force=True)
            if answered:
                await self.fold(answered, self.cache.active_slot(), self.clock.now())
        await self._after()

    def _heartbeat_told(self, entry: AgentHeartbeat) -> None:
        self._hb_sent = entry.status
        self.heartbeat_at = self.clock.now()
        self.publish(HeartbeatSent, status=entry.status, slot_id=entry.current_slot_id)

    # ==== after each operation ===============================================

    async def _after(self) -> None:
        """Outside the lock: deliver the operation's events in order, then re-arm the timer."""
        self.forget_quiet()
        while self._outbox:
            batch, self._outbox = self._outbox, []
            for event in batch:
                await self._events.publish(event)
        self.forget_quiet()
        self.timer.rearm()

    async def persist(self, write: Awaitable[object]) -> None:
        """State writes that must not stop the scheduling: failures are logged and kept."""
        await self.state_health.guard(write, self.clock.now(), self.agent_id)

    def publish(self, kind: type[E], **fields: Any) -> None:
        """Queue an event of this agent, stamped now; `_after` delivers it."""
        self._outbox.append(kind(at=self.clock.now(), agent_id=self.agent_id, **fields))

    # ==== reading ===============================================================

    def next_wakeup(self, now: datetime) -> datetime:
        """When this agent next needs a check, uncapped (the timer caps it)."""
        return self.checker.next_wakeup(now)

    def needs_attention(self, now: datetime, ts: float | None = None) -> bool:
        """Cheap, no I/O: whether a loop tick should run this agent's check (`QuietMemo`;
        `ts` is `now`'s timestamp, worked out once per tick)."""
        return self.quiet_memo.needs_attention(now, ts, self.checker.quiet_until)

    def forget_quiet(self) -> None:
        self.quiet_memo.forget()

    def snapshot(self, now: datetime) -> AgentSnapshot:
        return build_snapshot(self, now)
