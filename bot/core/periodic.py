"""The sync of every agent at once: the start-up's, `/sync`'s and the sync loop's (DESIGN §4.1).

The periodic sync is the safety net, not the way changes travel. While the
calendar's changes reach the moderator (the embedded calendar's in-process
news, a remote calendar's change feed), a tick of the sync loop costs one
batched heartbeat for all agents, plus the day of the few agents due for a
rare safety re-read (each agent once per `SAFETY_RESYNC_S`, spread evenly over
the ticks), of an agent whose last sync failed, and of one whose day rolled
over. The moment the news stops (the feed fails, a v1 server has none), every
tick re-reads every agent's day again, as `sync_all` always does.

The heartbeat goes out in one call for all agents where the calendar offers it
(`BATCH_HEARTBEAT_FEATURE`); against a v1 server, or with a token that may only
act as one agent (403), each agent beats on its own, as before. The batch keeps
every agent fresh in the calendar's status view (a heartbeat is fresh for 10
minutes), and its answer (each agent's due slots) is folded in as a single
heartbeat's would be, so a slot whose news was lost is still woken.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from bot.core.agent import AgentScheduler
from bot.core.cache import local_day
from bot.core.calendar import (
    BATCH_HEARTBEAT_FEATURE,
    BadRequest,
    Calendar,
    CalendarError,
    SlotNotFound,
)
from bot.core.clock import Clock
from bot.core.fanout import fan_out
from bot.core.models import HEARTBEAT_BATCH_MAX

log = logging.getLogger(__name__)
T = TypeVar("T")

#: At most this many agents talk to the calendar at once during a sync of all.
SYNC_CONCURRENCY = 16
#: While changes reach the moderator, each agent's day is still re-read this often.
SAFETY_RESYNC_S = 2 * 3600.0


class PeriodicSync:
    """Which agents a sync of all re-reads, and the heartbeat of all of them."""

    def __init__(
        self,
        schedulers: Sequence[AgentScheduler],
        calendar: Calendar,
        clock: Clock,
        *,
        news_flowing: Callable[[], bool],
        safety_resync_s: float = SAFETY_RESYNC_S,
    ) -> None:
        self._schedulers = list(schedulers)
        self._calendar = calendar
        self._clock = clock
        self._news_flowing = news_flowing
        self._safety_resync_s = safety_resync_s
        #: Whether the calendar takes the batched heartbeat; None until it said.
        self._batch: bool | None = None
        self._last_tick: datetime | None = None
        #: Safety re-reads earned by the time gone by and not yet made (see `_needing_a_read`).
        self._owed = 0.0
        #: Agents whose day the last `tick` re-read (for tests and the benchmarks).
        self.last_reread = 0

    async def sync_all(self) -> int:
        """Every agent's day (ETag) and heartbeat; answers how many failed. Never raises."""
        self._last_tick = self._clock.now()
        return await self._run(self._schedulers)

    async def tick(self) -> int:
        """The sync loop's turn: everyone's day while news does not flow, else only the agents
        that need it (see the module); always everyone's heartbeat. Never raises."""
        now = self._clock.now()
        if not self._news_flowing():
            self._last_tick = now
            return await self._run(self._schedulers)
        since = self._last_tick
        self._last_tick = now
        failed = await self._run(self._needing_a_read(now, since))
        if self._news_flowing():
            # The calendar answered each beat and told every change meanwhile: the agents not
            # re-read are as current as a read would have made them.
            for scheduler in self._schedulers:
                if scheduler.heartbeat_at is not None and scheduler.heartbeat_at >= now:
                    scheduler.syncer.confirm(now)
        return failed

    def _needing_a_read(self, now: datetime, since: datetime | None) -> list[AgentScheduler]:
        chosen: dict[str, AgentScheduler] = {}
        waiting: list[AgentScheduler] = []
        for scheduler in self._schedulers:
            syncer, last = scheduler.syncer, scheduler.syncer.last_ok_at
            if (
                syncer.failures
                or last is None
                or scheduler.cache.day != local_day(now, scheduler.tz)
                or (now - last).total_seconds() >= self._safety_resync_s
            ):
                chosen[scheduler.agent_id] = scheduler
            else:
                waiting.append(scheduler)
        # Spread the safety re-reads: each tick takes its share of the agents, oldest first,
        # so every agent is re-read once per period without all coming due in one tick.
        elapsed = (now - since).total_seconds() if since is not None else 0.0
        # The share is kept as a fraction across ticks, so a few agents are not re-read
        # every tick by rounding up; the reads a tick needs anyway count towards it.
        share = min(1.0, max(0.0, elapsed) / self._safety_resync_s)
        self._owed += len(self._schedulers) * share
        quota = int(self._owed) - len(chosen)
        if quota > 0:
            waiting.sort(key=lambda s: (s.syncer.last_ok_at or now, s.agent_id))
            chosen.update((s.agent_id, s) for s in waiting[:quota])
        self._owed = max(0.0, self._owed - len(chosen))
        return list(chosen.values())

    async def _run(self, rereads: Sequence[AgentScheduler]) -> int:
        self.last_reread = len(rereads)
        batch = await self._batch_usable()
        results = await _each(rereads, lambda s: s.run_sync(heartbeat=not batch), "sync")
        beaten = set() if batch else {s.agent_id for s in rereads}
        rest = [s for s in self._schedulers if s.agent_id not in beaten]
        if batch:
            rest = await self._beat_together(rest)
        await _each(rest, lambda s: s.run_heartbeat(), "heartbeat")
        return sum(1 for ok in results if ok is False)

    async def _batch_usable(self) -> bool:
        if self._batch is None:
            try:
                self._batch = BATCH_HEARTBEAT_FEATURE in await self._calendar.features()
            except CalendarError as exc:  # asked again next time; meanwhile each agent beats
                log.info("cannot ask the calendar for its features (%s)", exc.detail)
                return False
            except Exception:  # a task boundary: the sync "never raises"; each agent beats
                log.exception("asking the calendar for its features failed unexpectedly")
                return False
        return self._batch

    async def _beat_together(self, schedulers: Sequence[AgentScheduler]) -> list[AgentScheduler]:
        """The batched heartbeat, `HEARTBEAT_BATCH_MAX` agents per call; answers the agents
        left to beat on their own (those of a batch the calendar refused)."""
        alone: list[AgentScheduler] = []
        for start in range(0, len(schedulers), HEARTBEAT_BATCH_MAX):
            chunk = schedulers[start : start + HEARTBEAT_BATCH_MAX]
            entries = [s.heartbeat_entry() for s in chunk]
            try:
                due = await self._calendar.heartbeat_many(entries)
            except (BadRequest, SlotNotFound) as exc:
                if exc.code in NO_BATCH_CODES:
                    self._batch = False
                    log.warning(
                        "the calendar refuses the batched heartbeat (%s); each agent beats "
                        "on its own from now on",
                        exc.detail,
                    )
                else:  # one bad entry refuses the batch: the others must still beat
                    log.warning(
                        "batched heartbeat refused (%s); each agent beats alone", exc.detail
                    )
                alone.extend(chunk)
                continue
            except CalendarError as exc:
                log.warning("batched heartbeat of %d agents failed: %s", len(chunk), exc.detail)
                for scheduler in chunk:
                    scheduler.heartbeat_lost(exc)
                continue
            except Exception:  # a task boundary: the sync "never raises"; beat alone
                log.exception("batched heartbeat of %d agents failed unexpectedly", len(chunk))
                alone.extend(chunk)
                continue
            answers = [(s, e, due.get(s.agent_id, [])) for s, e in zip(chunk, entries, strict=True)]
            await _each(answers, lambda a: a[0].run_heartbeat(a[1], a[2]), "heartbeat")
        return alone


#: A refusal that says the calendar will never take the batch from us: no such route (a
#: v1 server) or a token that acts only as one agent (DESIGN §3.3).
NO_BATCH_CODES = frozenset({"forbidden", "not_found", "http_404", "method_not_allowed"})


async def _each(
    items: Sequence[T], work: Callable[[T], Awaitable[object]], what: str
) -> list[object]:
    """`work` on every item, `SYNC_CONCURRENCY` at a time; a crash is logged and answers False,
    so one agent's trouble never stops the others."""

    async def one(item: T) -> object:
        try:
            return await work(item)
        except Exception:  # a task boundary: the others go on
            log.exception("%s of %s crashed", what, _agent_of(item))
            return False

    return await fan_out(items, one, SYNC_CONCURRENCY)


def _agent_of(item: object) -> str:
    first = item[0] if isinstance(item, tuple) else item
    return str(getattr(first, "agent_id", first))
