"""Changes made in a calendar app reach the moderator (DESIGN §10), against a real Radicale.

The app is raw HTTP on the server (`tests.caldav.app`); the moderator's side is
`CaldavCalendar` on its own clock (a `FakeClock`: "due" is asked of the copy at
chosen instants, and each poll is called by the test instead of waited for).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.caldav.calendar import CaldavCalendar
from bot.calendar.ics.convert import stable_id
from bot.core.calendar import SlotNotFound
from bot.core.clock import FakeClock
from bot.core.models import Action, HeartbeatStatus, SlotStatus
from testkit.radicale import DavHome
from tests.caldav.app import CalendarApp, event, ics_time
from tests.caldav.conftest import open_calendar

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW)


@pytest.fixture
async def moderator(dav_home: DavHome, clock: FakeClock) -> AsyncIterator[CaldavCalendar]:
    calendar = await open_calendar(dav_home, clock)
    try:
        yield calendar
    finally:
        await calendar.close()


async def due_ids(calendar: CaldavCalendar) -> set[str]:
    return {s.id for s in await calendar.heartbeat("ada", HeartbeatStatus.IDLE)}


async def test_an_event_made_in_the_app_is_due_at_its_time_and_not_before(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    app = CalendarApp(dav_home)
    at = NOW + timedelta(minutes=10)
    await app.put("ada", "standup", event("standup", f":{ics_time(at)}", "PRIORITY:1"))
    await moderator.poll_all()
    slot = await moderator.get_slot(stable_id("ada", "standup"))
    assert slot.scheduled_at == at and slot.priority == 90 and slot.title == "work"
    assert await due_ids(moderator) == set()
    await clock.advance(600)
    assert await due_ids(moderator) == {slot.id}


async def test_an_event_deleted_or_cancelled_in_the_app_is_never_due(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    app = CalendarApp(dav_home)
    at = f":{ics_time(NOW + timedelta(minutes=5))}"
    await app.put("ada", "gone", event("gone", at))
    await app.put("ada", "called-off", event("called-off", at))
    await moderator.poll_all()
    await app.delete("ada", "gone")
    await app.put("ada", "called-off", event("called-off", at, "STATUS:CANCELLED"))
    await moderator.poll_all()
    for uid in ("gone", "called-off"):
        slot = await moderator.get_slot(stable_id("ada", uid))
        assert slot.status is SlotStatus.CANCELLED
    await clock.advance(600)
    assert await due_ids(moderator) == set()


async def test_an_event_moved_in_the_app_is_due_at_its_new_time_not_the_old(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    app = CalendarApp(dav_home)
    old, new = NOW + timedelta(minutes=5), NOW + timedelta(minutes=30)
    await app.put("ada", "review", event("review", f":{ics_time(old)}"))
    await moderator.poll_all()
    await app.put("ada", "review", event("review", f":{ics_time(new)}"))
    await moderator.poll_all()
    slot = await moderator.get_slot(stable_id("ada", "review"))
    assert slot.scheduled_at == new
    await clock.advance(10 * 60)
    assert await due_ids(moderator) == set()
    await clock.advance(20 * 60)
    assert await due_ids(moderator) == {slot.id}


async def test_a_recurring_event_with_an_instance_changed_on_its_own(
    dav_home: DavHome, moderator: CaldavCalendar
) -> None:
    app = CalendarApp(dav_home)
    master = event(
        "daily",
        ";TZID=Europe/Berlin:20261207T100000",
        "RRULE:FREQ=DAILY;COUNT=5",
        "DURATION:PT30M",
    )
    moved = (
        "BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20261201T000000Z\r\n"
        "RECURRENCE-ID;TZID=Europe/Berlin:20261209T100000\r\n"
        "DTSTART;TZID=Europe/Berlin:20261209T150000\r\nSUMMARY:later today\r\nEND:VEVENT\r\n"
    )
    await app.put("ada", "daily", master.replace("END:VCALENDAR", moved + "END:VCALENDAR"))
    await moderator.poll_all()
    slots = await moderator.list_range("ada", NOW, NOW + timedelta(days=7))
    starts = [s.scheduled_at.astimezone(TZ).strftime("%d %H:%M") for s in slots]
    assert starts == ["07 10:00", "08 10:00", "09 15:00", "10 10:00", "11 10:00"]
    assert [s.title for s in slots][2] == "later today"
    assert {s.series_id for s in slots} == {stable_id("ada", "daily")}


async def test_floating_and_zoned_times_and_an_all_day_event_skipped_with_a_log_line(
    dav_home: DavHome, moderator: CaldavCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    app = CalendarApp(dav_home)
    await app.put("ada", "floating", event("floating", ":20261207T120000"))
    await app.put("ada", "zoned", event("zoned", ";TZID=America/New_York:20261207T120000"))
    await app.put("ada", "allday", event("allday", ";VALUE=DATE:20261208"))
    with caplog.at_level(logging.WARNING):
        await moderator.poll_all()
    floating = await moderator.get_slot(stable_id("ada", "floating"))
    zoned = await moderator.get_slot(stable_id("ada", "zoned"))
    assert floating.scheduled_at == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # Berlin's noon
    assert zoned.scheduled_at == datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    lines = [r.getMessage() for r in caplog.records if "allday" in r.getMessage()]
    assert lines and "all-day" in lines[0]


async def test_events_due_before_the_collection_was_first_seen_are_history(
    dav_home: DavHome, clock: FakeClock
) -> None:
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    await app.put("ada", "old", event("old", f":{ics_time(NOW - timedelta(hours=2))}"))
    calendar = await open_calendar(dav_home, clock)
    try:
        old = await calendar.get_slot(stable_id("ada", "old"))
        assert old.status is SlotStatus.FINISHED and old.note and "history" in old.note
        # Due after the moderator first looked, but added late: not history, it is due.
        await clock.advance(3600)
        late = NOW + timedelta(minutes=30)
        await app.put("ada", "late", event("late", f":{ics_time(late)}"))
        await calendar.poll_all()
        assert stable_id("ada", "late") in await due_ids(calendar)
    finally:
        await calendar.close()


async def test_a_restart_keeps_first_seen_and_what_the_moderator_did(
    dav_home: DavHome, clock: FakeClock, tmp_path: Path
) -> None:
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    at = NOW + timedelta(minutes=5)
    await app.put("ada", "job", event("job", f":{ics_time(at)}"))
    copy = tmp_path / "state.db.caldav.db"
    calendar = await open_calendar(dav_home, clock, copy)
    slot_id = stable_id("ada", "job")
    try:
        await clock.advance(600)
        await calendar.transition(slot_id, Action.START, idempotency_key="claim-1")
        await calendar.transition(slot_id, Action.COMPLETE, note="done")
    finally:
        await calendar.close()
    # A new copy file and ledger: everything comes back from the server's events.
    fresh = await open_calendar(dav_home, clock, tmp_path / "other.db")
    try:
        slot = await fresh.get_slot(slot_id)
        assert slot.status is SlotStatus.FINISHED and slot.note == "done"
    finally:
        await fresh.close()
    again = await open_calendar(dav_home, clock, copy)
    try:
        assert (await again.get_slot(slot_id)).status is SlotStatus.FINISHED
    finally:
        await again.close()


async def test_after_a_restart_every_event_can_be_claimed_and_what_went_meanwhile_is_gone(
    dav_home: DavHome, clock: FakeClock, tmp_path: Path
) -> None:
    """The copy's index of which event is in which resource is rebuilt by each process: an
    event untouched since the last run is claimed as any other, and one deleted in the app
    while the moderator was down is retired, not woken."""
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    at = NOW + timedelta(minutes=5)
    for name in ("kept", "deleted", "moved"):
        await app.put("ada", name, event(name, f":{ics_time(at)}"))
    copy = tmp_path / "state.db.caldav.db"
    first = await open_calendar(dav_home, clock, copy)
    await first.close()
    await clock.advance(60)  # the restart takes a while; the copy's rows are older than it
    await app.delete("ada", "deleted")
    later = at + timedelta(minutes=1)
    await app.put("ada", "moved", event("moved", f":{ics_time(later)}"))
    again = await open_calendar(dav_home, clock, copy)
    try:
        await clock.advance(600)
        assert await due_ids(again) == {stable_id("ada", "kept"), stable_id("ada", "moved")}
        assert (await again.get_slot(stable_id("ada", "moved"))).scheduled_at == later
        claimed = await again.transition(
            stable_id("ada", "kept"), Action.START, idempotency_key="claim-kept"
        )
        assert claimed.status is SlotStatus.ONGOING
        assert "X-MODERATOR-STATUS:ONGOING" in (await app.get("ada", "kept") or "")
    finally:
        await again.close()


async def test_the_poll_loop_copies_app_changes_every_poll_interval(
    dav_home: DavHome, clock: FakeClock
) -> None:
    """The loop of the opened calendar, on the fake clock: nothing before `poll_s`, the
    event once it has passed (the poll itself is real I/O, waited for)."""
    calendar = await open_calendar(dav_home, clock, poll_s=10)
    try:
        await CalendarApp(dav_home).put("ada", "later", event("later", ":20261208T090000Z"))
        slot_id = stable_id("ada", "later")
        await clock.advance(9)
        with pytest.raises(SlotNotFound):
            await calendar.get_slot(slot_id)
        await clock.advance(1)
        for _ in range(400):  # real I/O on a loaded machine: up to 20 s
            try:
                slot = await calendar.get_slot(slot_id)
                break
            except SlotNotFound:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the poll loop did not copy the event")
        assert slot.status is SlotStatus.NOT_STARTED
    finally:
        await calendar.close()
