"""The sync loop's cost while changes reach the moderator, and the batched heartbeat (§4.1).

While the calendar's news flows, a tick of the sync loop is one batched
heartbeat for all agents and a few safety re-reads; the moment it stops, every
agent's day is read again. The heartbeat goes per agent where the calendar
does not take the batch (v1, an agent-only token) and is corrected when an
agent changed while the batch flew.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.calendar import BATCH_HEARTBEAT_FEATURE, BadRequest
from bot.core.models import AgentHeartbeat, HeartbeatStatus, SlotStatus
from bot.core.moderator import Moderator
from bot.core.periodic import SAFETY_RESYNC_S
from testkit.calendars import CallFault, FaultyCalendar
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import START, Harness, add_slot, minutes

SYNC_INTERVAL_S = 300.0
AGENTS = tuple(AgentConfig(id=f"agent{n:02d}") for n in range(12))


class OldCalendar(FaultyCalendar):
    """The embedded calendar as a v1 server looks: no features, so no batched heartbeat."""

    async def features(self) -> frozenset[str]:
        self.calls["features"] += 1
        return frozenset()


async def counted_moderator(
    harness: Harness, calendar: FaultyCalendar, *, news: bool = True, **options: object
) -> Moderator:
    inner = harness.calendar
    return await harness.moderator(
        RecordingWaker(harness.clock),
        AGENTS,
        calendar=calendar,
        changes=inner.changes if news else None,
        check_interval_s=3600.0,
        **options,
    )


async def ticks(clock: SettlingClock, moderator: Moderator, count: int) -> None:
    for _ in range(count):
        await clock.advance(SYNC_INTERVAL_S)
        assert await moderator.sync_tick() == 0


async def test_while_news_flows_a_tick_is_one_heartbeat_for_all_and_a_few_days(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    counted = FaultyCalendar(calendar, clock)
    moderator = await counted_moderator(harness, counted)
    assert moderator.news_flowing
    assert BATCH_HEARTBEAT_FEATURE in await calendar.features()
    counted.calls.clear()
    await ticks(clock, moderator, 1)
    assert counted.calls["heartbeat_many"] == 1
    assert counted.calls["heartbeat"] == 0
    # 12 agents, each re-read once per 2 h, spread: 300 s is 1/24 of that, half a day a tick
    assert counted.calls["get_day"] <= 1
    for agent in AGENTS:
        status = await calendar.agent_status(agent.id)
        assert (status.status, status.last_heartbeat_at) == ("idle", clock.now())


async def test_every_agent_is_still_reread_within_the_safety_period(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    counted = FaultyCalendar(calendar, clock)
    moderator = await counted_moderator(harness, counted)
    first = {a.id: moderator.status(a.id).last_sync_at for a in AGENTS}
    counted.calls.clear()
    await ticks(clock, moderator, int(SAFETY_RESYNC_S // SYNC_INTERVAL_S))
    for agent in AGENTS:
        last = moderator.status(agent.id).last_sync_at
        assert last is not None and first[agent.id] is not None and last > first[agent.id]
    assert counted.calls["get_day"] <= len(AGENTS) + 1  # once each, not once a tick
    assert counted.calls["heartbeat_many"] == SAFETY_RESYNC_S // SYNC_INTERVAL_S


async def test_when_news_stops_every_day_is_read_again_at_once(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    counted = FaultyCalendar(calendar, clock)
    moderator = await counted_moderator(harness, counted)
    await calendar.changes.stop()  # the news stops (a failed feed, a dead poller)
    assert not moderator.news_flowing
    counted.calls.clear()
    await ticks(clock, moderator, 1)
    assert counted.calls["get_day"] == len(AGENTS)
    assert counted.calls["heartbeat_many"] == 1


async def test_without_news_the_tick_is_the_full_sync(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    counted = FaultyCalendar(calendar, clock)
    moderator = await counted_moderator(harness, counted, news=False)
    assert not moderator.news_flowing
    counted.calls.clear()
    await ticks(clock, moderator, 2)
    assert counted.calls["get_day"] == 2 * len(AGENTS)


async def test_a_day_rollover_rereads_every_agent_even_while_news_flows(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    counted = FaultyCalendar(calendar, clock)
    # no timers: their checks would roll the day over first; here only the tick may
    moderator = await counted_moderator(harness, counted, precise_timer=False)
    tomorrow = START.replace(hour=0) + timedelta(days=1)
    await clock.advance((tomorrow - clock.now()).total_seconds() - SYNC_INTERVAL_S + 1)
    counted.calls.clear()
    await ticks(clock, moderator, 1)
    assert counted.calls["get_day"] == len(AGENTS)
    assert moderator.scheduler("agent00").cache.day == tomorrow.date()


async def test_a_v1_calendar_gets_one_heartbeat_per_agent(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    old = OldCalendar(calendar, clock)
    moderator = await counted_moderator(harness, old)
    old.calls.clear()
    await ticks(clock, moderator, 1)
    assert old.calls["heartbeat_many"] == 0
    assert old.calls["heartbeat"] == len(AGENTS)
    assert (await calendar.agent_status("agent07")).last_heartbeat_at == clock.now()


async def test_a_token_that_may_not_batch_falls_back_to_one_heartbeat_each_for_good(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    forbidden = partial(BadRequest, code="forbidden")
    counted = FaultyCalendar(calendar, clock, CallFault("heartbeat_many", error=forbidden))
    moderator = await counted_moderator(harness, counted)
    counted.calls.clear()
    await ticks(clock, moderator, 3)
    assert counted.calls["heartbeat_many"] == 0  # refused once at start-up, never asked again
    assert counted.calls["heartbeat"] == 3 * len(AGENTS)
    assert (await calendar.agent_status("agent03")).last_heartbeat_at == clock.now()


async def test_a_batch_refused_for_one_entry_still_beats_every_agent_alone(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    one_bad_entry = partial(BadRequest, code="validation_error")
    counted = FaultyCalendar(calendar, clock)
    moderator = await counted_moderator(harness, counted)
    counted.fail(CallFault("heartbeat_many", error=one_bad_entry))
    counted.calls.clear()
    await ticks(clock, moderator, 1)
    assert counted.calls["heartbeat"] == len(AGENTS)
    counted.heal()
    counted.calls.clear()
    await ticks(clock, moderator, 1)
    assert (counted.calls["heartbeat_many"], counted.calls["heartbeat"]) == (1, 0)


async def test_a_failed_batch_is_retried_at_the_next_tick_without_a_storm(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    counted = FaultyCalendar(calendar, clock)
    moderator = await counted_moderator(harness, counted)
    counted.fail(CallFault("heartbeat_many"))
    counted.calls.clear()
    await ticks(clock, moderator, 1)
    assert (counted.calls["heartbeat_many"], counted.calls["heartbeat"]) == (1, 0)
    counted.heal()
    await ticks(clock, moderator, 1)
    assert (await calendar.agent_status("agent11")).last_heartbeat_at == clock.now()


async def test_an_agent_that_changed_while_the_batch_flew_is_told_again(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "agent00", START + minutes(1))
    moderator = await counted_moderator(harness, FaultyCalendar(calendar, clock))
    await clock.advance(90)  # the precise timer claims and wakes it: busy
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING
    scheduler = moderator.scheduler("agent00")
    stale = AgentHeartbeat(agent_id="agent00", status=HeartbeatStatus.IDLE)
    await calendar.heartbeat_many([stale])  # the batch's idle lands after the busy one
    await scheduler.run_heartbeat(stale, [])
    status = await calendar.agent_status("agent00")
    assert (status.status, status.current_slot_id) == ("busy", slot.id)


async def test_due_slots_in_the_batch_answer_are_woken(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    """A slot whose news was lost is still found by the heartbeat of the next tick."""
    counted = FaultyCalendar(calendar, clock)
    moderator = await counted_moderator(harness, counted)
    waker = moderator.waker
    assert isinstance(waker, RecordingWaker)
    unfollowed = moderator.scheduler("agent05").follower
    await unfollowed.stop(0)  # this agent hears no news: only the heartbeat can tell it
    slot = await add_slot(calendar, "agent05", clock.now() + minutes(1))
    await ticks(clock, moderator, 1)
    await clock.advance(0)
    assert slot.id in waker.world.delivered()
