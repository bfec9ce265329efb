"""DESIGN §4, rule by rule, on the real embedded calendar with the production timers."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig, UnknownAgent
from bot.core.calendar import SlotNotFound, TransitionConflict
from bot.core.events import ClaimConflict, HeartbeatSent, SlotClaimed, StuckSlotAborted
from bot.core.models import Action, AgentState, HeartbeatStatus, Slot, SlotStatus
from bot.core.status import AgentActivity
from bot.core.waker import WakeResult
from bot.wakers.chain import WakerChain
from testkit.calendars import CallFault, FaultyCalendar
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker, World
from tests.core.conftest import ADA, BOB, START, Harness, actions_of, add_slot, minutes


async def complete(moderator: Any, clock: SettlingClock, slot_id: str) -> None:
    await moderator.apply_action(slot_id, Action.COMPLETE, note="ok", source="reply")
    await clock.advance(0)


async def test_due_slots_are_woken_by_priority_then_time_then_id(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    low = await add_slot(calendar, "ada", START - minutes(10), priority=10)
    late_high = await add_slot(calendar, "ada", START - minutes(5), priority=90)
    early_high = await add_slot(calendar, "ada", START - minutes(20), priority=90)
    tie_a = await add_slot(calendar, "ada", START - minutes(30), priority=50)
    tie_b = await add_slot(calendar, "ada", START - minutes(30), priority=50)
    ties = sorted([tie_a.id, tie_b.id])
    moderator = await harness.moderator(waker)  # no MISFIRE_GRACE_S: lateness is no limit
    for _ in range(4):
        current = waker.world.delivered()[-1]
        assert (await calendar.get_slot(current)).status is SlotStatus.ONGOING
        await complete(moderator, clock, current)
    assert waker.world.delivered() == [early_high.id, late_high.id, *ties, low.id]


async def test_busy_agent_gets_each_due_slot_deferred_once_then_by_priority_when_idle(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    current = await add_slot(calendar, "ada", START, minutes=600)
    moderator = await harness.moderator(waker)
    assert waker.world.delivered() == [current.id]
    s_low = await add_slot(calendar, "ada", START + minutes(10), priority=20)
    s_high = await add_slot(calendar, "ada", START + minutes(20), priority=80)
    s_mid = await add_slot(calendar, "ada", START + minutes(20), priority=60)
    await clock.advance(60)
    await moderator.sync_all()
    for _ in range(8):  # many ticks, syncs and timer firings while busy
        await clock.advance(5 * 60)
        await moderator.check_all()
        await moderator.sync_all()
    for s in (s_low, s_high, s_mid):
        assert await actions_of(calendar, s.id, "defer") == 1
        assert (await calendar.get_slot(s.id)).status is SlotStatus.DEFERRED
    snap = moderator.status("ada")
    assert (snap.state, snap.session_deferred_count, snap.deferred_count) == (
        AgentActivity.BUSY,
        3,
        3,
    )
    assert waker.world.delivered() == [current.id]

    harness.events.clear()
    await complete(moderator, clock, current.id)
    # idle: heartbeat idle first, then the highest-priority deferred slot is claimed at once
    events = harness.events
    idle_beat = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, HeartbeatSent) and e.status is HeartbeatStatus.IDLE
    )
    assert idle_beat < next(i for i, e in enumerate(events) if isinstance(e, SlotClaimed))
    assert waker.world.delivered() == [current.id, s_high.id]
    assert waker.world.times()[s_high.id] == clock.now()
    await complete(moderator, clock, s_high.id)
    await complete(moderator, clock, s_mid.id)
    assert waker.world.delivered() == [current.id, s_high.id, s_mid.id, s_low.id]
    # each new busy session deferred the waiting slots once more, never twice in one
    assert await actions_of(calendar, s_low.id, "defer") == 3
    assert await actions_of(calendar, s_mid.id, "defer") == 2


async def test_heartbeat_follows_every_busy_idle_change(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(1))
    moderator = await harness.moderator(RecordingWaker(clock))
    await clock.advance(60)
    busy = await calendar.agent_status("ada")
    assert (busy.status, busy.current_slot_id) == (AgentState.BUSY, slot.id)
    await clock.advance(90)
    await moderator.apply_action(slot.id, Action.COMPLETE, source="reply")
    idle = await calendar.agent_status("ada")
    assert idle.status is AgentState.IDLE
    assert idle.last_heartbeat_at == clock.now()  # sent at once, not at the next sync
    beats = [e.status for e in harness.events if isinstance(e, HeartbeatSent)]
    assert beats[-2:] == [HeartbeatStatus.BUSY, HeartbeatStatus.IDLE]


async def test_paused_counts_as_busy(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    held = await add_slot(calendar, "ada", START, minutes=600)
    waiting = await add_slot(calendar, "ada", START + minutes(5))
    moderator = await harness.moderator(waker)
    await moderator.apply_action(held.id, Action.PAUSE, note="lunch", source="reply")
    await clock.advance(10 * 60)
    assert waker.world.delivered() == [held.id]
    assert (await calendar.get_slot(waiting.id)).status is SlotStatus.DEFERRED
    assert moderator.status("ada").current is not None
    await moderator.apply_action(held.id, Action.RESUME, source="reply")
    await clock.advance(60)
    assert waker.world.delivered() == [held.id]
    await complete(moderator, clock, held.id)
    assert waker.world.delivered() == [held.id, waiting.id]


async def test_slot_created_between_syncs_is_found_and_woken_on_time(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    # the safety-net loop is an hour away: only the precise timer can be on time
    moderator = await harness.moderator(waker, check_interval_s=3600)
    await clock.advance(60)
    late_comer = await add_slot(calendar, "ada", START + minutes(10))
    await clock.advance(4 * 60)
    assert moderator.slot_owner(late_comer.id) is None  # not synced yet
    await moderator.sync_all()  # the sync loop's tick at 09:05
    assert moderator.slot_owner(late_comer.id) == "ada"
    await clock.advance(5 * 60 - 1)
    assert waker.world.delivered() == []
    await clock.advance(1)
    assert waker.world.times() == {late_comer.id: START + minutes(10)}


async def test_claim_conflict_means_resync_and_no_wake(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(10))
    await harness.moderator(waker)
    await clock.advance(5 * 60)
    # a person moves the slot to 11:00 behind the moderator's back (version 1 -> 2)
    await calendar.transition(slot.id, Action.DEFER, until=START + minutes(120))
    await clock.advance(5 * 60)  # 09:10: the timer fires with the stale version 1
    assert waker.world.delivered() == []
    assert ClaimConflict in harness.kinds()
    assert all(e.action != "start" for e in await calendar.slot_events(slot.id))
    await clock.advance(110 * 60)  # the re-sync learnt the new time
    assert waker.world.times() == {slot.id: START + minutes(120)}


async def test_two_moderators_racing_wake_a_slot_once(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(1))
    one, two = RecordingWaker(clock, World()), RecordingWaker(clock, World())
    await harness.moderator(one, state_path=harness.tmp_path / "one.db")
    await harness.moderator(two, state_path=harness.tmp_path / "two.db")
    await clock.advance(60)
    assert sorted(one.world.delivered() + two.world.delivered()) == [slot.id]
    assert await actions_of(calendar, slot.id, "start") == 1


async def test_wake_failing_on_every_waker_releases_and_retries_with_backoff(
    harness: Harness,
    clock: SettlingClock,
    calendar: EmbeddedCalendar,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slot = await add_slot(calendar, "ada", START)
    first = RecordingWaker(clock, name="failing", failures=2)
    second = RecordingWaker(clock, name="failing", failures=None)
    chain = WakerChain([first, second])
    with caplog.at_level(logging.ERROR, logger="bot.core.agent"):
        moderator = await harness.moderator(chain, wake_retry_base_s=15)
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.DEFERRED  # given back
    snap = moderator.status("ada")
    assert snap.state is AgentActivity.IDLE
    assert snap.last_wake is not None and not snap.last_wake.result.ok
    assert "the medium is down" in (snap.last_wake.result.error or "")
    assert (snap.consecutive_wake_failures, snap.wake_retry_at) == (
        1,
        START + timedelta(seconds=15),
    )
    assert any(slot.id in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)

    await clock.advance(14)
    assert len(first.attempts) == 1
    await clock.advance(1)  # 09:00:15: second try, fails again -> 30 s
    assert [at for _, at in first.attempts] == [START, START + timedelta(seconds=15)]
    await clock.advance(29)
    assert len(first.attempts) == 2
    await clock.advance(1)  # 09:00:45: third try works
    assert first.world.times() == {slot.id: START + timedelta(seconds=45)}
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING
    actions = [e.action for e in await calendar.slot_events(slot.id)]
    assert actions == ["create", "start", "release", "start", "release", "start"]
    snap = moderator.status("ada")
    assert (snap.consecutive_wake_failures, snap.wake_retry_at) == (0, None)
    assert snap.last_wake is not None and snap.last_wake.result.via == "failing"


async def test_misfire_aborts_late_not_started_slots_with_a_note(
    harness: Harness,
    clock: SettlingClock,
    calendar: EmbeddedCalendar,
    caplog: pytest.LogCaptureFixture,
    waker: RecordingWaker,
) -> None:
    # Planned in time, first seen (the moderator down) long after: lateness from the time.
    too_late = await add_slot(calendar, "ada", START + minutes(1))
    within = await add_slot(
        calendar, "ada", START + minutes(62) - timedelta(seconds=30), priority=10
    )
    old_deferred = await add_slot(calendar, "ada", START + minutes(2), priority=90)
    await calendar.transition(old_deferred.id, Action.DEFER)
    await clock.advance(62 * 60)
    with caplog.at_level(logging.WARNING, logger="bot.core.agent"):
        moderator = await harness.moderator(waker, misfire_grace_s=60)
    aborted = await calendar.get_slot(too_late.id)
    assert aborted.status is SlotStatus.ABORTED
    note = (await calendar.slot_events(too_late.id))[-1].note or ""
    assert "misfire" in note and "61 min" in note and "MISFIRE_GRACE_S=60" in note
    assert "planned or changed later" not in note
    assert any(too_late.id in r.getMessage() for r in caplog.records)
    assert too_late.id in [s.id for s in harness.ended]
    # DEFERRED is never misfired; within the grace is woken normally
    assert waker.world.delivered() == [old_deferred.id]
    await complete(moderator, clock, old_deferred.id)
    assert waker.world.delivered() == [old_deferred.id, within.id]

    # found late by a sync: planned into the past, it is due from its planning, and the
    # note says how late from then (5 min), not from its time (DESIGN §4)
    await clock.advance(30 * 60)
    found_late = await add_slot(calendar, "ada", clock.now() - minutes(20))
    await clock.advance(5 * 60)
    await moderator.sync_all()
    note = (await calendar.slot_events(found_late.id))[-1].note or ""
    assert (await calendar.get_slot(found_late.id)).status is SlotStatus.ABORTED
    assert "5 min after it was due" in note and "planned or changed later" in note


async def test_a_deferred_slot_is_never_misfired_however_late(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    held = await add_slot(calendar, "ada", START, minutes=24 * 60)
    waiting = await add_slot(calendar, "ada", START + minutes(1))
    moderator = await harness.moderator(waker, misfire_grace_s=60)
    for _ in range(6):
        await clock.advance(30 * 60)
        await moderator.sync_all()
    assert (await calendar.get_slot(waiting.id)).status is SlotStatus.DEFERRED
    await complete(moderator, clock, held.id)
    assert waker.world.delivered() == [held.id, waiting.id]


async def test_stuck_slot_is_nudged_at_twice_and_aborted_at_four_times_its_estimate(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    stuck = await add_slot(calendar, "ada", START, minutes=10)
    after = await add_slot(calendar, "ada", START + minutes(1))
    moderator = await harness.moderator(waker, notifier=waker, check_interval_s=3600)
    await clock.advance(20 * 60 - 1)
    assert waker.world.notices == []
    assert moderator.status("ada").current is not None
    assert not moderator.status("ada").current.overdue  # type: ignore[union-attr]
    await clock.advance(1)  # 09:20 = 2 x 10 min of silence
    assert [sid for sid, _ in waker.world.notices] == [stuck.id]
    text = waker.world.notices[0][1]
    assert "<@" not in text and "20 min" in text
    current = moderator.status("ada").current
    assert current is not None and current.overdue
    await clock.advance(20 * 60 - 1)
    assert len(waker.world.notices) == 1  # one nudge, not one per tick
    assert (await calendar.get_slot(stuck.id)).status is SlotStatus.ONGOING
    await clock.advance(1)  # 09:40 = 4 x
    assert (await calendar.get_slot(stuck.id)).status is SlotStatus.ABORTED
    note = (await calendar.slot_events(stuck.id))[-1].note or ""
    assert "no reply or progress for 40 min" in note
    # idle again: the waiting slot is woken at once
    assert waker.world.times()[after.id] == START + minutes(40)


async def test_progress_restarts_the_silence(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    slot = await add_slot(calendar, "ada", START, minutes=10)
    moderator = await harness.moderator(waker, notifier=waker)
    await clock.advance(15 * 60)
    await moderator.record_progress(slot.id, "half way")
    await clock.advance(5 * 60)
    assert waker.world.notices == []
    await clock.advance(15 * 60)  # 20 min after the progress
    assert len(waker.world.notices) == 1
    await clock.advance(20 * 60)
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ABORTED
    assert harness.kinds().count(StuckSlotAborted) == 1


async def test_failed_sync_keeps_the_stale_cache_and_shows_in_status(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(30))
    flaky = FaultyCalendar(calendar, clock)
    moderator = await harness.moderator(waker, calendar=flaky)
    await moderator.sync_all()
    assert flaky.unchanged_days == 1  # ETag matched: a 304, nothing merged
    await clock.advance(10 * 60)
    flaky.fail(CallFault())
    assert await moderator.sync_all() == 1  # never raises; counts the failure
    await clock.advance(60)
    await moderator.sync_all()
    snap = moderator.status("ada")
    assert snap.last_sync_error is not None and "unreachable" in snap.last_sync_error
    assert snap.consecutive_sync_failures == 2
    assert snap.last_sync_at == START
    assert snap.last_sync_age_s == 11 * 60
    assert snap.last_sync_error_at == clock.now()
    assert [s.id for s in await moderator.schedule("ada", START.date())] == [slot.id]
    flaky.heal()
    await moderator.sync_all()
    snap = moderator.status("ada")
    assert (snap.last_sync_error, snap.consecutive_sync_failures) == (None, 0)
    await clock.advance(19 * 60)
    assert waker.world.times() == {slot.id: START + minutes(30)}


async def test_one_agents_calendar_trouble_does_not_stop_the_others(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    for agent in ("ada", "bob"):
        await add_slot(calendar, agent, START + minutes(5))
    flaky = FaultyCalendar(calendar, clock)
    flaky.fail(CallFault(agents={"bob"}))
    moderator = await harness.moderator(
        waker, agents=(ADA, BOB), calendar=flaky, precise_timer=False
    )
    await clock.advance(5 * 60)
    await moderator.check_all()
    await moderator.sync_all()
    delivered = [(await calendar.get_slot(s)).agent_id for s in waker.world.delivered()]
    assert delivered == ["ada"]
    assert moderator.status("bob").consecutive_sync_failures >= 1
    flaky.heal()
    await clock.advance(30)
    await moderator.sync_all()
    await moderator.check_all()
    delivered = [(await calendar.get_slot(s)).agent_id for s in waker.world.delivered()]
    assert delivered == ["ada", "bob"]


async def test_loop_only_mode_wakes_at_the_tick(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(10))
    moderator = await harness.moderator(waker, precise_timer=False)
    await clock.advance(10 * 60)
    assert waker.world.delivered() == []  # no timer: the loop is the only driver
    await moderator.check_all()
    assert waker.world.delivered() == [slot.id]


async def test_actions_explain_refusals_and_unknowns(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(10))
    moderator = await harness.moderator(RecordingWaker(clock))
    with pytest.raises(TransitionConflict) as refused:
        await moderator.apply_action(slot.id, Action.PAUSE, source="reply")
    assert refused.value.slot is not None and refused.value.slot.status is SlotStatus.NOT_STARTED
    with pytest.raises(SlotNotFound):
        await moderator.apply_action("nope", Action.ABORT, source="/slot")
    with pytest.raises(UnknownAgent, match="configured agents: ada"):
        moderator.status("nobody")
    with pytest.raises(UnknownAgent):
        await moderator.schedule("nobody", START.date())
    assert moderator.agent("ada") == ADA
    assert moderator.agent_ids == ["ada"]
    # a person aborts a pending slot: it is gone from the due list, and reported ended
    aborted = await moderator.apply_action(slot.id, Action.ABORT, note="cancel", source="/slot")
    assert aborted.status is SlotStatus.ABORTED
    assert [s.id for s in harness.ended] == [slot.id]
    assert moderator.status("ada").pending_count == 0
    events = await calendar.slot_events(slot.id)
    assert events[-1].note == "/slot: cancel"


async def test_schedule_reads_cache_for_today_and_calendar_for_other_days(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    today = await add_slot(calendar, "ada", START + minutes(60))
    tomorrow = await add_slot(calendar, "ada", START + timedelta(days=1))
    moderator = await harness.moderator(RecordingWaker(clock))
    assert [s.id for s in await moderator.schedule("ada", START.date())] == [today.id]
    next_day = (START + timedelta(days=1)).date()
    assert [s.id for s in await moderator.schedule("ada", next_day)] == [tomorrow.id]
    snap = moderator.status("ada")
    assert snap.next_due is not None and snap.next_due.id == today.id
    assert snap.pending_count == 1 and snap.state is AgentActivity.IDLE


async def test_a_person_deferring_until_later_moves_the_wake(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(10))
    moderator = await harness.moderator(waker)
    moved = await moderator.apply_action(
        slot.id, Action.DEFER, source="/slot", until=START + minutes(45)
    )
    assert moved.status is SlotStatus.DEFERRED
    await clock.advance(45 * 60)
    assert waker.world.times() == {slot.id: START + minutes(45)}
    assert Counter(harness.kinds())[SlotClaimed] == 1


async def test_progress_counts_only_for_a_held_slot(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    held = await add_slot(calendar, "ada", START)
    later = await add_slot(calendar, "ada", START + minutes(60))
    moderator = await harness.moderator(RecordingWaker(clock))
    assert await moderator.record_progress(held.id, "step 1")
    assert not await moderator.record_progress(later.id, "not mine yet")
    assert not await moderator.record_progress("unknown", "?")


async def test_a_failing_claim_shows_in_status_though_syncs_work_and_clears_once_through(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(1))
    flaky = FaultyCalendar(
        calendar, clock, CallFault("transition", Action.START, detail="claims time out (test)")
    )
    moderator = await harness.moderator(waker, calendar=flaky)
    assert moderator.status("ada").last_calendar_error is None
    await clock.advance(60)
    await moderator.sync_all()
    snap = moderator.status("ada")
    assert snap.last_calendar_error is not None
    assert f"claim {slot.id}" in snap.last_calendar_error
    assert "claims time out (test)" in snap.last_calendar_error
    assert snap.last_calendar_error_at == START + minutes(1)
    assert snap.consecutive_sync_failures == 0 and snap.last_sync_error is None  # syncs fine
    assert not snap.healthy
    await clock.advance(40)  # the unsettled claim is re-sent, and fails again
    snap = moderator.status("ada")
    assert snap.last_calendar_error is not None and f"recover {slot.id}" in snap.last_calendar_error
    assert waker.calls == []
    flaky.heal()
    await clock.advance(60)
    assert waker.calls == [slot.id]
    snap = moderator.status("ada")
    assert (snap.last_calendar_error, snap.last_calendar_error_at) == (None, None)
    assert snap.healthy


class NoPermission:
    name = "discord"

    def can_wake(self, agent: AgentConfig) -> bool:
        return True

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        return WakeResult.failure(self.name, "missing Manage Channels")


class NotForThisAgent(NoPermission):
    name = "webhook"

    def can_wake(self, agent: AgentConfig) -> bool:
        return False


async def test_last_wake_keeps_why_each_waker_before_the_one_that_worked_failed(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START)
    chain = WakerChain([NoPermission(), NotForThisAgent(), RecordingWaker(clock)])
    moderator = await harness.moderator(chain)
    wake = moderator.status("ada").last_wake
    assert wake is not None and wake.slot_id == slot.id
    assert (wake.result.ok, wake.result.via) == (True, "recording")
    assert wake.result.attempts == (
        "discord: missing Manage Channels",
        "webhook: not configured for ada",
        "recording: ok",
    )


async def owner_defers(calendar: EmbeddedCalendar, slot_id: str, _: Slot | None) -> None:
    """Meanwhile the slot's owner re-defers it, so the failed claim's re-sent `start` is
    refused (version moved) and the next check claims afresh."""
    await calendar.transition(slot_id, Action.DEFER, note="the owner moved it")


def seconds_since_start(times: list[datetime]) -> list[float]:
    return [(at - START).total_seconds() for at in times]


async def test_repeated_claim_failures_back_off_further_each_time(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    """Agent status answers every time; only the claims fail, one after the other."""
    slot = await add_slot(calendar, "ada", START + minutes(1))
    # each new claim (a `start` with an unseen claim key) fails as unreachable
    claims_fail = CallFault(
        "transition",
        Action.START,
        detail="claims are failing (test)",
        new_keys_only=True,
        meanwhile=owner_defers,
    )
    flaky = FaultyCalendar(calendar, clock, claims_fail)
    moderator = await harness.moderator(waker, calendar=flaky)
    for _ in range(20):
        await clock.advance(30)
    claims = seconds_since_start(flaky.hit_times())
    gaps = [b - a for a, b in pairwise(claims)]
    # 5, 10, 20 s, then capped at CHECK_INTERVAL_S (30 s); on main: 5 s forever
    assert len(gaps) >= 8 and gaps[:3] == [5.0, 10.0, 20.0], gaps
    assert set(gaps[3:]) == {30.0}, gaps
    assert waker.calls == []
    assert moderator.status("ada").last_calendar_error is not None

    flaky.heal()  # the calendar takes claims again: claimed and woken, once
    await clock.advance(30)
    assert waker.calls == [slot.id]
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING


async def test_repeated_defer_failures_back_off_though_agent_status_answers(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    """Busy by its own heartbeat (no slot held): each check's agent status answers, then
    its defer fails; the retries still space out instead of coming every 5 s."""
    slot = await add_slot(calendar, "ada", START + minutes(1))
    flaky = FaultyCalendar(
        calendar, clock, CallFault("transition", Action.DEFER, detail="defers are failing (test)")
    )
    moderator = await harness.moderator(waker, calendar=flaky)
    await calendar.heartbeat("ada", HeartbeatStatus.BUSY)  # the agent says busy, holds nothing
    for _ in range(10):  # 5 min, within the heartbeat's 10 min freshness
        await clock.advance(30)
    gaps = [b - a for a, b in pairwise(seconds_since_start(flaky.hit_times()))]
    # 5, 10, 20 s, then capped at CHECK_INTERVAL_S (30 s); without the fix: 5 s forever
    assert len(gaps) >= 6 and gaps[:3] == [5.0, 10.0, 20.0], gaps
    assert set(gaps[3:]) == {30.0}, gaps
    snap = moderator.status("ada")
    assert snap.last_calendar_error is not None and f"defer {slot.id}" in snap.last_calendar_error
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.NOT_STARTED
    assert waker.calls == []

    # the agent goes idle: the next check gets through, claims and wakes, clears the error
    await calendar.heartbeat("ada", HeartbeatStatus.IDLE)
    await clock.advance(30)
    assert waker.calls == [slot.id]
    snap = moderator.status("ada")
    assert (snap.last_calendar_error, snap.last_calendar_error_at) == (None, None)

    # that check got through, so the streak starts over: the next failing defer
    # (the agent busy with the woken slot) is retried after 5 s again, then 10 s
    before = len(flaky.hits)
    await add_slot(calendar, "ada", clock.now() + minutes(1))
    await moderator.sync_all()
    for _ in range(4):
        await clock.advance(30)
    later = seconds_since_start(flaky.hit_times())[before:]
    assert [b - a for a, b in pairwise(later)][:2] == [5.0, 10.0], later
