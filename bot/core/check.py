"""The check of DESIGN §4, and when the next one is needed.

The rules, in the order a check applies them:

1. due = pending slots with `scheduled_at <= now` (from the cache's time index),
   minus those already deferred in this busy session;
2. busy by local knowledge (the cache holds an ONGOING/PAUSED slot) -> defer
   each once (calendar `defer`), remember it (persisted) and stop;
3. otherwise confirm with the calendar's agent status; busy -> defer likewise;
4. otherwise pick by priority desc, scheduled_at asc, id asc and hand it to
   `Claims` (intent, claim, wake).

Half-done work (an unanswered claim, a slot to give back) is settled first,
and the stuck-slot rule runs on every check.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.cache import local_day
from bot.core.calendar import CalendarError
from bot.core.events import SlotDeferred
from bot.core.models import Action, AgentState, Slot
from bot.core.moves import Applied, Move, Trouble
from bot.core.rules import next_midnight, pick, undeferred

if TYPE_CHECKING:
    from bot.core.agent import AgentScheduler

log = logging.getLogger(__name__)


class Checker:
    def __init__(self, host: AgentScheduler) -> None:
        self._host = host

    async def run(self, now: datetime) -> None:
        host = self._host
        host.check_soon = False
        seen = host.timer.generation
        host.backoff.begin_check()
        try:
            await self._steps(now)
        finally:
            # what this check started from; its own changes earn one more look at once
            host.timer.checked(seen)
            host.backoff.end_check()

    async def _steps(self, now: datetime) -> None:
        host = self._host
        cache, backoff = host.cache, host.backoff
        if cache.day != local_day(now, host.tz):
            await host.syncer.sync(now)
        if host.claims.pending:
            if backoff.blocked(now):
                return
            if not await host.claims.resolve(now):
                return
        await host.stuck.check(now)
        due_all = cache.get_due_slots(now)
        if not due_all:
            return
        due = undeferred(due_all, host.deferred)
        active = cache.active_slot()
        if active is not None:
            if due and not backoff.calendar_blocked(now):
                await self._defer(due, now, f"agent busy with slot {active.id}")
            return
        if backoff.blocked(now):
            return
        if not due and not host.deferred:
            return
        await host.heartbeat(force=False)  # idle: sent only if the calendar was not told so
        try:
            status = await host.calendar.agent_status(host.agent_id)
        except CalendarError as exc:
            backoff.trouble(now, "agent status", exc, claim=False)
            return
        backoff.answered()
        if status.status is AgentState.BUSY:
            if status.current_slot_id is not None:
                try:
                    learnt = await host.syncer.learn_current_slot()
                except CalendarError as exc:
                    backoff.trouble(now, "current slot", exc, claim=False)
                    return
                await host.reactions.react(learnt, None, now)
            if due:
                holder = status.current_slot_id or "its heartbeat"
                await self._defer(due, now, f"the calendar says the agent is busy ({holder})")
            return
        if host.deferred:
            # Idle, confirmed: the busy session is over and its deferrals with it.
            await host.clear_deferrals()
        chosen = pick(due_all)
        assert chosen is not None
        await host.claims.claim_and_wake(chosen, now)

    async def _defer(self, slots: Sequence[Slot], now: datetime, reason: str) -> None:
        """Defer each slot once per busy session; remembered before the calendar call."""
        host = self._host
        ids = [s.id for s in slots]
        host.deferred.update(ids)
        await host.persist(host.state.add_deferrals(host.agent_id, ids))
        for slot in slots:
            move = Move.of(slot, Action.DEFER, f"deferred: {reason}", "defer")
            outcome = await host.transition(move, now, check=True)
            if isinstance(outcome, Trouble):
                # Not deferred after all: forget it so the next check tries again.
                for left in ids[ids.index(slot.id) :]:
                    host.deferred.discard(left)
                    await host.persist(host.state.remove_deferral(host.agent_id, left))
                return
            if isinstance(outcome, Applied):
                log.info("agent %s: deferred slot %s (%s)", host.agent_id, slot.id, reason)
                host.publish(SlotDeferred, slot_id=slot.id, reason=reason)
                await host.fold([outcome.slot], outcome.was_active, now)

    # ==== when the next check is needed ===========================================

    def next_wakeup(self, now: datetime) -> datetime:
        """When this agent next needs a check, uncapped (the timer caps it)."""
        host = self._host
        if host.check_soon:
            return now
        cache, backoff = host.cache, host.backoff
        candidates = [next_midnight(now, host.tz)]
        blocked = backoff.blocked_until(now)
        if host.claims.pending:
            candidates.append(blocked or now)
        active = cache.active_slot()
        if active is not None:
            stuck_at = host.stuck.deadline(active)
            if stuck_at is not None:
                candidates.append(stuck_at)
        upcoming = cache.next_due_at(after=now)
        if upcoming is not None:
            candidates.append(upcoming)
        if cache.has_due(now) and undeferred(cache.get_due_slots(now), host.deferred):
            soon: datetime | None
            if active is not None:
                soon = backoff.check_retry_at if backoff.calendar_blocked(now) else now
            else:
                soon = blocked or now
            assert soon is not None
            candidates.append(host.timer.guard(soon))
        return min(candidates)

    def needs_attention(self, now: datetime) -> bool:
        """Cheap, no I/O: whether a loop tick should run this agent's check."""
        host = self._host
        cache, backoff = host.cache, host.backoff
        if host.check_soon or cache.day != local_day(now, host.tz):
            return True
        if host.claims.pending:
            return not backoff.blocked(now)
        active = cache.active_slot()
        if active is not None:
            stuck_at = host.stuck.deadline(active)
            if stuck_at is None or now >= stuck_at:
                return True
        if not cache.has_due(now):
            return False
        if undeferred(cache.get_due_slots(now), host.deferred):
            return True
        # only session-deferred slots are due: an idle agent may have ended its session
        return active is None and not backoff.blocked(now)

    def quiet_until(self, now: datetime) -> float | None:
        """None when `needs_attention(now)`; else a timestamp before which it stays False
        while nothing about the agent changes (the scheduler memoises it, so an idle or busy
        tick costs a comparison per agent). Mirrors `needs_attention` branch by branch: each
        bound is the first instant one of its conditions can turn (midnight, a retry's end,
        the stuck deadline, the next pending slot)."""
        host = self._host
        cache, backoff = host.cache, host.backoff
        if host.check_soon or cache.day != local_day(now, host.tz):
            return None
        bounds = [next_midnight(now, host.tz).timestamp()]
        if host.claims.pending:
            until = backoff.blocked_until(now)
            return None if until is None else min(bounds[0], until.timestamp())
        active = cache.active_slot()
        if active is not None:
            stuck_at = host.stuck.deadline(active)
            if stuck_at is None or now >= stuck_at:
                return None
            bounds.append(stuck_at.timestamp())
        upcoming = cache.next_due_at(after=now)
        if upcoming is not None:
            bounds.append(upcoming.timestamp())
        if cache.has_due(now):
            if undeferred(cache.get_due_slots(now), host.deferred):
                return None
            if active is None:
                until = backoff.blocked_until(now)
                if until is None:
                    return None
                bounds.append(until.timestamp())
        return min(bounds)
