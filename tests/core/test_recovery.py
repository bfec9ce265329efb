"""Crash safety: a restart finishes half-done wakes without ever waking a slot twice."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.events import ClaimConflict, WakeRecovered
from bot.core.models import Action, Slot, SlotStatus
from bot.core.state import StateStore, WakeEntry
from bot.core.waker import WakeResult
from testkit.calendars import CallFault, FaultyCalendar
from testkit.clock import SettlingClock
from testkit.files import corrupt_page
from testkit.wakers import RecordingWaker, World
from tests.core.conftest import START, Harness, actions_of, add_slot, minutes


class ProcessDied(BaseException):
    """Stands for the process being killed: nothing after it runs, no handler catches it."""


@asynccontextmanager
async def _state_file(harness: Harness, clock: SettlingClock) -> AsyncIterator[StateStore]:
    """The state file while no moderator runs: what a dead process left, or a restart reads."""
    state = await StateStore.open(harness.state_path, clock=clock)
    try:
        yield state
    finally:
        await state.close()


class CrashedIntent(NamedTuple):
    slot: Slot
    claim_key: str


@pytest.fixture
async def intent(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> CrashedIntent:
    """Ada's slot, due now, and a run that wrote its intent to wake it and died at once.

    An intent is only written for a due slot.
    """
    slot = await add_slot(calendar, "ada", START)
    async with _state_file(harness, clock) as state:
        key = await state.record_intent(slot.id, "ada", expected_version=slot.version)
    return CrashedIntent(slot, key)


class DyingWaker(RecordingWaker):
    """Delivers the wake message, then the process dies before the result is recorded."""

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        await super().wake(agent, slot, prompt)
        raise ProcessDied()


async def test_crash_after_intent_before_claim_wakes_once(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, intent: CrashedIntent
) -> None:
    slot, key = intent

    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    # recovery re-sent the claim with the intent's key: it landed now, so the slot is ours
    assert waker.calls == [slot.id]
    entry = await moderator.state.wake_entry(slot.id)
    assert entry is not None and entry.result is not None and entry.result.ok
    assert entry.claim_key == key
    await clock.advance(120)
    assert waker.world.delivered() == [slot.id]
    assert waker.calls == [slot.id]
    assert await actions_of(calendar, slot.id, "start") == 1


async def test_crash_after_intent_for_a_slot_that_moved_on_leaves_it_to_the_normal_flow(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, intent: CrashedIntent
) -> None:
    slot = intent.slot
    # while we were down a person deferred it to later: the claim we meant is stale
    await calendar.transition(slot.id, Action.DEFER, until=START + minutes(2))

    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    assert waker.calls == []  # the re-sent claim was refused (version moved): not woken
    assert await moderator.state.wake_entry(slot.id) is None  # the intent is gone
    await clock.advance(180)
    assert waker.calls == [slot.id]  # the normal flow woke it at its new time, once
    entry = await moderator.state.wake_entry(slot.id)
    assert entry is not None and entry.result is not None and entry.result.ok
    assert entry.expected_version == 2


async def test_crash_after_claim_before_wake_wakes_once(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, intent: CrashedIntent
) -> None:
    slot, key = intent
    # the claim (with the intent's claim key) went through, then the process died
    await calendar.transition(
        slot.id, Action.START, expected_version=slot.version, idempotency_key=key
    )

    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    assert waker.world.delivered() == [slot.id]
    assert WakeRecovered in harness.kinds()
    entry = await moderator.state.wake_entry(slot.id)
    assert entry is not None and entry.result is not None and entry.result.ok
    assert entry.claimed_version == slot.version + 1
    await clock.advance(120)
    assert waker.calls == [slot.id]


async def test_crash_mid_wake_restart_finds_the_channel_and_never_posts_twice(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(1))
    world = World()  # the medium outlives the process, as Discord does
    first = await harness.moderator(DyingWaker(clock, world))
    await clock.advance(60)
    assert world.delivered() == [slot.id]
    await harness.crash(first)
    unfinished = [w.slot_id for w in await _unfinished(harness, clock)]
    assert unfinished == [slot.id]

    again = RecordingWaker(clock, world)
    second = await harness.moderator(again)
    assert again.calls == [slot.id]  # asked to find-or-create ...
    assert world.delivered() == [slot.id]  # ... and it found: one delivery in all
    assert second.status("ada").current is not None
    assert second.status("ada").current.reference == f"chan-{slot.id}"  # type: ignore[union-attr]
    await harness.crash(second)

    third_waker = RecordingWaker(clock, world)
    await harness.moderator(third_waker)
    assert third_waker.calls == []  # the result is recorded: nothing left to finish


async def _unfinished(harness: Harness, clock: SettlingClock) -> list[WakeEntry]:
    async with _state_file(harness, clock) as state:
        return list(await state.unfinished_wakes())


async def test_slot_claimed_by_someone_else_is_not_woken_on_recovery(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, intent: CrashedIntent
) -> None:
    slot = intent.slot
    # our claim never happened; a person deferred it and another moderator claimed it
    await calendar.transition(slot.id, Action.DEFER)
    await calendar.transition(slot.id, Action.START, expected_version=2)

    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    assert waker.calls == []
    snap = moderator.status("ada")
    assert snap.current is not None and snap.current.id == slot.id  # busy, learnt, not woken
    assert await moderator.state.wake_entry(slot.id) is None


async def test_session_deferrals_survive_a_restart(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    held = await add_slot(calendar, "ada", START, minutes=600)
    waiting = await add_slot(calendar, "ada", START + minutes(1))
    first = await harness.moderator(RecordingWaker(clock))
    await clock.advance(120)
    assert (await calendar.get_slot(waiting.id)).status is SlotStatus.DEFERRED
    await harness.crash(first)

    waker = RecordingWaker(clock)
    second = await harness.moderator(waker)
    for _ in range(3):
        await clock.advance(60)
        await second.check_all()
        await second.sync_all()
    assert await actions_of(calendar, waiting.id, "defer") == 1
    assert second.status("ada").session_deferred_count == 1
    assert waker.calls == []  # the held slot was woken by the first run, never again
    await second.apply_action(held.id, Action.COMPLETE, source="reply")
    await clock.advance(0)
    assert waker.world.delivered() == [waiting.id]


async def test_corrupt_state_file_is_rebuilt_from_the_calendar(
    harness: Harness,
    clock: SettlingClock,
    calendar: EmbeddedCalendar,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = await add_slot(calendar, "ada", START - minutes(5))
    await calendar.transition(held.id, Action.START, expected_version=1)  # woken before the crash
    waiting = await add_slot(calendar, "ada", START)
    stale = await StateStore.open(harness.state_path, clock=clock)
    await stale.save_channel("gone", "ada", 1)
    await stale.close()
    corrupt_page(harness.state_path, "wakes")  # a damaged page of our own file
    waker = RecordingWaker(clock)
    with caplog.at_level(logging.ERROR, logger="bot.core.state"):
        moderator = await harness.moderator(waker)
    assert any(
        str(harness.state_path) in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )
    assert list(harness.tmp_path.glob("state.db.corrupt-*"))
    snap = moderator.status("ada")
    assert snap.current is not None and snap.current.id == held.id  # rebuilt: busy
    assert waker.calls == []  # the held slot is not woken again, the waiting one waits
    assert (await calendar.get_slot(waiting.id)).status is SlotStatus.DEFERRED
    await moderator.apply_action(held.id, Action.COMPLETE, source="reply")
    await clock.advance(0)
    assert waker.world.delivered() == [waiting.id]


async def test_crash_before_a_failed_wake_was_given_back_retries_the_wake(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(1))
    flaky = FaultyCalendar(calendar, clock)

    class FailThenLoseCalendar(RecordingWaker):
        async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
            self.attempts.append((slot.id, self.clock.now()))
            flaky.fail(CallFault())  # the release that follows cannot reach the calendar
            return WakeResult.failure(self.name, "medium down")

    first = await harness.moderator(FailThenLoseCalendar(clock), calendar=flaky)
    await clock.advance(60)
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING  # not given back
    await harness.crash(first)
    unfinished = await _unfinished(harness, clock)
    assert [w.slot_id for w in unfinished] == [slot.id]  # so the next run finishes it

    waker = RecordingWaker(clock)
    await harness.moderator(waker)
    assert waker.world.delivered() == [slot.id]
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING


async def test_ends_seen_at_start_up_are_reported_only_for_our_channels(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    ours = await add_slot(calendar, "ada", START - minutes(30))
    theirs = await add_slot(calendar, "ada", START - minutes(20))
    for slot in (ours, theirs):
        await calendar.transition(slot.id, Action.START)
        await calendar.transition(slot.id, Action.COMPLETE)
    async with _state_file(harness, clock) as state:
        await state.save_channel(ours.id, "ada", 4242)  # we woke it before going down
    moderator = await harness.moderator(RecordingWaker(clock))
    assert [s.id for s in harness.ended] == [ours.id]
    link = await moderator.state.channel_link(ours.id)
    assert link is not None and link.ended_at == START


async def test_another_moderators_claim_one_version_on_is_not_taken_for_ours(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, intent: CrashedIntent
) -> None:
    slot = intent.slot
    # our claim never reached the calendar; another moderator's did, moving the
    # version exactly as ours would have (1 -> 2)
    await calendar.transition(
        slot.id, Action.START, expected_version=1, idempotency_key="the-other-moderator"
    )

    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    await clock.advance(120)
    assert waker.calls == []
    assert await moderator.state.wake_entry(slot.id) is None
    snap = moderator.status("ada")
    assert snap.current is not None and snap.current.id == slot.id  # busy, learnt, not woken
    assert ClaimConflict in harness.kinds() and WakeRecovered not in harness.kinds()
    assert await actions_of(calendar, slot.id, "start") == 1


async def test_a_refused_re_sent_claim_on_an_ended_slot_is_recorded_not_woken(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, intent: CrashedIntent
) -> None:
    slot = intent.slot
    await calendar.transition(slot.id, Action.START, idempotency_key="someone-else")
    await calendar.transition(slot.id, Action.COMPLETE)

    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    assert waker.calls == []
    entry = await moderator.state.wake_entry(slot.id)
    assert entry is not None and not entry.unfinished and entry.result is not None
    assert entry.result.ok is False and "FINISHED" in (entry.result.error or "")


async def another_moderator_claims(
    calendar: EmbeddedCalendar, slot_id: str, released: Slot | None
) -> None:
    """Our release of a failed wake landed; another moderator claims the slot at once."""
    assert released is not None
    await calendar.transition(
        slot_id, Action.START, expected_version=released.version, idempotency_key="m2"
    )


#: Our release lands, another moderator claims the slot at once, and this process dies
#: before it writes the release's result.
RELEASE_LANDS_THEN_DIED = CallFault(
    "transition",
    Action.RELEASE,
    after=True,
    error=ProcessDied,
    meanwhile=another_moderator_claims,
)


async def test_crash_after_giving_back_a_failed_wake_never_wakes_the_next_claimers_slot(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(1))
    released_then_taken_then_died = FaultyCalendar(calendar, clock, RELEASE_LANDS_THEN_DIED)
    first = await harness.moderator(
        RecordingWaker(clock, name="failing", failures=None),
        calendar=released_then_taken_then_died,
    )
    await clock.advance(60)
    held = await calendar.get_slot(slot.id)
    assert (held.status, held.version) == (SlotStatus.ONGOING, 4)  # start, release, m2's start
    await harness.crash(first)
    unfinished = await _unfinished(harness, clock)
    assert [(w.slot_id, w.claimed) for w in unfinished] == [(slot.id, False)]

    waker = RecordingWaker(clock)
    second = await harness.moderator(waker)
    await clock.advance(120)
    assert waker.calls == []  # our claim no longer holds it: m2 woke it, not us
    assert await second.state.wake_entry(slot.id) is None


async def test_our_claim_released_and_taken_by_another_moderator_is_not_woken_again(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START)
    async with _state_file(harness, clock) as state:
        key = await state.record_intent(slot.id, "ada", expected_version=slot.version)
        claimed = await calendar.transition(
            slot.id, Action.START, expected_version=slot.version, idempotency_key=key
        )
        await state.record_claim(slot.id, claimed.version)
    # we died before the wake's result; meanwhile a person released the slot and
    # another moderator claimed (and woke) it: ONGOING again, but not ours
    released = await calendar.transition(slot.id, Action.RELEASE, expected_version=claimed.version)
    await calendar.transition(
        slot.id, Action.START, expected_version=released.version, idempotency_key="m2"
    )

    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    await clock.advance(120)
    assert waker.calls == []  # on the status read alone: woken a second time
    assert await moderator.state.wake_entry(slot.id) is None
    snap = moderator.status("ada")
    assert snap.current is not None and snap.current.id == slot.id  # busy, not woken
    assert ClaimConflict in harness.kinds() and WakeRecovered not in harness.kinds()
    held = await calendar.get_slot(slot.id)
    assert (held.status, held.version) == (SlotStatus.ONGOING, claimed.version + 2)
