"""The ICS feed (DESIGN §10): a standard expander gives the calendar's own range list.

`recurring-ical-events` expands the feed; every instant, id and status it
yields in the window must be the range list's, across both DST changes of
Europe/Berlin (series at 02:30 hit the spring gap and the autumn fold).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from bot.calendar.ics.export import Window, agent_feed, ics_priority
from bot.calendar.store import EmbeddedCalendar
from bot.core.clock import FakeClock
from bot.core.models import Action, SeriesCreate, SeriesEdit, Slot, SlotCreate, SlotEdit
from bot.core.series import OCCURRENCE_STAMP

BERLIN = ZoneInfo("Europe/Berlin")
AGENT = "a1"
Seen = tuple[datetime, str, str]


def expanded(ics: bytes, window: Window) -> list[Seen]:
    """(instant, slot id, status) of every instance the feed holds in `window`."""
    calendar = icalendar.Calendar.from_ical(ics)
    series = {str(e["UID"]) for e in calendar.walk("VEVENT") if e.get("RRULE") is not None}
    seen: list[Seen] = []
    for event in recurring_ical_events.of(calendar).between(window.start, window.end):
        uid = str(event["UID"])
        if uid in series:
            nominal = event["RECURRENCE-ID"].dt.replace(tzinfo=None)
            uid = f"{uid}_{nominal.strftime(OCCURRENCE_STAMP)}"
        start = event["DTSTART"].dt.astimezone(UTC)
        seen.append((start, uid, str(event["X-MODERATOR-STATUS"])))
    return sorted(seen)


def listed(slots: list[Slot]) -> list[Seen]:
    return sorted((s.scheduled_at.astimezone(UTC), s.id, s.status.value) for s in slots)


async def open_at(moment: datetime) -> tuple[EmbeddedCalendar, FakeClock]:
    clock = FakeClock(start=moment.astimezone(UTC))
    return await EmbeddedCalendar.open(":memory:", timezone=BERLIN, clock=clock), clock


@pytest.fixture
async def calendars() -> AsyncIterator[list[EmbeddedCalendar]]:
    opened: list[EmbeddedCalendar] = []
    yield opened
    for calendar in opened:
        await calendar.close()


async def plan(calendar: EmbeddedCalendar, clock: FakeClock, dst_day: datetime) -> None:
    """Series and slots around `dst_day`, some changed on their own, some already past."""
    begin = (dst_day - timedelta(days=5)).strftime("%Y-%m-%d")

    def series(rrule: str, at: str, title: str) -> SeriesCreate:
        return SeriesCreate(agent_id=AGENT, rrule=rrule, start=f"{begin}T{at}", title=title)

    await calendar.create_series(series("FREQ=DAILY", "02:30", "in the gap and the fold"))
    weekly = await calendar.create_series(series("FREQ=WEEKLY;BYDAY=MO,WE,FR", "09:00", "standup"))
    ending = await calendar.create_series(series("FREQ=DAILY;COUNT=20", "18:00", "short run"))
    until = (dst_day + timedelta(days=30)).strftime("%Y%m%dT%H%M%SZ")
    await calendar.create_series(
        SeriesCreate(
            agent_id=AGENT,
            rrule=f"FREQ=DAILY;INTERVAL=2;UNTIL={until}",
            start=f"{begin}T07:15",
            timezone="America/New_York",
            title="other zone",
        )
    )
    for days, hour in ((-3, 10), (0, 2), (0, 3), (1, 12), (20, 8)):
        at = (dst_day + timedelta(days=days)).replace(hour=hour, minute=30, tzinfo=BERLIN)
        await calendar.create_slot(
            SlotCreate(agent_id=AGENT, scheduled_at=at, title=f"single {days}", priority=80)
        )
    await clock.advance(4 * 86400)  # the first instances are now past (superseded)
    now = clock.now()
    ahead = await calendar.list_range(AGENT, now, now + timedelta(days=10))
    occurrences = [s for s in ahead if s.series_id == weekly.id]
    await calendar.edit_slot(occurrences[0].id, SlotEdit(scheduled_at=now + timedelta(days=40)))
    await calendar.edit_slot(occurrences[1].id, SlotEdit(title="moved standup", priority=5))
    await calendar.transition(occurrences[2].id, Action.CANCEL, note="holiday")
    far = [s for s in await calendar.list_range(AGENT, now, now + timedelta(days=60))]
    skipped = next(s for s in far if s.series_id == weekly.id and s.id.endswith("T090000"))
    stamp = skipped.id.rpartition("_")[2]
    wall = datetime.strptime(stamp, OCCURRENCE_STAMP).isoformat()
    await calendar.edit_series(weekly.id, SeriesEdit(exdates=[wall]))
    first = next(s for s in far if s.series_id is None)
    await calendar.transition(first.id, Action.CANCEL)
    await calendar.end_series(ending.id)


@pytest.mark.parametrize(
    "dst_day",
    [datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 10, 25, tzinfo=BERLIN)],
    ids=["spring", "autumn"],
)
async def test_expanded_feed_is_the_range_list(
    calendars: list[EmbeddedCalendar], dst_day: datetime
) -> None:
    calendar, clock = await open_at(dst_day - timedelta(days=6))
    calendars.append(calendar)
    await plan(calendar, clock, dst_day)
    now = clock.now()
    window = Window.around(now)
    ics = await agent_feed(calendar, AGENT, window, timezone=BERLIN, stamp=now)
    truth = await calendar.list_range(AGENT, window.start, window.end)
    assert len(truth) > 60
    assert {s.status.value for s in truth} >= {"NOT_STARTED", "CANCELLED", "ABORTED"}
    assert expanded(ics, window) == listed(truth)


async def test_fields_of_a_slot(calendars: list[EmbeddedCalendar]) -> None:
    moment = datetime(2026, 6, 1, 9, tzinfo=BERLIN)
    calendar, _ = await open_at(moment)
    calendars.append(calendar)
    slot = await calendar.create_slot(
        SlotCreate(
            agent_id=AGENT,
            scheduled_at=moment + timedelta(hours=2),
            title="Review, PR; 12",
            prompt="line one\nline two, with commas; and semicolons",
            priority=73,
            estimated_duration_min=45,
        )
    )
    await calendar.transition(slot.id, Action.CANCEL)
    ics = await agent_feed(calendar, AGENT, Window.around(moment), timezone=BERLIN, stamp=moment)
    (event,) = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert str(event["UID"]) == slot.id
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["DTSTART"].dt == moment + timedelta(hours=2)
    assert event["DURATION"].dt == timedelta(minutes=45)
    assert str(event["SUMMARY"]) == "Review, PR; 12"
    assert str(event["DESCRIPTION"]) == "line one\nline two, with commas; and semicolons"
    assert int(event["PRIORITY"]) == 3
    assert str(event["X-MODERATOR-PRIORITY"]) == "73"
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["X-MODERATOR-STATUS"]) == "CANCELLED"
    assert b"BEGIN:VTIMEZONE" in ics and b"TZID:Europe/Berlin" in ics


def test_priority_mapping() -> None:
    assert [ics_priority(p) for p in (100, 95, 90, 50, 10, 0)] == [1, 1, 1, 5, 9, 9]


async def test_series_until_is_written_in_utc(calendars: list[EmbeddedCalendar]) -> None:
    moment = datetime(2026, 6, 1, 9, tzinfo=BERLIN)
    calendar, _ = await open_at(moment)
    calendars.append(calendar)
    await calendar.create_series(
        SeriesCreate(
            agent_id=AGENT, rrule="FREQ=DAILY;UNTIL=20260610T090000", start="2026-06-02T09:00"
        )
    )
    ics = await agent_feed(calendar, AGENT, Window.around(moment), timezone=BERLIN, stamp=moment)
    assert b"UNTIL=20260610T070000Z" in ics


async def test_an_ended_series_ends_at_its_last_instance(
    calendars: list[EmbeddedCalendar],
) -> None:
    moment = datetime(2026, 6, 1, 12, tzinfo=BERLIN)
    calendar, clock = await open_at(moment)
    calendars.append(calendar)
    series = await calendar.create_series(
        SeriesCreate(agent_id=AGENT, rrule="FREQ=DAILY;COUNT=50", start="2026-06-01T13:00")
    )
    await clock.advance(3 * 86400)
    await calendar.end_series(series.id)
    now = clock.now()
    ics = await agent_feed(calendar, AGENT, Window.around(now), timezone=BERLIN, stamp=now)
    assert b"RRULE:FREQ=DAILY;UNTIL=20260603T110000Z" in ics
