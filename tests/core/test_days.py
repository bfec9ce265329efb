"""The `TIMEZONE` day: rollover at local midnight, carried slots, DST change days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.events import DayRolledOver
from bot.core.models import Action, SlotStatus
from bot.core.rules import next_midnight
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import Harness, add_slot, minutes


async def test_rollover_at_midnight_carries_current_and_unfinished_slots(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    evening = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    await clock.set(evening)
    current = await add_slot(calendar, "ada", evening, minutes=600)
    unfinished = await add_slot(calendar, "ada", evening + minutes(90))  # 23:30
    tomorrow = await add_slot(calendar, "ada", evening + minutes(150))  # 00:30
    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker, check_interval_s=3600)
    scheduler = moderator.scheduler("ada")
    assert waker.world.delivered() == [current.id]
    assert [s.id for s in await moderator.schedule("ada", date(2026, 3, 2))] == [
        current.id,
        unfinished.id,
    ]

    await clock.set(datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC))
    assert scheduler.cache.day == date(2026, 3, 2)
    assert (await calendar.get_slot(unfinished.id)).status is SlotStatus.DEFERRED
    await clock.advance(1)
    rollovers = [e for e in harness.events if isinstance(e, DayRolledOver)]
    assert [e.at for e in rollovers] == [datetime(2026, 3, 3, tzinfo=UTC)]
    assert scheduler.cache.day == date(2026, 3, 3)
    today = [s.id for s in await moderator.schedule("ada", date(2026, 3, 3))]
    assert today == [current.id, unfinished.id, tomorrow.id]  # carried + the new day
    assert moderator.status("ada").current is not None

    await clock.advance(10 * 60)
    await moderator.apply_action(current.id, Action.COMPLETE, source="reply")
    await clock.advance(0)
    assert waker.world.delivered() == [current.id, unfinished.id]  # yesterday's, still owed
    await moderator.apply_action(unfinished.id, Action.COMPLETE, source="reply")
    await clock.advance(20 * 60)
    assert waker.world.times()[tomorrow.id] == datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    # ended carried slots are written off the cache
    assert [s.id for s in await moderator.schedule("ada", date(2026, 3, 3))] == [tomorrow.id]


# (zone, the evening's local date, the UTC instant of the next local midnight)
ZONES = [
    pytest.param(
        "America/New_York",
        date(2026, 3, 8),
        datetime(2026, 3, 9, 4, tzinfo=UTC),
        id="NY-spring-forward",
    ),
    pytest.param(
        "America/New_York",
        date(2026, 11, 1),
        datetime(2026, 11, 2, 5, tzinfo=UTC),
        id="NY-fall-back",
    ),
    pytest.param(
        "Asia/Shanghai", date(2026, 3, 8), datetime(2026, 3, 8, 16, tzinfo=UTC), id="Shanghai"
    ),
]


@pytest.mark.parametrize(("zone", "day", "midnight"), ZONES)
async def test_day_boundaries_follow_the_calendar_time_zone(
    harness: Harness, clock: SettlingClock, zone: str, day: date, midnight: datetime
) -> None:
    tz = ZoneInfo(zone)
    assert next_midnight(datetime.combine(day, datetime.min.time(), tzinfo=tz), tz) == midnight
    cal = await EmbeddedCalendar.open(":memory:", timezone=tz, clock=clock)
    try:

        def local(d: date, h: int, m: int) -> datetime:
            return datetime(d.year, d.month, d.day, h, m, tzinfo=tz)

        early = await add_slot(cal, "ada", local(day, 0, 30), minutes=5)  # first hour of the day
        late = await add_slot(cal, "ada", local(day, 23, 30), minutes=5)
        next_day = day + timedelta(days=1)
        after = await add_slot(cal, "ada", local(next_day, 0, 30), minutes=5)
        assert late.scheduled_at < midnight <= after.scheduled_at

        await clock.set(local(day, 22, 0).astimezone(UTC))
        waker = RecordingWaker(clock)
        moderator = await harness.moderator(waker, calendar=cal, timezone=tz, check_interval_s=3600)
        scheduler = moderator.scheduler("ada")
        assert scheduler.cache.day == day
        # the early slot of the day is woken at start-up (late, no misfire limit)
        assert waker.world.delivered() == [early.id]
        assert [s.id for s in await moderator.schedule("ada", day)] == [early.id, late.id]
        assert [s.id for s in await moderator.schedule("ada", next_day)] == [after.id]
        await moderator.apply_action(early.id, Action.COMPLETE, source="reply")

        await clock.set(late.scheduled_at.astimezone(UTC))
        assert waker.world.times()[late.id] == late.scheduled_at
        await moderator.apply_action(late.id, Action.COMPLETE, source="reply")

        await clock.set(midnight - timedelta(seconds=1))
        assert scheduler.cache.day == day
        await clock.advance(1)
        assert scheduler.cache.day == next_day
        assert [e.at for e in harness.events if isinstance(e, DayRolledOver)] == [midnight]
        assert [s.id for s in await moderator.schedule("ada", next_day)] == [after.id]

        await clock.set(after.scheduled_at.astimezone(UTC))
        assert waker.world.times()[after.id] == after.scheduled_at
    finally:
        await harness.close()
        await cal.close()
