"""Slots first seen late (DESIGN §4): planned or moved into the past, left over from before
midnight across a restart, or aborted as a misfire while the calendar hiccups; on the real
embedded calendar, the real state file and the production timers (fake clock). From a
review of the core: the first two failed before misfire lateness counted from planning."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, SlotStatus
from testkit.calendars import CallFault, FaultyCalendar
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import START, Harness, add_slot, minutes


async def test_a_slot_created_already_past_its_time_is_woken_not_misfired(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    moderator = await harness.moderator(waker, misfire_grace_s=60)
    # a person plans "now" with a time 10 minutes ago: due from its making, not late from its time
    made_late = await add_slot(calendar, "ada", START - minutes(10))
    await moderator.sync_all()
    await clock.advance(0)
    assert (await calendar.get_slot(made_late.id)).status is SlotStatus.ONGOING
    assert waker.world.delivered() == [made_late.id]


async def test_a_slot_moved_from_another_day_into_the_past_is_woken_at_once(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    tomorrow = await add_slot(calendar, "ada", START + timedelta(days=1))
    moderator = await harness.moderator(waker, misfire_grace_s=60)
    await clock.advance(2 * 3600)  # 11:00; the slot is not in today's cache
    await moderator.move_slot(tomorrow.id, START + timedelta(hours=1, minutes=50))  # 10:50
    await moderator.sync_all()
    await clock.advance(0)
    assert (await calendar.get_slot(tomorrow.id)).status is SlotStatus.ONGOING
    assert waker.world.delivered() == [tomorrow.id]


async def test_a_restart_after_midnight_wakes_yesterdays_2359_slot_once(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    """Down across midnight: yesterday's pending 23:59 slot is not in today's listing and a
    fresh cache carries nothing; the heartbeat's due slots bring it back, woken once."""
    evening = await add_slot(calendar, "ada", START.replace(hour=23, minute=59))
    await clock.set(START.replace(hour=23, minute=59) + minutes(11))  # 00:10 the next day
    moderator = await harness.moderator(waker)
    await clock.advance(120)
    await moderator.sync_all()
    await clock.advance(60)
    assert waker.wakes == Counter({evening.id: 1})
    assert (await calendar.get_slot(evening.id)).status is SlotStatus.ONGOING


async def test_a_misfire_abort_lost_to_a_hiccup_is_retried_not_lost_behind_the_etag(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    """The misfire abort fails: the slot leaves the cache 'to be seen again as new', but the
    day's ETag has not changed (304). The heartbeat's due slots must bring it back."""
    flaky = FaultyCalendar(calendar, clock, CallFault(method="transition", action=Action.ABORT))
    late = await add_slot(calendar, "ada", START + minutes(1))  # planned in time...
    await clock.advance(31 * 60)  # ...first seen 30 min after it
    moderator = await harness.moderator(waker, calendar=flaky, misfire_grace_s=60)
    assert (await calendar.get_slot(late.id)).status is SlotStatus.NOT_STARTED
    assert flaky.hit_times()  # the abort was tried and lost
    assert late.id not in moderator.scheduler("ada").cache
    flaky.heal()
    await clock.advance(60)
    await moderator.sync_all()
    await clock.advance(60)
    assert (await calendar.get_slot(late.id)).status is SlotStatus.ABORTED
    assert waker.calls == []
