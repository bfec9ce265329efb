"""A collection full of what an app or a sync tool may leave there, on a real Radicale (§10).

Thousands of good events (loaded with one PUT of a whole calendar onto the
collection, which Radicale splits by UID), next to a 10 MB DESCRIPTION, an
unknown TZID and an RRULE every minute: the moderator's copy holds every good
event, each bad one is skipped with a log line naming its UID and why, and the
calendar keeps working (a claim on a good event is won and written back).

An event without DTSTART never reaches the moderator from Radicale: the server
refuses it on PUT and skips it when planted in its folder (the moderator's own
refusal of it is a test of `plan_object`, tests/caldav/test_objects.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.calendar.ics.convert import stable_id
from bot.core.calendar import SlotNotFound
from bot.core.clock import FakeClock
from bot.core.models import Action, SlotStatus
from testkit.radicale import DavHome
from tests.caldav.app import CalendarApp, event, ics_time
from tests.caldav.conftest import open_calendar

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
FIRST = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
GOOD_EVENTS = 2000
TEN_MB = 10 * 1024 * 1024
#: (file name, UID, what its log line says) of each event the moderator must skip.
BAD = [
    ("huge", "huge-description@app", "over the limit"),
    ("zone", "mars-zone@app", "unknown TZID 'Mars/Olympus'"),
    ("every-minute", "every-minute@app", "RRULE finer than hourly"),
]


def whole_calendar(count: int) -> str:
    """One VCALENDAR of `count` events, a minute apart from `FIRST`, UIDs bulk-0, bulk-1, …"""
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:bulk-{n}\r\nDTSTAMP:20261201T000000Z\r\n"
        f"DTSTART:{ics_time(FIRST + timedelta(minutes=n))}\r\nDURATION:PT1M\r\n"
        f"SUMMARY:job {n}\r\nEND:VEVENT\r\n"
        for n in range(count)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bulk//EN\r\n{events}END:VCALENDAR\r\n"


async def test_the_good_events_are_all_there_and_each_bad_one_is_skipped_by_name(
    dav_home: DavHome, caplog: pytest.LogCaptureFixture
) -> None:
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    status, _, body = await app.try_put(f"{dav_home.url}ada/", whole_calendar(GOOD_EVENTS))
    assert status in (200, 201, 204), (status, body[:300])
    at = f":{ics_time(FIRST)}"
    texts = {
        "huge": event("huge-description@app", at, "DESCRIPTION:" + "x" * TEN_MB),
        "zone": event("mars-zone@app", ";TZID=Mars/Olympus:20261208T100000"),
        "every-minute": event("every-minute@app", at, "RRULE:FREQ=MINUTELY"),
    }
    for name, text in texts.items():
        await app.put("ada", name, text)
    no_start = event("no-start@app", at).replace(f"DTSTART{at}\r\n", "")
    status, _, _ = await app.try_put(app.href("ada", "no-start"), no_start)
    assert status == 400  # Radicale: "missing DTSTART"
    (dav_home.storage / "ada" / "no-start.ics").write_text(no_start, encoding="utf-8")

    clock = FakeClock(start=NOW)
    with caplog.at_level(logging.WARNING, logger="bot.calendar.caldav"):
        # Radicale's first sync of the collection reads every event (2.5 s here when the
        # machine is idle); a loaded machine may take longer than the default 10 s.
        calendar = await open_calendar(dav_home, clock, poll_s=10**6, timeout_s=60)
    try:
        slots = await calendar.list_range("ada", NOW, NOW + timedelta(days=3))
        assert len(slots) == GOOD_EVENTS
        assert {s.id for s in slots} == {stable_id("ada", f"bulk-{n}") for n in range(GOOD_EVENTS)}
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        for name, uid, why in BAD:
            assert any(uid in line and why in line for line in lines), (name, lines)
            with pytest.raises(SlotNotFound):
                await calendar.get_slot(stable_id("ada", uid))
        assert all(len(line) < 1000 for line in lines)  # never the description itself
        with pytest.raises(SlotNotFound):
            await calendar.get_slot(stable_id("ada", "no-start@app"))

        # The calendar keeps working: a claim is won and written back, a new event arrives.
        await clock.advance((FIRST - NOW).total_seconds())
        first = stable_id("ada", "bulk-0")
        won = await calendar.transition(first, Action.START, idempotency_key="claim-1")
        assert won.status is SlotStatus.ONGOING
        stored = await app.get("ada", "bulk-0")
        assert stored is not None and "X-MODERATOR-CLAIM:claim-1" in stored
        later = FIRST + timedelta(days=1, hours=12)
        await app.put("ada", "late", event("late", f":{ics_time(later)}"))
        await calendar.poll_all()
        assert (await calendar.get_slot(stable_id("ada", "late"))).scheduled_at == later
    finally:
        await calendar.close()
