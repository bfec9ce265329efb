"""The one object the glue (cogs, the headless runner, the demo) talks to.

`Moderator` owns an `AgentScheduler` per configured agent, all sharing one
calendar client, one state store, one waker and one clock. Typical life::

    state = await StateStore.open(settings.state_path, clock=clock)
    moderator = Moderator(agents, calendar, state, waker, clock, timezone=settings.tz,
                          check_interval_s=settings.check_interval_s, notifier=waker_chain)
    moderator.events.subscribe(SlotEnded, cog.mark_channel_ended)   # any listeners
    await moderator.start()      # adopt half-done wakes, first sync, arm timers
    ...                          # loops: sync_tick() every SYNC_INTERVAL_S,
    ...                          #        check_all() every CHECK_INTERVAL_S
    ...                          # (headless: moderator.start_loops(SYNC_INTERVAL_S))
    await moderator.stop()

Contract for callers:

* `sync_all()` / `check_all()` never raise (a `tasks.loop` dies on any
  exception): failures are logged, recorded and visible in `status()`, and one
  agent's trouble never stops the others.
* `apply_action()` is for agent replies and slash commands; it raises the
  calendar's `TransitionConflict` / `SlotNotFound` (and `CalendarError` when the
  calendar is away) so the caller can explain. `UnknownAgent` (a LookupError
  whose message lists the configured agents) comes from every call taking an
  agent id that is not configured.
* `status()` / `statuses()` / `slot_owner()` / `agent()` are synchronous and do
  no I/O; `schedule()` reads the cache for today and the calendar otherwise.
* `record_progress()` answers False when the slot is not held by its agent.
* `events` is the core's `EventBus` (bot/core/events.py): every agent's typed
  events (claimed, woken, ended, ...) reach its listeners after the operation
  that caused them and before that operation returns; a `SlotEnded` comes once
  for every slot seen reaching a final status (and for a slot that ended while
  we were down, if we had made it a channel), after the state store marks its
  channel ended. A failing listener is logged and stops nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.core.agent import AgentScheduler, SchedulerConfig
from bot.core.agents import AgentConfig, UnknownAgent
from bot.core.calendar import Calendar, CalendarError, ChangeSource, SlotChanged
from bot.core.clock import Clock
from bot.core.events import EventBus
from bot.core.fanout import fan_out
from bot.core.history import ended_slots
from bot.core.models import Action, Series, SeriesCreate, Slot, SlotCreate, SlotEdit
from bot.core.moves import Move
from bot.core.notes import action_note
from bot.core.periodic import SAFETY_RESYNC_S, PeriodicSync
from bot.core.state import StateStore
from bot.core.status import AgentSnapshot, AgentVitals, vitals_of
from bot.core.tasks import TaskGroup
from bot.core.waker import SlotNotifier, Waker

log = logging.getLogger(__name__)

#: Agents checked at once in a tick: the claims' commits still batch, the memory stays bounded.
CHECK_CONCURRENCY = 128


class Moderator:
    def __init__(
        self,
        agents: Sequence[AgentConfig],
        calendar: Calendar,
        state: StateStore,
        waker: Waker,
        clock: Clock,
        *,
        timezone: ZoneInfo,
        check_interval_s: float = 30.0,
        misfire_grace_s: float | None = None,
        wake_template: str = "{title}\n{prompt}",
        notifier: SlotNotifier | None = None,
        precise_timer: bool = True,
        wake_retry_base_s: float = 15.0,
        wake_retry_max_s: float = 900.0,
        changes: ChangeSource | None = None,
        safety_resync_s: float = SAFETY_RESYNC_S,
    ) -> None:
        if not agents:
            raise ValueError("the moderator needs at least one agent")
        self.calendar = calendar
        self.state = state
        self.waker = waker
        self.clock = clock
        self.timezone = timezone
        self.check_interval_s = check_interval_s
        self.events = EventBus()
        self._config = SchedulerConfig(
            timezone=timezone,
            check_interval_s=check_interval_s,
            misfire_grace_s=misfire_grace_s,
            wake_template=wake_template,
            precise_timer=precise_timer,
            wake_retry_base_s=wake_retry_base_s,
            wake_retry_max_s=wake_retry_max_s,
        )
        self._agents: dict[str, AgentConfig] = {}
        self._schedulers: dict[str, AgentScheduler] = {}
        for agent in agents:
            if agent.id in self._agents:
                raise ValueError(f"agent {agent.id!r} is configured twice")
            self._agents[agent.id] = agent
            self._schedulers[agent.id] = AgentScheduler(
                agent,
                calendar=calendar,
                state=state,
                waker=waker,
                clock=clock,
                config=self._config,
                notifier=notifier,
                events=self.events,
            )
        self._loops = TaskGroup()
        self._started = False
        #: Where news of calendar changes comes from (the embedded calendar), if anywhere.
        self._changes = changes
        self._unfollow: Callable[[], None] | None = None
        self._periodic = PeriodicSync(
            list(self._schedulers.values()),
            calendar,
            clock,
            news_flowing=lambda: self.news_flowing,
            safety_resync_s=safety_resync_s,
        )

    # ---- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        """Take back the persisted state, sync everyone, arm timers; half-done wakes are
        finished by each agent's first check, which the timers run at once.

        The timers are armed also when this fails part-way: the runners log it and keep
        the loops going, and the precise timer must run for them (a change re-arms it)."""
        try:
            await self._take_back_and_sync()
        finally:
            self._started = True
            for scheduler in self._schedulers.values():
                scheduler.start_timer()
        if not self._config.precise_timer:
            await self.check_all()  # without timers, nothing else would look before the loop
        log.info("moderator started for %d agent(s)", len(self._schedulers))

    async def _take_back_and_sync(self) -> None:
        deferrals = await self.state.all_deferrals()
        syncs = await self.state.all_syncs()
        for agent_id, scheduler in self._schedulers.items():
            scheduler.load(deferrals.get(agent_id, set()), syncs.get(agent_id))
        for entry in await self.state.unfinished_wakes():
            owner = self._schedulers.get(entry.agent_id)
            if owner is None:
                log.warning(
                    "wake ledger: slot %s belongs to agent %s, which is no longer configured; "
                    "leaving it alone",
                    entry.slot_id,
                    entry.agent_id,
                )
                continue
            # Settled by the agent's first check (its timer fires at once), not here: a wake
            # that hangs (a receiver that never answers) must hold up neither the start-up
            # nor the other agents, only its own agent, as at any other time.
            owner.adopt_unfinished([entry])
        await self._follow_changes()  # before the first sync, so no change falls between
        await self.sync_all()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop loops and timers; an in-flight wake may finish within `grace_s` real seconds."""
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        await self._loops.cancel_all()
        await asyncio.gather(
            *(s.stop(grace_s) for s in self._schedulers.values()), return_exceptions=True
        )
        self._started = False

    def start_loops(self, sync_interval_s: float) -> None:
        """For runs without discord.py (headless, demo): the sync and check loops as tasks.

        The bot's cogs use `tasks.loop` instead and call `sync_all` / `check_all`.
        """
        self._loops.spawn(self._loop(sync_interval_s, self.sync_tick), name="sync-loop")
        self._loops.spawn(self._loop(self.check_interval_s, self.check_all), name="check-loop")

    async def _loop(self, every_s: float, body: Callable[[], Awaitable[object]]) -> None:
        while True:
            await self.clock.sleep(every_s)
            try:
                await body()
            except Exception:  # the bodies do not raise; this is the last line of defence
                log.exception("background loop body failed")

    @property
    def quiet(self) -> bool:
        """No scheduler has background work in flight (every timer is parked on the clock)."""
        return all(s.quiet for s in self._schedulers.values())

    # ---- loops ------------------------------------------------------------

    async def sync_all(self) -> int:
        """Sync every agent's day and heartbeat (one batched call where the calendar offers
        it); answers how many failed. Never raises."""
        return await self._periodic.sync_all()

    async def sync_tick(self) -> int:
        """The sync loop's turn: `sync_all` while the calendar's changes do not reach us; while
        they do, one batched heartbeat and only the few days due a safety re-read
        (`bot.core.periodic`). Answers how many failed. Never raises."""
        return await self._periodic.tick()

    @property
    def news_flowing(self) -> bool:
        """Whether the calendar's changes reach this moderator at once (DESIGN §4.1)."""
        source = self._changes
        return self._unfollow is not None and source is not None and source.change_feed_up

    async def sync(self, agent_id: str) -> bool:
        """Sync one agent now (`/sync agent`); False when the calendar failed (see status)."""
        return await self._scheduler(agent_id).run_sync()

    def calendar_changed(self, agent_ids: Iterable[str]) -> None:
        """The calendar says these agents' slots changed: sync each at once (no I/O here).

        A burst for one agent costs one sync; agents not configured here (another
        shard's) are ignored.
        """
        for agent_id in set(agent_ids):
            scheduler = self._schedulers.get(agent_id)
            if scheduler is not None:
                scheduler.follower.poke()

    def _on_changes(self, changes: Sequence[SlotChanged]) -> None:
        self.calendar_changed(change.agent_id for change in changes)

    async def _follow_changes(self) -> None:
        if self._changes is None or self._unfollow is not None:
            return
        try:
            self._unfollow = await self._changes.follow(self._on_changes)
        except CalendarError as exc:
            log.warning(
                "cannot follow the calendar's changes (%s); they arrive with the periodic sync",
                exc.detail,
            )

    async def check_all(self, now: datetime | None = None) -> None:
        """The safety-net tick: checks only the agents that need it. Never raises."""
        moment = now or self.clock.now()
        ts = moment.timestamp()
        try:
            waiting = [s for s in self._schedulers.values() if s.needs_attention(moment, ts)]
        except Exception:
            log.exception("check tick: could not see which agents need a check")
            waiting = list(self._schedulers.values())
        if not waiting:
            return

        async def one(scheduler: AgentScheduler) -> None:
            try:
                await scheduler.run_check(moment)
            except Exception:  # a task boundary: the other agents' checks go on
                log.exception("agent %s: check crashed", scheduler.agent_id)

        await fan_out(waiting, one, CHECK_CONCURRENCY)

    # ---- actions ------------------------------------------------------------

    async def apply_action(
        self,
        slot_id: str,
        action: Action,
        *,
        note: str | None = None,
        source: str = "moderator",
        until: datetime | None = None,
    ) -> Slot:
        """Move a slot for a reply or a command, applying the end-of-slot rules.

        Raises `SlotNotFound`, `TransitionConflict` (its `.slot` is the slot as
        it is now) or `CalendarError`; a slot of an agent that is not configured
        is still moved (a person may clean up), without scheduling consequences.
        """
        move = Move(
            slot_id, action, action_note(source, note), f"{action.value} by {source}", until=until
        )
        owner = self.slot_owner(slot_id)
        if owner is None:
            slot = await self.calendar.get_slot(slot_id)
            owner = slot.agent_id
        scheduler = self._schedulers.get(owner)
        if scheduler is None:
            log.info("slot %s of unconfigured agent %s: %s by %s", slot_id, owner, action, source)
            return await self.calendar.transition(
                slot_id, action, agent_id=owner, note=move.note, until=until
            )
        return await scheduler.apply_action(move, source)

    # ---- planning (/plan, /series, /slot move): the calendar's own rules, §3.2 ----

    async def plan_slot(self, new: SlotCreate) -> Slot:
        """Create a slot for a configured agent (`UnknownAgent` otherwise); the calendar's
        change notice brings it into the agent's cache, so it is woken on time."""
        self.agent(new.agent_id or "")
        return await self.calendar.create_slot(new)

    async def plan_series(self, new: SeriesCreate) -> Series:
        """Create a series for a configured agent; refused rules raise `BadRequest`."""
        self.agent(new.agent_id or "")
        return await self.calendar.create_series(new)

    async def move_slot(self, slot_id: str, at: datetime) -> Slot:
        """Reschedule a pending slot (a DEFERRED one becomes NOT_STARTED)."""
        return await self.calendar.edit_slot(slot_id, SlotEdit(scheduled_at=at))

    async def series_of(self, agent_id: str | None) -> list[Series]:
        """The series of one configured agent, or of all, ended ones included."""
        if agent_id is not None:
            self.agent(agent_id)
        return await self.calendar.list_series(agent_id)

    async def end_series(self, series_id: str, agent_id: str | None = None) -> Series:
        """End a series (of `agent_id` only, when given): what has not started is cancelled."""
        return await self.calendar.end_series(series_id, agent_id)

    async def record_progress(self, slot_id: str, note: str | None = None) -> bool:
        """The agent posted progress: its slot is alive (resets the stuck-slot silence).

        False when the slot is unknown or not held (ONGOING/PAUSED) by its agent.
        """
        owner = self.slot_owner(slot_id)
        scheduler = self._schedulers.get(owner) if owner is not None else None
        if scheduler is None:
            log.info("progress for slot %s, which no configured agent holds, ignored", slot_id)
            return False
        return await scheduler.record_progress(slot_id, note)

    # ---- reading ------------------------------------------------------------

    @property
    def agent_ids(self) -> list[str]:
        return list(self._agents)

    def agent(self, agent_id: str) -> AgentConfig:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id, list(self._agents)) from None

    def status(self, agent_id: str) -> AgentSnapshot:
        return self._scheduler(agent_id).snapshot(self.clock.now())

    def statuses(self) -> list[AgentSnapshot]:
        now = self.clock.now()
        return [s.snapshot(now) for s in self._schedulers.values()]

    def vitals(self) -> list[AgentVitals]:
        """Every agent's state and sync age, for health and metrics (no slot looked up)."""
        now = self.clock.now()
        return [vitals_of(s, now) for s in self._schedulers.values()]

    async def schedule(self, agent_id: str, day: date) -> list[Slot]:
        """The agent's slots on `day`: today's from the cache (with carried slots), else asked."""
        scheduler = self._scheduler(agent_id)
        if scheduler.cache.day == day:
            return scheduler.cache.today_slots()
        result = await self.calendar.get_day(agent_id, day)
        return list(result.schedule.slots) if result.schedule is not None else []

    async def history(self, agent_id: str | None, days: int) -> list[Slot]:
        """Slots of one configured agent (or of all) that ended in the last `days` days."""
        agents = [self.agent(agent_id).id] if agent_id is not None else self.agent_ids
        return await ended_slots(self.calendar, agents, self.clock.now(), days)

    def slot_owner(self, slot_id: str) -> str | None:
        """Which configured agent's cache holds `slot_id` (no I/O), or None."""
        for agent_id, scheduler in self._schedulers.items():
            if slot_id in scheduler.cache:
                return agent_id
        return None

    def scheduler(self, agent_id: str) -> AgentScheduler:
        """The agent's scheduler, for tests and benchmarks; the glue should not need it."""
        return self._scheduler(agent_id)

    def _scheduler(self, agent_id: str) -> AgentScheduler:
        try:
            return self._schedulers[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id, list(self._agents)) from None
