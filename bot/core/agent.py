"""One agent's scheduler: sync, check, claim, wake, and the precise timer (DESIGN §4).

`AgentScheduler` is the heart of the product and knows nothing of Discord: it
takes a `Calendar`, a `StateStore`, a `Waker` and a `Clock`. The `Moderator`
(bot/moderator.py) owns one per configured agent and is what the glue calls;
nothing outside the core should need this module directly.

The rules, in the order a check applies them:

1. due = pending slots with `scheduled_at <= now` (from the cache's time index),
   minus those already deferred in this busy session;
2. busy by local knowledge (the cache holds an ONGOING/PAUSED slot) -> defer
   each once (calendar `defer`), remember it (persisted) and stop;
3. otherwise confirm with the calendar's agent status; busy -> defer likewise;
4. otherwise pick by priority desc, scheduled_at asc, id asc; write the ledger
   intent (with the version we expect and a fresh claim key), claim with
   `start` + `expected_version` + the claim key (409: someone else took it ->
   re-sync, no wake), wake through the waker and record the result. A wake
   that fails on every waker releases the slot (DEFERRED, not lost) and is
   retried with per-agent exponential backoff.

A claim whose answer never came (timeout, 5xx, a crash), and a claimed slot
whose wake never finished (a crash), are settled by sending the same `start`
again, same expected version and claim key: the calendar answers 200 only when
the slot is held by that very claim (landed now, or earlier and replayed), so
the slot is woken by us exactly when it is ours. Guessing from versions or
status is not enough: another moderator's claim moves the version exactly as
ours would, a late claim can land after any read, and a slot we claimed may
have been released and claimed by someone else while we were down.

Every change learnt about a slot (a sync, a transition's answer, a heartbeat)
goes through one place, `_react`, which applies the consequences: a NOT_STARTED
slot first seen later than `MISFIRE_GRACE_S` is aborted with a note; an ended
slot's channel is marked for retention and the glue is told; and a busy<->idle
change heartbeats at once, and on idle clears the session deferrals and asks
for a check at once.

Timing: one timer task per agent sleeps through the injected clock until the
next thing that needs it (a slot's time, a retry, a stuck-slot deadline,
midnight), never longer than `CHECK_INTERVAL_S` at once, and is cancelled and
restarted when something moves that time earlier. Operations on one agent are
serialised by a lock; callbacks to the glue run after the lock is released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.agents import AgentConfig
from bot.core.cache import ScheduleCache, SlotChange, local_day, selection_key
from bot.core.calendar import Calendar, CalendarError, SlotNotFound, TransitionConflict
from bot.core.clock import Clock
from bot.core.crashpoints import crash_point
from bot.core.events import (
    AgentWoken,
    ClaimConflict,
    DayRolledOver,
    E,
    Event,
    EventBus,
    HeartbeatSent,
    SlotClaimed,
    SlotDeferred,
    SlotEnded,
    SlotMisfired,
    SlotNudged,
    SlotReleased,
    SlotTransitioned,
    StuckSlotAborted,
    Synced,
    SyncFailed,
    WakeFailed,
    WakeRecovered,
)
from bot.core.models import Action, AgentState, HeartbeatStatus, Slot, SlotStatus
from bot.core.prompt import render_wake_prompt
from bot.core.state import StateError, StateStore, SyncRecord, WakeEntry
from bot.core.status import (
    AgentActivity,
    AgentSnapshot,
    CurrentSlot,
    NextSlot,
    WakeInfo,
)
from bot.core.waker import SlotNotifier, Waker, WakeResult

log = logging.getLogger(__name__)

#: A calendar error during a check waits at least this long before the next try.
CALENDAR_RETRY_BASE_S = 5.0
#: Nudge at this many times the estimated duration of silence, abort at the second.
NUDGE_FACTOR = 2
ABORT_FACTOR = 4
#: When a computed "due now" check would fire again at the very same instant, wait this long.
_SPIN_GUARD = timedelta(seconds=1)


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


def format_duration(span: timedelta) -> str:
    """A lateness or silence for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 1 h`."""
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def action_note(source: str, note: str | None) -> str:
    """The calendar note of a reply's or a command's transition: who asked, and why."""
    return f"{source}: {note}" if note else source


def next_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    """The next start of a `tz` day after `now`, in UTC (right across DST changes)."""
    tomorrow = local_day(now, tz) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(slots=True)
class _Activity:
    """What the stuck-slot rule knows about the slot the agent holds."""

    at: datetime
    nudged: bool = False
    reference: str | None = None


class AgentScheduler:
    """The scheduler of one agent; built and driven by `Moderator`."""

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
        self._calendar = calendar
        self._state = state
        self._waker = waker
        self._clock = clock
        self._cfg = config
        self._tz = config.timezone
        self._notifier = notifier
        self._events = events if events is not None else EventBus()
        self.cache = ScheduleCache(agent.id, config.timezone)
        self._lock = asyncio.Lock()
        #: Slot ids deferred in the current busy session (persisted).
        self.deferred: set[str] = set()
        self._hb_sent: HeartbeatStatus | None = None
        # sync
        self._last_sync_ok_at: datetime | None = None
        self._last_sync_error: str | None = None
        self._last_sync_error_at: datetime | None = None
        self._sync_failures = 0
        self._synced_once = False
        # wake
        self._last_wake: WakeInfo | None = None
        self._wake_failures = 0
        self._wake_retry_at: datetime | None = None
        # calendar trouble during checks
        #: Checks in trouble since the last one that got through; one call answering
        #: proves little when a later step of the same check fails (defer, claim).
        self._calendar_failures = 0
        #: Claims (first or re-sent) failing in a row; only a claim's 200 resets it.
        self._claim_failures = 0
        self._check_retry_at: datetime | None = None
        self._last_calendar_error: str | None = None
        self._last_calendar_error_at: datetime | None = None
        #: Within one check: whether the calendar failed, and whether it answered something.
        self._check_troubled = False
        self._check_answered = False
        # half-done work: intents to resolve, claims to give back
        self._unresolved: dict[str, WakeEntry] = {}
        self._pending_release: dict[str, tuple[int, WakeResult]] = {}
        # stuck-slot tracking of active slots
        self._activity: dict[str, _Activity] = {}
        # timer
        self._check_soon = False
        self._timer_task: asyncio.Task[None] | None = None
        self._sleeping_task: asyncio.Task[None] | None = None
        self._timer_target: datetime | None = None
        self._last_fire_at: datetime | None = None
        # bumped on every slot change; a "due now" check repeats at once only after a change
        self._generation = 0
        self._checked_generation = -1
        self._stopping = False
        #: Events of the operation in progress, delivered by `_after` outside the lock.
        self._outbox: list[Event] = []

    # ==== lifecycle =======================================================

    def load(self, deferrals: Iterable[str], last_sync: SyncRecord | None) -> None:
        """Take back what the state file remembers for this agent."""
        self.deferred = set(deferrals)
        if last_sync is not None:
            self._last_sync_ok_at = last_sync.last_ok_at
            self._sync_failures = last_sync.consecutive_failures
            if not last_sync.ok:
                self._last_sync_error = last_sync.error
                self._last_sync_error_at = last_sync.attempt_at

    def adopt_unfinished(self, entries: Iterable[WakeEntry]) -> None:
        """Ledger entries with an intent and no result, left by a previous run."""
        for entry in entries:
            self._unresolved[entry.slot_id] = entry

    async def recover(self) -> None:
        """Finish what a crash left between intent and result (see `_recover_one`)."""
        async with self._lock:
            await self._resolve_unfinished(self._clock.now())
        await self._after()

    def start_timer(self) -> None:
        if not self._cfg.precise_timer or self._stopping:
            return
        if self._timer_task is None or self._timer_task.done():
            self._spawn_timer()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop the timer; an in-flight check (a wake) may finish within `grace_s` real seconds."""
        self._stopping = True
        task = self._timer_task
        if task is None or task.done():
            return
        if self._sleeping_task is task:
            task.cancel()
        else:
            done, _ = await asyncio.wait({task}, timeout=grace_s)
            if not done:
                log.warning(
                    "agent %s: in-flight work did not finish in %gs", self.agent_id, grace_s
                )
                task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    @property
    def quiet(self) -> bool:
        """No background work in flight: the timer (if any) is parked on the clock."""
        task = self._timer_task
        return task is None or task.done() or self._sleeping_task is task

    # ==== the public operations =============================================

    async def run_sync(self) -> bool:
        """Pull today's day (ETag; 304 = nothing to merge) and heartbeat; False on failure."""
        async with self._lock:
            ok = await self._sync_locked(self._clock.now())
        await self._after()
        return ok

    async def run_check(self, now: datetime | None = None) -> None:
        """The DESIGN §4 check; calendar trouble is recorded and retried, never raised."""
        moment = now or self._clock.now()
        async with self._lock:
            try:
                await self._check_locked(moment)
            except Exception:
                # Unexpected (a bug, a malformed answer): log it and back off a whole
                # interval, so a repeating failure cannot spin the timer.
                log.exception("agent %s: check failed", self.agent_id)
                self._check_retry_at = moment + timedelta(seconds=self._cfg.check_interval_s)
        await self._after()

    async def apply_action(
        self,
        slot_id: str,
        action: Action,
        *,
        note: str | None = None,
        source: str = "moderator",
        until: datetime | None = None,
    ) -> Slot:
        """A reply or a command moves a slot; refusals propagate for the caller to explain."""
        async with self._lock:
            now = self._clock.now()
            was_active = self.cache.active_slot()
            try:
                result = await self._calendar.transition(
                    slot_id,
                    action,
                    agent_id=self.agent_id,
                    note=action_note(source, note),
                    until=until,
                )
            except TransitionConflict as exc:
                if exc.slot is not None:
                    await self._fold([exc.slot], was_active, now)
                raise
            except SlotNotFound:
                gone = self.cache.remove(slot_id)
                if gone is not None:
                    await self._react([SlotChange(gone, None)], was_active, now)
                raise
            self._publish(
                SlotTransitioned,
                slot_id=slot_id,
                action=action,
                source=source,
                status=result.status,
            )
            if result.status.is_active:
                await self._touch(slot_id, now)
            await self._fold([result], was_active, now)
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
            await self._touch(slot_id, self._clock.now())
        await self._after()
        return True

    # ==== sync ================================================================

    async def _sync_locked(self, now: datetime, *, full: bool = False) -> bool:
        today = local_day(now, self._tz)
        if self.cache.day != today:
            previous = self.cache.day
            carried = self.cache.roll_to(today)
            if previous is not None:
                log.info(
                    "agent %s: day rollover %s -> %s, carrying %d slot(s)",
                    self.agent_id,
                    previous,
                    today,
                    len(carried),
                )
                self._publish(DayRolledOver, previous=previous, today=today, carried=len(carried))
        was_active = self.cache.active_slot()
        changes: list[SlotChange] = []
        error: str | None = None
        try:
            diff = await self.cache.sync(self._calendar, today, at=now, use_etag=not full)
            changes.extend(diff.changes())
            changes.extend(await self._refresh_carried())
            if not self._synced_once and self.cache.active_slot() is None:
                changes.extend(await self._learn_current_slot())
        except CalendarError as exc:
            error = f"{type(exc).__name__}: {exc.detail}"
        except Exception as exc:  # a broken answer must not look like a good sync
            log.exception("agent %s: sync failed unexpectedly", self.agent_id)
            error = f"{type(exc).__name__}: {exc}"
        await self._react(changes, was_active, now)
        # The heartbeat goes out in the same cycle, even when the day call failed.
        due = await self._heartbeat(force=True)
        if due:
            await self._fold(due, self.cache.active_slot(), now)
        if error is None:
            self._synced_once = True
            self._last_sync_ok_at = now
            self._sync_failures = 0
            self._last_sync_error = None
            self._publish(Synced, slot_count=len(self.cache))
            await self._persist(self._state.record_sync(self.agent_id, ok=True, at=now))
            return True
        self._sync_failures += 1
        self._last_sync_error = error
        self._last_sync_error_at = now
        log.warning(
            "agent %s: sync failed (%d in a row), keeping the cached schedule: %s",
            self.agent_id,
            self._sync_failures,
            error,
        )
        self._publish(SyncFailed, error=error)
        await self._persist(self._state.record_sync(self.agent_id, ok=False, error=error, at=now))
        return False

    async def _refresh_carried(self) -> list[SlotChange]:
        """Slots kept from earlier days are not in today's listing: ask for each."""
        changes: list[SlotChange] = []
        for slot in self.cache.carried():
            try:
                fresh = await self._calendar.get_slot(slot.id, self.agent_id)
            except SlotNotFound:
                gone = self.cache.remove(slot.id)
                if gone is not None:
                    changes.append(SlotChange(gone, None))
                continue
            change = self.cache.put(fresh)
            if change is not None:
                changes.append(change)
        return changes

    async def _learn_current_slot(self) -> list[SlotChange]:
        """Ask the calendar which slot the agent holds (after a restart or state loss)."""
        status = await self._calendar.agent_status(self.agent_id)
        if status.current_slot_id is None:
            return []
        held = self.cache.get(status.current_slot_id)
        if held is not None and held.status.is_active:
            return []
        try:
            slot = await self._calendar.get_slot(status.current_slot_id, self.agent_id)
        except SlotNotFound:
            return []
        change = self.cache.put(slot)
        return [change] if change is not None else []

    # ==== check ===============================================================

    async def _check_locked(self, now: datetime) -> None:
        self._check_soon = False
        seen = self._generation
        self._check_troubled = self._check_answered = False
        try:
            await self._check_steps(now)
        finally:
            # what this check started from; its own changes earn one more look at once
            self._checked_generation = seen
            if self._check_answered and not self._check_troubled:
                # A check that reached the calendar and got all it asked for: the
                # trouble is over, for the backoff and for /status alike (a check
                # that asked nothing proves nothing).
                self._calendar_failures = 0
                self._last_calendar_error = None
                self._last_calendar_error_at = None

    async def _check_steps(self, now: datetime) -> None:
        if self.cache.day != local_day(now, self._tz):
            await self._sync_locked(now)
        if self._unresolved or self._pending_release:
            if self._blocked(now):
                return
            if not await self._resolve_unfinished(now):
                return
        await self._check_stuck(now)
        due_all = self.cache.get_due_slots(now)
        if not due_all:
            return
        due = [s for s in due_all if s.id not in self.deferred]
        active = self.cache.active_slot()
        if active is not None:
            if due and not self._calendar_blocked(now):
                await self._defer(due, now, f"agent busy with slot {active.id}")
            return
        if self._blocked(now):
            return
        if not due and not self.deferred:
            return
        await self._heartbeat(force=False)  # idle: sent only if the calendar was not told so
        try:
            status = await self._calendar.agent_status(self.agent_id)
        except CalendarError as exc:
            self._calendar_trouble(now, "agent status", exc)
            return
        self._calendar_answered()
        if status.status is AgentState.BUSY:
            if status.current_slot_id is not None:
                try:
                    learnt = await self._learn_current_slot()
                except CalendarError as exc:
                    self._calendar_trouble(now, "current slot", exc)
                    return
                await self._react(learnt, None, now)
            if due:
                holder = status.current_slot_id or "its heartbeat"
                await self._defer(due, now, f"the calendar says the agent is busy ({holder})")
            return
        if self.deferred:
            # Idle, confirmed: the busy session is over and its deferrals with it.
            await self._clear_deferrals()
        chosen = min(due_all, key=selection_key)
        await self._claim_and_wake(chosen, now)

    def _blocked(self, now: datetime) -> bool:
        return self._calendar_blocked(now) or (
            self._wake_retry_at is not None and now < self._wake_retry_at
        )

    def _calendar_blocked(self, now: datetime) -> bool:
        return self._check_retry_at is not None and now < self._check_retry_at

    def _calendar_answered(self) -> None:
        """The calendar answered a check's call (a refusal is an answer too)."""
        self._check_answered = True

    def _calendar_trouble(
        self, now: datetime, what: str, exc: CalendarError, *, claim: bool = False
    ) -> None:
        """Back off, and keep the error for /status until a check gets through again.

        A failed `claim` also counts against the claim streak, which only a claim
        that gets its 200 resets: a calendar that answers everything but claims
        is retried less and less often, not every few seconds forever.
        """
        self._check_troubled = True
        self._last_calendar_error = f"{what}: {type(exc).__name__}: {exc.detail}"
        self._last_calendar_error_at = now
        self._calendar_failures += 1
        if claim:
            self._claim_failures += 1
        streak = max(self._calendar_failures, self._claim_failures if claim else 0)
        delay = min(
            self._cfg.check_interval_s,
            CALENDAR_RETRY_BASE_S * 2 ** min(streak - 1, 10),
        )
        self._check_retry_at = now + timedelta(seconds=delay)
        log.warning(
            "agent %s: calendar failed during the check (%s): %s; next try in %gs",
            self.agent_id,
            what,
            exc.detail,
            delay,
        )

    async def _defer(self, slots: Sequence[Slot], now: datetime, reason: str) -> None:
        """Defer each slot once per busy session; remembered before the calendar call."""
        ids = [s.id for s in slots]
        self.deferred.update(ids)
        await self._persist(self._state.add_deferrals(self.agent_id, ids))
        for slot in slots:
            was_active = self.cache.active_slot()
            try:
                result = await self._calendar.transition(
                    slot.id,
                    Action.DEFER,
                    agent_id=self.agent_id,
                    expected_version=slot.version,
                    note=f"deferred: {reason}",
                )
            except TransitionConflict as exc:
                self._calendar_answered()
                log.info("agent %s: defer of %s refused: %s", self.agent_id, slot.id, exc.detail)
                if exc.slot is not None:
                    await self._fold([exc.slot], was_active, now)
                continue
            except CalendarError as exc:
                # Not deferred after all: forget it so the next check tries again.
                for left in ids[ids.index(slot.id) :]:
                    self.deferred.discard(left)
                    await self._persist(self._state.remove_deferral(self.agent_id, left))
                self._calendar_trouble(now, f"defer {slot.id}", exc)
                return
            self._calendar_answered()
            log.info("agent %s: deferred slot %s (%s)", self.agent_id, slot.id, reason)
            self._publish(SlotDeferred, slot_id=slot.id, reason=reason)
            await self._fold([result], was_active, now)

    async def _claim_and_wake(self, slot: Slot, now: datetime) -> None:
        try:
            claim_key = await self._state.record_intent(slot.id, self.agent_id, slot.version)
        except StateError as exc:
            log.error(
                "agent %s: cannot write the wake intent, not claiming: %s", self.agent_id, exc
            )
            self._check_retry_at = now + timedelta(seconds=self._cfg.check_interval_s)
            return
        crash_point("after_intent")
        was_active = self.cache.active_slot()
        try:
            claimed = await self._calendar.transition(
                slot.id,
                Action.START,
                agent_id=self.agent_id,
                expected_version=slot.version,
                note="claimed by the moderator to wake the agent",
                idempotency_key=claim_key,
            )
        except TransitionConflict as exc:
            self._calendar_answered()
            await self._persist(self._state.drop_intent(slot.id))
            log.info(
                "agent %s: claim of slot %s refused (%s): %s; re-syncing, not waking",
                self.agent_id,
                slot.id,
                exc.code,
                exc.detail,
            )
            self._publish(ClaimConflict, slot_id=slot.id, code=exc.code, detail=exc.detail)
            if exc.slot is not None:
                await self._fold([exc.slot], was_active, now)
            if exc.code == "agent_busy":
                try:
                    await self._react(await self._learn_current_slot(), was_active, now)
                except CalendarError as err:
                    self._calendar_trouble(now, "current slot", err)
            await self._sync_locked(now, full=True)
            return
        except CalendarError as exc:
            # The claim may or may not have happened (or happen yet): keep the intent;
            # `_recover_one` re-sends it with the same claim key to find out.
            entry = await self._state.wake_entry(slot.id)
            if entry is not None:
                self._unresolved[slot.id] = entry
            self._calendar_trouble(now, f"claim {slot.id}", exc, claim=True)
            return
        self._calendar_answered()
        self._claim_failures = 0
        crash_point("after_claim")
        await self._persist(self._state.record_claim(slot.id, claimed.version))
        log.info("agent %s: claimed slot %s (%s)", self.agent_id, slot.id, slot.title)
        self._publish(SlotClaimed, slot_id=slot.id, slot=claimed)
        self._activity[slot.id] = _Activity(at=now)
        await self._fold([claimed], was_active, now)
        await self._wake(claimed)

    async def _wake(self, slot: Slot) -> None:
        """Wake through the waker; a failure gives the slot back and arms the retry."""
        prompt = render_wake_prompt(self._cfg.wake_template, slot)
        try:
            result = await self._waker.wake(self.agent, slot, prompt)
        except Exception as exc:  # a waker must not raise; if it does, it is a failed wake
            log.exception("agent %s: waker raised for slot %s", self.agent_id, slot.id)
            result = WakeResult.failure(getattr(self._waker, "name", "waker"), repr(exc))
        now = self._clock.now()
        if result.ok:
            crash_point("after_message")
            await self._persist(
                self._state.record_result(
                    slot.id, ok=True, via=result.via, reference=result.reference
                )
            )
        self._last_wake = WakeInfo(
            at=now,
            slot_id=slot.id,
            ok=result.ok,
            via=result.via,
            reference=result.reference,
            error=result.error,
            attempts=result.attempts,
        )
        if result.ok:
            self._wake_failures = 0
            self._wake_retry_at = None
            track = self._activity.setdefault(slot.id, _Activity(at=now))
            track.reference = result.reference
            log.info(
                "agent %s: woke for slot %s via %s (%s)",
                self.agent_id,
                slot.id,
                result.via,
                result.reference or "no reference",
            )
            self._publish(
                AgentWoken,
                slot_id=slot.id,
                via=result.via,
                reference=result.reference,
                channel_id=result.channel_id,
            )
            return
        self._wake_failures += 1
        delay = min(
            self._cfg.wake_retry_max_s,
            self._cfg.wake_retry_base_s * 2 ** min(self._wake_failures - 1, 20),
        )
        self._wake_retry_at = now + timedelta(seconds=delay)
        log.error(
            "agent %s: could not wake for slot %s (%s); giving it back, retry in %s",
            self.agent_id,
            slot.id,
            result.error,
            format_duration(timedelta(seconds=delay)),
        )
        self._publish(WakeFailed, slot_id=slot.id, error=result.error or "failed")
        # The ledger entry stays unfinished until the slot is given back, but no
        # longer says "claimed": a crash in between is recovered through the claim
        # key, so the slot is woken again only if our claim still holds it (the
        # release did not happen), never after someone else claimed it anew.
        await self._persist(self._state.record_releasing(slot.id))
        self._pending_release[slot.id] = (slot.version, result)
        await self._release_pending(now)

    async def _release_pending(self, now: datetime) -> bool:
        """Give back claimed slots whose wake failed; False while the calendar is away."""
        for slot_id, (version, failure) in list(self._pending_release.items()):
            was_active = self.cache.active_slot()
            try:
                released = await self._calendar.transition(
                    slot_id,
                    Action.RELEASE,
                    agent_id=self.agent_id,
                    expected_version=version,
                    note=f"wake failed ({failure.error}); given back to be retried",
                )
            except TransitionConflict as exc:
                # Someone moved it meanwhile (the agent answered, a person aborted): theirs now.
                self._calendar_answered()
                log.info("agent %s: release of %s refused: %s", self.agent_id, slot_id, exc.detail)
                await self._finish_failed(slot_id, failure)
                if exc.slot is not None:
                    await self._fold([exc.slot], was_active, now)
                continue
            except SlotNotFound:
                await self._finish_failed(slot_id, failure)
                continue
            except CalendarError as exc:
                self._calendar_trouble(now, f"release {slot_id}", exc)
                return False
            self._calendar_answered()
            await self._finish_failed(slot_id, failure)
            self._publish(SlotReleased, slot_id=slot_id)
            await self._fold([released], was_active, now)
        return True

    async def _finish_failed(self, slot_id: str, failure: WakeResult) -> None:
        self._pending_release.pop(slot_id, None)
        await self._persist(
            self._state.record_result(
                slot_id, ok=False, via=failure.via, reference=failure.reference, error=failure.error
            )
        )

    # ==== crash recovery ======================================================

    async def _resolve_unfinished(self, now: datetime) -> bool:
        if not await self._release_pending(now):
            return False
        for slot_id, entry in list(self._unresolved.items()):
            try:
                await self._recover_one(entry, now)
            except CalendarError as exc:
                self._calendar_trouble(now, f"recover {slot_id}", exc, claim=True)
                return False
            self._unresolved.pop(slot_id, None)
        return True

    async def _recover_one(self, entry: WakeEntry, now: datetime) -> None:
        """An intent without a result: re-send its claim (same expected version, same key).

        Whether the ledger has the claim's 200 or not, only the calendar knows
        whose the slot is now: while we were down a person may have released it
        and another moderator claimed it (an ONGOING slot that is not ours), or
        our unanswered claim may land only now. The calendar answers a `start`
        with our claim key 200 exactly when that claim holds the slot (applied
        now, or earlier and replayed), so the answer settles it.

        200 -> ours: record the claim (if not yet) and wake (the waker finds an
        existing channel). 409 -> another claim holds it, or it moved on
        (version, status): never wake; an ended slot gets its result recorded,
        otherwise the intent is dropped and the normal flow takes the slot as it
        now is. `CalendarError` propagates: the intent is kept and retried with backoff.
        """
        was_active = self.cache.active_slot()
        try:
            slot = await self._calendar.transition(
                entry.slot_id,
                Action.START,
                agent_id=self.agent_id,
                expected_version=entry.expected_version,
                note="claimed by the moderator to wake the agent (claim re-sent to settle it)",
                idempotency_key=entry.claim_key or None,
            )
        except SlotNotFound:
            log.warning(
                "agent %s: recovered intent for missing slot %s", self.agent_id, entry.slot_id
            )
            await self._persist(self._state.drop_intent(entry.slot_id))
            return
        except TransitionConflict as exc:
            self._calendar_answered()
            held = exc.slot
            log.info(
                "agent %s: slot %s is not ours (re-sent claim refused, %s: %s); not waking",
                self.agent_id,
                entry.slot_id,
                exc.code,
                exc.detail,
            )
            self._publish(ClaimConflict, slot_id=entry.slot_id, code=exc.code, detail=exc.detail)
            if held is not None and held.status.is_final:
                await self._record_ended_at_recovery(held)
            else:
                await self._persist(self._state.drop_intent(entry.slot_id))
            if held is not None:
                await self._fold([held], was_active, now)
            return
        self._calendar_answered()
        self._claim_failures = 0
        if entry.claimed:
            log.warning(
                "agent %s: slot %s was claimed before a restart but its wake has no result; "
                "our claim still holds it, waking again (the waker finds an existing channel)",
                self.agent_id,
                slot.id,
            )
            self._publish(WakeRecovered, slot_id=slot.id, claimed_before=True)
            self._activity.setdefault(slot.id, _Activity(at=entry.claimed_at or now))
        else:
            await self._persist(self._state.record_claim(slot.id, slot.version))
            log.warning(
                "agent %s: slot %s: the claim left unanswered before is ours (the calendar took "
                "or replayed its claim key); waking again (the waker finds an existing channel)",
                self.agent_id,
                slot.id,
            )
            self._publish(WakeRecovered, slot_id=slot.id, claimed_before=False)
            self._activity.setdefault(slot.id, _Activity(at=now))
        await self._fold([slot], was_active, now)
        await self._wake(slot)

    async def _record_ended_at_recovery(self, slot: Slot) -> None:
        await self._persist(
            self._state.record_result(
                slot.id,
                ok=False,
                via="recovery",
                error=f"slot was already {slot.status.value} at recovery; not woken again",
            )
        )

    # ==== stuck slots ========================================================

    async def _check_stuck(self, now: datetime) -> None:
        active = self.cache.active_slot()
        if active is None:
            return
        track = self._activity.get(active.id)
        if track is None:
            track = self._activity[active.id] = _Activity(at=now)
        silence = now - track.at
        unit = timedelta(minutes=active.estimated_duration_min)
        if silence >= unit * ABORT_FACTOR:
            note = (
                f"no reply or progress for {format_duration(silence)} "
                f"({ABORT_FACTOR} x the estimated {active.estimated_duration_min} min): "
                "aborted by the moderator"
            )
            try:
                result = await self._calendar.transition(
                    active.id,
                    Action.ABORT,
                    agent_id=self.agent_id,
                    expected_version=active.version,
                    note=note,
                )
            except TransitionConflict as exc:
                self._calendar_answered()
                if exc.slot is not None:
                    await self._fold([exc.slot], active, now)
                return
            except CalendarError as exc:
                self._calendar_trouble(now, f"abort stuck {active.id}", exc)
                return
            self._calendar_answered()
            log.warning("agent %s: slot %s %s", self.agent_id, active.id, note)
            self._publish(StuckSlotAborted, slot_id=active.id, note=note)
            await self._fold([result], active, now)
        elif silence >= unit * NUDGE_FACTOR and not track.nudged:
            track.nudged = True
            await self._persist(self._state.record_nudge(active.id))
            text = (
                f"Nudge: no reply or progress on “{active.title or active.id}” for "
                f"{format_duration(silence)} (estimated {active.estimated_duration_min} min). "
                "Reply DONE, PAUSE or ABORT, or post progress; at "
                f"{ABORT_FACTOR} x the estimate the slot is aborted."
            )
            posted = False
            if self._notifier is not None:
                try:
                    posted = await self._notifier.notify(self.agent, active, text)
                except Exception:
                    log.exception("agent %s: nudge for %s raised", self.agent_id, active.id)
            level = logging.INFO if posted else logging.WARNING
            log.log(
                level,
                "agent %s: slot %s silent for %s: nudge %s",
                self.agent_id,
                active.id,
                format_duration(silence),
                "posted" if posted else "could not be posted",
            )
            self._publish(SlotNudged, slot_id=active.id, posted=posted)

    async def _touch(self, slot_id: str, now: datetime) -> None:
        track = self._activity.get(slot_id)
        if track is None:
            self._activity[slot_id] = _Activity(at=now)
        else:
            track.at = now
            track.nudged = False
        await self._persist(self._state.record_activity(slot_id, now))

    def overdue(self, slot: Slot, now: datetime) -> bool:
        track = self._activity.get(slot.id)
        if track is None:
            return False
        return now - track.at >= timedelta(minutes=slot.estimated_duration_min) * NUDGE_FACTOR

    # ==== reacting to change =================================================

    async def _fold(self, slots: Iterable[Slot], was_active: Slot | None, now: datetime) -> None:
        await self._react(self.cache.put_many(slots), was_active, now)

    async def _react(
        self, changes: Sequence[SlotChange], was_active: Slot | None, now: datetime
    ) -> None:
        """Apply the consequences of slot changes, whatever their source."""
        if changes:
            self._generation += 1
        misfires: list[Slot] = []
        for change in changes:
            slot = change.slot
            if (
                change.before is None
                and change.after is not None
                and self._misfired(change.after, now)
            ):
                misfires.append(change.after)
            if change.ended:
                if change.before is None and not await self._missed_end(slot):
                    continue  # ended before we ever knew it: nothing of ours to tidy
                await self._slot_ended(slot, now)
            elif (
                change.after is not None
                and change.after.status.is_active
                and slot.id not in self._activity
            ):
                await self._adopt_activity(slot, now)
        now_active = self.cache.active_slot()
        if (was_active is None) != (now_active is None) or (
            was_active is not None and now_active is not None and was_active.id != now_active.id
        ):
            await self._heartbeat(force=True)
            if now_active is None:
                if self.deferred:
                    await self._clear_deferrals()
                self._check_soon = True
        for slot in misfires:
            await self._misfire(slot, now)

    async def _missed_end(self, slot: Slot) -> bool:
        """A slot first seen already ended: ours to tidy only if we made it a channel."""
        try:
            link = await self._state.channel_link(slot.id)
        except StateError as exc:
            log.error("agent %s: %s", self.agent_id, exc)
            return False
        return link is not None and link.ended_at is None

    async def _adopt_activity(self, slot: Slot, now: datetime) -> None:
        """A held slot we did not claim in this run: start its silence clock sensibly."""
        entry: WakeEntry | None = None
        try:
            entry = await self._state.wake_entry(slot.id)
        except StateError as exc:
            log.error("agent %s: %s", self.agent_id, exc)
        if entry is not None and entry.activity_at is not None:
            self._activity[slot.id] = _Activity(
                at=entry.activity_at, nudged=entry.nudged_at is not None, reference=entry.reference
            )
        else:
            self._activity[slot.id] = _Activity(at=now)

    async def _slot_ended(self, slot: Slot, now: datetime) -> None:
        self._activity.pop(slot.id, None)
        self.deferred.discard(slot.id)
        self._pending_release.pop(slot.id, None)
        await self._persist(self._state.mark_ended(slot.id, now))
        if self.cache.day is not None and self.cache.day_of(slot) < self.cache.day:
            self.cache.remove(slot.id)  # a carried slot is written off once it ends
        log.info("agent %s: slot %s ended %s", self.agent_id, slot.id, slot.status.value)
        self._publish(SlotEnded, slot_id=slot.id, slot=slot)

    def _misfired(self, slot: Slot, now: datetime) -> bool:
        grace = self._cfg.misfire_grace_s
        if grace is None or slot.status is not SlotStatus.NOT_STARTED:
            return False
        return (now - slot.scheduled_at).total_seconds() > grace

    async def _misfire(self, slot: Slot, now: datetime) -> None:
        current = self.cache.get(slot.id)
        if current is None or current.status is not SlotStatus.NOT_STARTED:
            return
        late = now - current.scheduled_at
        note = (
            f"misfire: first seen {format_duration(late)} after its time "
            f"{current.scheduled_at.astimezone(self._tz).isoformat(timespec='minutes')} "
            f"(MISFIRE_GRACE_S={self._cfg.misfire_grace_s:g}); not woken, aborted"
        )
        try:
            result = await self._calendar.transition(
                current.id,
                Action.ABORT,
                agent_id=self.agent_id,
                expected_version=current.version,
                note=note,
            )
        except TransitionConflict as exc:
            if exc.slot is not None:
                await self._fold([exc.slot], self.cache.active_slot(), now)
            return
        except CalendarError as exc:
            log.warning(
                "agent %s: slot %s misfired but could not be aborted (%s); it will be "
                "aborted at the next sync",
                self.agent_id,
                current.id,
                exc.detail,
            )
            self.cache.remove(current.id)  # seen again as new at the next sync
            return
        log.warning("agent %s: slot %s %s", self.agent_id, current.id, note)
        self._publish(SlotMisfired, slot_id=current.id, note=note)
        await self._fold([result], self.cache.active_slot(), now)

    async def _clear_deferrals(self) -> None:
        self.deferred.clear()
        await self._persist(self._state.clear_deferrals(self.agent_id))

    async def _heartbeat(self, *, force: bool) -> list[Slot]:
        """Tell the calendar idle/busy; answers the due slots it returned (empty on failure)."""
        active = self.cache.active_slot()
        status = HeartbeatStatus.BUSY if active is not None else HeartbeatStatus.IDLE
        if not force and status is self._hb_sent:
            return []
        try:
            due = await self._calendar.heartbeat(
                self.agent_id, status, active.id if active is not None else None
            )
        except CalendarError as exc:
            self._hb_sent = None
            log.warning("agent %s: heartbeat %s failed: %s", self.agent_id, status, exc.detail)
            return []
        self._hb_sent = status
        self._publish(HeartbeatSent, status=status, slot_id=active.id if active else None)
        return due

    # ==== after each operation ===============================================

    async def _after(self) -> None:
        """Outside the lock: deliver the operation's events in order, then re-arm the timer."""
        while self._outbox:
            batch, self._outbox = self._outbox, []
            for event in batch:
                await self._events.publish(event)
        self._rearm()

    async def _persist(self, write: Awaitable[object]) -> None:
        """State writes that must not stop the scheduling: failures are logged loudly."""
        try:
            await write
        except StateError as exc:
            log.error("agent %s: %s", self.agent_id, exc)

    def _publish(self, kind: type[E], **fields: Any) -> None:
        """Queue an event of this agent, stamped now; `_after` delivers it."""
        self._outbox.append(kind(at=self._clock.now(), agent_id=self.agent_id, **fields))

    # ==== the timer ===========================================================

    def next_wakeup(self, now: datetime) -> datetime:
        """When this agent next needs a check, uncapped (the timer caps it)."""
        if self._check_soon:
            return now
        candidates = [next_midnight(now, self._tz)]
        blocked = max(
            (t for t in (self._wake_retry_at, self._check_retry_at) if t is not None and t > now),
            default=None,
        )
        if self._unresolved or self._pending_release:
            candidates.append(blocked or now)
        active = self.cache.active_slot()
        if active is not None:
            stuck_at = self._stuck_deadline(active)
            if stuck_at is not None:
                candidates.append(stuck_at)
        upcoming = self.cache.next_due_at(after=now)
        if upcoming is not None:
            candidates.append(upcoming)
        if self.cache.has_due(now) and any(
            s.id not in self.deferred for s in self.cache.get_due_slots(now)
        ):
            if active is not None:
                soon = self._check_retry_at if self._calendar_blocked(now) else now
            else:
                soon = blocked or now
            assert soon is not None
            if (
                self._last_fire_at is not None
                and soon <= self._last_fire_at
                and self._generation == self._checked_generation
            ):
                # the last check saw this very state and could not act: do not spin
                soon = self._last_fire_at + _SPIN_GUARD
            candidates.append(soon)
        return min(candidates)

    def needs_attention(self, now: datetime) -> bool:
        """Cheap, no I/O: whether a loop tick should run this agent's check."""
        if self._check_soon or self.cache.day != local_day(now, self._tz):
            return True
        if self._unresolved or self._pending_release:
            return not self._blocked(now)
        active = self.cache.active_slot()
        if active is not None:
            stuck_at = self._stuck_deadline(active)
            if stuck_at is None or now >= stuck_at:
                return True
        if not self.cache.has_due(now):
            return False
        due = self.cache.get_due_slots(now)
        if any(s.id not in self.deferred for s in due):
            return True
        # only session-deferred slots are due: an idle agent may have ended its session
        return active is None and not self._blocked(now)

    def _stuck_deadline(self, active: Slot) -> datetime | None:
        """When the held slot's silence next calls for the stuck rule: nudge, then abort."""
        track = self._activity.get(active.id)
        if track is None:
            return None
        factor = ABORT_FACTOR if track.nudged else NUDGE_FACTOR
        return track.at + timedelta(minutes=active.estimated_duration_min) * factor

    def _spawn_timer(self) -> None:
        task = asyncio.create_task(self._timer_loop(), name=f"timer:{self.agent_id}")
        task.add_done_callback(self._timer_done)
        self._timer_task = task

    def _timer_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("agent %s: timer died", self.agent_id, exc_info=exc)

    def _rearm(self) -> None:
        """Restart the timer when the next wake-up moved earlier than it is sleeping for."""
        if not self._cfg.precise_timer or self._stopping:
            return
        task = self._timer_task
        if task is None or task.done():
            self._spawn_timer()
            return
        if self._sleeping_task is not task:
            return  # it is working now and computes its next sleep when done
        now = self._clock.now()
        target = self._capped(now)
        if self._timer_target is None or target < self._timer_target:
            task.cancel()
            self._sleeping_task = None
            self._spawn_timer()

    def _capped(self, now: datetime) -> datetime:
        return min(self.next_wakeup(now), now + timedelta(seconds=self._cfg.check_interval_s))

    async def _timer_loop(self) -> None:
        me = asyncio.current_task()
        while not self._stopping:
            now = self._clock.now()
            target = self._capped(now)
            self._timer_target = target
            delay = (target - now).total_seconds()
            if delay > 0:
                self._sleeping_task = me
                try:
                    await self._clock.sleep(delay)
                finally:
                    if self._sleeping_task is me:
                        self._sleeping_task = None
            else:
                await asyncio.sleep(0)
            if self._stopping:
                return
            self._last_fire_at = self._clock.now()
            try:
                await self.run_check(self._last_fire_at)
            except Exception:
                log.exception("agent %s: timer check failed", self.agent_id)

    # ==== status ================================================================

    def snapshot(self, now: datetime) -> AgentSnapshot:
        active = self.cache.active_slot()
        current: CurrentSlot | None = None
        if active is not None:
            track = self._activity.get(active.id)
            current = CurrentSlot(
                id=active.id,
                title=active.title,
                status=active.status,
                reference=track.reference if track else None,
                overdue=self.overdue(active, now),
                last_activity_at=track.at if track else None,
            )
        next_due: NextSlot | None = None
        pending = self.cache.get_due_slots(now)
        candidates = [s for s in pending if s.id not in self.deferred] or pending
        if candidates:
            first = min(candidates, key=selection_key)
        else:
            upcoming = self.cache.next_due_at(after=now)
            first = None
            if upcoming is not None:
                same_time = [
                    s for s in self.cache.get_due_slots(upcoming) if s.scheduled_at == upcoming
                ]
                first = min(same_time, key=selection_key) if same_time else None
        if first is not None:
            next_due = NextSlot(
                id=first.id, title=first.title, priority=first.priority, at=first.scheduled_at
            )
        last_sync = self._last_sync_ok_at
        return AgentSnapshot(
            agent_id=self.agent_id,
            as_of=now,
            state=AgentActivity.BUSY if active is not None else AgentActivity.IDLE,
            current=current,
            next_due=next_due,
            last_sync_at=last_sync,
            last_sync_age_s=(now - last_sync).total_seconds() if last_sync else None,
            last_sync_error=self._last_sync_error,
            last_sync_error_at=self._last_sync_error_at,
            consecutive_sync_failures=self._sync_failures,
            pending_count=self.cache.pending_count,
            deferred_count=self.cache.count(SlotStatus.DEFERRED),
            session_deferred_count=len(self.deferred),
            last_wake=self._last_wake,
            consecutive_wake_failures=self._wake_failures,
            wake_retry_at=self._wake_retry_at,
            last_calendar_error=self._last_calendar_error,
            last_calendar_error_at=self._last_calendar_error_at,
        )

    def today_slots(self) -> list[Slot]:
        """The cached schedule of the cache's day, with the slots carried from earlier days."""
        day = self.cache.day
        if day is None:
            return []
        return [s for s in self.cache.get_all() if self.cache.day_of(s) <= day]
