"""ScheduleCache: the diff merge, the version guard, the time index, rollover."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.cache import ScheduleCache, selection_key
from bot.core.models import DaySchedule, Slot, SlotStatus
from tests.core.conftest import START, add_slot

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = date(2026, 3, 2)


def slot(
    sid: str,
    minutes: int = 0,
    *,
    version: int = 1,
    status: SlotStatus = SlotStatus.NOT_STARTED,
    priority: int = 50,
    agent: str = "ada",
) -> Slot:
    return Slot(
        id=sid,
        agent_id=agent,
        scheduled_at=T0 + timedelta(minutes=minutes),
        priority=priority,
        status=status,
        version=version,
        updated_at=T0,
    )


def day(*slots: Slot, on: date = DAY) -> DaySchedule:
    return DaySchedule(date=on, agent_id="ada", timezone="UTC", slots=list(slots))


def cache() -> ScheduleCache:
    return ScheduleCache("ada", ZoneInfo("UTC"), day=DAY)


def test_merge_reports_created_updated_deleted() -> None:
    c = cache()
    first = c.merge(day(slot("a"), slot("b", 10)), synced_at=T0)
    assert [s.id for s in first.created] == ["a", "b"]
    assert first.updated == () and first.deleted == ()
    assert c.last_sync_at == T0

    second = c.merge(day(slot("a", version=2, status=SlotStatus.DEFERRED), slot("c", 20)))
    assert [s.id for s in second.created] == ["c"]
    assert [
        (u.before.version, u.after.version) for u in second.updated if u.before and u.after
    ] == [(1, 2)]
    assert [s.id for s in second.deleted] == ["b"]
    assert c.get("b") is None
    assert {s.id for s in c.get_all()} == {"a", "c"}


def test_an_older_version_never_overwrites_a_newer_local_one() -> None:
    c = cache()
    c.merge(day(slot("a")))
    claimed = slot("a", version=2, status=SlotStatus.ONGOING)
    assert c.put(claimed) is not None
    # a sync that read the calendar before our claim answers the old version
    diff = c.merge(day(slot("a", version=1)))
    assert not diff.changed
    assert c.get("a") == claimed
    assert c.put(slot("a", version=2)) is None  # same version: no change either
    assert c.active_slot() == claimed


def test_merge_keeps_other_days_and_the_active_slot() -> None:
    c = cache()
    yesterday = slot("y", -24 * 60, status=SlotStatus.DEFERRED, version=2)
    c.put(yesterday)
    c.merge(day(slot("a", version=2, status=SlotStatus.ONGOING)))
    diff = c.merge(day())  # the calendar lists nothing for today now
    assert c.get("y") == yesterday  # other day: untouched
    assert c.get("a") is not None  # active: a listing cannot take it away
    assert diff.deleted == ()


def test_due_slots_come_from_the_time_index() -> None:
    c = cache()
    c.merge(
        day(
            slot("late", 30),
            slot("early", -30),
            slot("now", 0),
            slot("going", -60, status=SlotStatus.ONGOING, version=2),
            slot("done", -90, status=SlotStatus.FINISHED, version=3),
        )
    )
    assert [s.id for s in c.get_due_slots(T0)] == ["early", "now"]
    assert c.has_due(T0)
    assert not c.has_due(T0 - timedelta(minutes=31))
    assert c.next_due_at() == T0 - timedelta(minutes=30)
    assert c.next_due_at(after=T0) == T0 + timedelta(minutes=30)
    assert c.next_due_at(after=T0 + timedelta(minutes=30)) is None
    assert c.pending_count == 3
    # a status change moves the slot out of the index
    c.put(slot("early", -30, version=2, status=SlotStatus.ONGOING))
    assert [s.id for s in c.get_due_slots(T0)] == ["now"]
    c.update_slot("now", {"status": SlotStatus.ABORTED})
    assert c.get_due_slots(T0) == []
    with pytest.raises(KeyError):
        c.update_slot("missing", {"priority": 1})


def test_rescheduling_moves_a_slot_in_the_index() -> None:
    c = cache()
    c.merge(day(slot("a", 0), slot("b", 10)))
    c.put(slot("a", 20, version=2, status=SlotStatus.DEFERRED))
    assert [s.id for s in c.get_due_slots(T0 + timedelta(minutes=15))] == ["b"]
    assert c.next_due_at() == T0 + timedelta(minutes=10)


def test_selection_order_is_priority_then_time_then_id() -> None:
    slots = [
        slot("b", 5, priority=80),
        slot("a", 5, priority=80),
        slot("c", 0, priority=80),
        slot("z", -10, priority=10),
        slot("top", 20, priority=99),
    ]
    assert [s.id for s in sorted(slots, key=selection_key)] == ["top", "c", "a", "b", "z"]


def test_rollover_carries_unfinished_and_current_slots() -> None:
    c = cache()
    c.merge(
        day(
            slot("open", 60),
            slot("held", 30, status=SlotStatus.PAUSED, version=3),
            slot("done", 0, status=SlotStatus.FINISHED, version=2),
        )
    )
    carried = c.roll_to(DAY + timedelta(days=1))
    assert [s.id for s in carried] == ["held", "open"]
    assert c.day == DAY + timedelta(days=1)
    assert c.get("done") is None
    assert [s.id for s in c.carried()] == ["held", "open"]
    # the new day's listing does not delete carried slots
    c.merge(day(on=DAY + timedelta(days=1)))
    assert {s.id for s in c.get_all()} == {"held", "open"}


def test_local_day_follows_the_time_zone() -> None:
    c = ScheduleCache("ada", ZoneInfo("Asia/Shanghai"), day=DAY)
    late_utc = slot("a", 7 * 60 + 30)  # 16:30 UTC on the 2nd is 00:30 on the 3rd in Shanghai
    assert c.day_of(late_utc) == DAY + timedelta(days=1)
    assert c.day_of(slot("b", 7 * 60 - 1)) == DAY


def test_slots_of_another_agent_are_refused() -> None:
    c = cache()
    with pytest.raises(ValueError, match="belongs to bob"):
        c.put(slot("x", agent="bob"))
    diff = c.merge(day(slot("x", agent="bob")))
    assert not diff.changed


async def test_sync_fetches_the_day_and_honours_the_etag(calendar: EmbeddedCalendar) -> None:
    first = await add_slot(calendar, "ada", START)
    c = ScheduleCache("ada", ZoneInfo("UTC"))
    diff = await c.sync(calendar, START.date(), at=START)
    assert [s.id for s in diff.created] == [first.id] and not diff.not_modified
    assert c.day == START.date() and c.etag is not None
    again = await c.sync(calendar, START.date(), at=START + timedelta(minutes=5))
    assert again.not_modified and not again.changed
    assert c.last_sync_at == START + timedelta(minutes=5)
    second = await add_slot(calendar, "ada", START + timedelta(hours=1))
    moved = await c.sync(calendar, START.date())
    assert [s.id for s in moved.created] == [second.id]
    c.roll_to(START.date() + timedelta(days=1))
    assert c.etag is None
