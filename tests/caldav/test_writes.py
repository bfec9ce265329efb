"""The moderator's writes to a CalDAV calendar (DESIGN §10), against a real Radicale.

Claims are conditional PUTs: two moderators over one calendar wake nothing
twice, an app's edit during a claim takes the 412 path and keeps the edit,
and while the server is away nothing is claimed, lost or doubled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from bot.calendar.caldav.calendar import CaldavCalendar
from bot.calendar.ics.convert import stable_id
from bot.core.calendar import CalendarUnavailable, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, SeriesCreate, Slot, SlotCreate, SlotEdit, SlotStatus
from testkit.radicale import DavHome, RadicaleServer
from tests.caldav.app import CalendarApp, event, ics_time
from tests.caldav.conftest import open_calendar
from tests.caldav.test_app_changes import NOW

AT = NOW + timedelta(minutes=5)
#: The slot of the event "job" the `two` fixture puts up for Ada.
JOB = stable_id("ada", "job")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW)


@asynccontextmanager
async def two_moderators(
    home: DavHome, clock: FakeClock
) -> AsyncIterator[tuple[CaldavCalendar, CaldavCalendar]]:
    """Two moderators, each with its own copy, over one home; closed whatever the test did."""
    first, second = await open_calendar(home, clock), await open_calendar(home, clock)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def claim_job(calendar: CaldavCalendar, clock: FakeClock) -> Slot:
    """The job falls due and `calendar` claims it (key "claim-a")."""
    await clock.advance(600)
    return await calendar.transition(JOB, Action.START, idempotency_key="claim-a")


@pytest.fixture
async def two(dav_home: DavHome, clock: FakeClock) -> AsyncIterator[list[CaldavCalendar]]:
    """Two moderators over one home where Ada has the event "job"."""
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    await app.put("ada", "job", event("job", f":{ics_time(AT)}"))
    async with two_moderators(dav_home, clock) as calendars:
        yield list(calendars)


async def test_a_claim_is_written_back_and_the_second_moderator_loses_it(
    dav_home: DavHome, two: list[CaldavCalendar], clock: FakeClock
) -> None:
    first, second = two
    won = await claim_job(first, clock)
    assert won.status is SlotStatus.ONGOING
    with pytest.raises(TransitionConflict):
        await second.transition(JOB, Action.START, idempotency_key="claim-b")
    stored = await CalendarApp(dav_home).get("ada", "job")
    assert stored is not None
    assert "X-MODERATOR-STATUS:ONGOING" in stored and "X-MODERATOR-CLAIM:claim-a" in stored
    # The winner asking again with its key is answered, not refused (a lost answer).
    again = await first.transition(JOB, Action.START, idempotency_key="claim-a")
    assert again.status is SlotStatus.ONGOING
    done = await first.transition(JOB, Action.COMPLETE, note="all good")
    assert done.status is SlotStatus.FINISHED
    await second.poll_all()
    seen = await second.get_slot(JOB)
    assert seen.status is SlotStatus.FINISHED and seen.note == "all good"


async def test_an_app_edit_during_a_claim_takes_the_412_path_and_keeps_the_edit(
    dav_home: DavHome, two: list[CaldavCalendar], clock: FakeClock
) -> None:
    first, _ = two
    app = CalendarApp(dav_home)
    # The app renames the event after the moderator read it: its ETag is now stale.
    await app.put("ada", "job", event("job", f":{ics_time(AT)}", summary="renamed in the app"))
    slot = await claim_job(first, clock)
    assert slot.status is SlotStatus.ONGOING and slot.title == "renamed in the app"
    stored = await app.get("ada", "job")
    assert stored is not None
    assert "SUMMARY:renamed in the app" in stored and "X-MODERATOR-CLAIM:claim-a" in stored


async def test_an_app_that_drops_the_moderators_properties_does_not_revive_a_slot(
    dav_home: DavHome, two: list[CaldavCalendar], clock: FakeClock
) -> None:
    first, _ = two
    await claim_job(first, clock)
    await first.transition(JOB, Action.COMPLETE)
    await CalendarApp(dav_home).put("ada", "job", event("job", f":{ics_time(AT)}"))
    await first.poll_all()
    assert (await first.get_slot(JOB)).status is SlotStatus.FINISHED


async def test_while_the_server_is_away_nothing_is_claimed_lost_or_doubled(
    own_radicale: RadicaleServer, clock: FakeClock
) -> None:
    home = own_radicale.add_user()
    await CalendarApp(home).make_calendar("ada")
    await CalendarApp(home).put("ada", "job", event("job", f":{ics_time(AT)}"))
    async with two_moderators(home, clock) as (first, second):
        await clock.advance(600)
        own_radicale.stop()
        try:
            with pytest.raises(CalendarUnavailable):
                await first.transition(JOB, Action.START, idempotency_key="claim-a")
            with pytest.raises(CalendarUnavailable):
                await first.poll_all()
            assert not first.change_feed_up
            assert (await first.get_slot(JOB)).status is SlotStatus.NOT_STARTED
        finally:
            own_radicale.start()
        await first.poll_all()
        assert first.change_feed_up
        won = await first.transition(JOB, Action.START, idempotency_key="claim-a")
        assert won.status is SlotStatus.ONGOING
        with pytest.raises(TransitionConflict):
            await second.transition(JOB, Action.START, idempotency_key="claim-b")


async def test_slots_and_series_made_edited_and_ended_by_the_moderator_are_events(
    dav_home: DavHome, two: list[CaldavCalendar], clock: FakeClock
) -> None:
    first, second = two
    made = await first.create_slot(
        SlotCreate(scheduled_at=NOW + timedelta(hours=1), title="write report", priority=70),
        agent_id="ada",
    )
    moved_to = NOW + timedelta(hours=3)
    moved = await first.edit_slot(made.id, SlotEdit(scheduled_at=moved_to, title="report"))
    assert moved.scheduled_at == moved_to and moved.title == "report"
    await second.poll_all()
    seen = await second.get_slot(made.id)
    assert (seen.scheduled_at, seen.title, seen.priority) == (moved_to, "report", 70)

    cancelled = await first.transition(made.id, Action.CANCEL, note="not needed")
    assert cancelled.status is SlotStatus.CANCELLED
    await second.poll_all()
    assert (await second.get_slot(made.id)).status is SlotStatus.CANCELLED

    series = await first.create_series(
        SeriesCreate(rrule="FREQ=DAILY", start="2026-12-08T09:00", title="daily"),
        agent_id="ada",
    )
    await second.poll_all()
    ahead = await second.list_range("ada", NOW, NOW + timedelta(days=3))
    assert [s.scheduled_at for s in ahead if s.series_id == series.id] == [
        datetime(2026, 12, 8, 8, 0, tzinfo=UTC),
        datetime(2026, 12, 9, 8, 0, tzinfo=UTC),
    ]
    ended = await first.end_series(series.id)
    assert ended.ended_at is not None
    await second.poll_all()
    assert (await second.get_series(series.id)).ended_at is not None


async def test_the_apps_change_after_the_moderators_own_write_reaches_its_copy(
    dav_home: DavHome, two: list[CaldavCalendar], clock: FakeClock
) -> None:
    """The moderator's last write before a poll is no reason to skip that event for good: an
    app's (or another moderator's) later change to it is copied at the next poll."""
    first, _ = two
    await claim_job(first, clock)
    await first.poll_all()  # sees its own write
    finished = event("job", f":{ics_time(AT)}", "X-MODERATOR-STATUS:FINISHED")
    await CalendarApp(dav_home).put("ada", "job", finished)
    await first.poll_all()
    assert (await first.get_slot(JOB)).status is SlotStatus.FINISHED


@pytest.mark.parametrize("order", [("one", "two"), ("two", "one")])
async def test_a_claim_moved_on_to_the_next_event_is_seen_and_never_taken_twice(
    dav_home: DavHome, clock: FakeClock, order: tuple[str, str]
) -> None:
    """The first moderator finishes one event of the agent and claims the next between two
    polls of the second: the second's copy must show the next held (whatever order the
    server lists the two in), and its own claim on it is lost, not a second wake."""
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    for name in order:
        await app.put("ada", name, event(name, f":{ics_time(AT)}"))
    done, then = (stable_id("ada", name) for name in order)
    async with two_moderators(dav_home, clock) as (first, second):
        await clock.advance(600)
        await first.transition(done, Action.START, idempotency_key="claim-a1")
        await second.poll_all()
        await first.transition(done, Action.COMPLETE)
        await first.transition(then, Action.START, idempotency_key="claim-a2")
        await second.poll_all()
        assert (await second.get_slot(done)).status is SlotStatus.FINISHED
        assert (await second.get_slot(then)).status is SlotStatus.ONGOING
        with pytest.raises(TransitionConflict):
            await second.transition(then, Action.START, idempotency_key="claim-b")
        stored = await app.get("ada", order[1])
        assert stored is not None and "X-MODERATOR-CLAIM:claim-a2" in stored


async def test_an_app_edit_right_after_the_moderators_own_write_in_a_poll_is_not_lost(
    dav_home: DavHome, two: list[CaldavCalendar], clock: FakeClock
) -> None:
    """The poll's listing is answered; before it is copied the moderator changes the event and
    the app renames it. The listing is older than the moderator's write (skipped, so it cannot
    undo it) and the token now lies past the rename: the poll must read the event afresh."""
    first, _ = two
    app = CalendarApp(dav_home)
    await clock.advance(600)
    await app.put("ada", "job", event("job", f":{ics_time(AT)}", summary="touched"))
    listing = first.copy.dav.sync

    async def sync_then_meanwhile(href: str, token: str | None) -> object:
        answer = await listing(href, token)
        await first.edit_slot(JOB, SlotEdit(priority=90))
        stored = await app.get("ada", "job")
        assert stored is not None
        await app.put("ada", "job", stored.replace("SUMMARY:touched", "SUMMARY:renamed"))
        return answer

    first.copy.dav.sync = sync_then_meanwhile  # type: ignore[method-assign]
    await first.poll_all()
    first.copy.dav.sync = listing  # type: ignore[method-assign]
    slot = await first.get_slot(JOB)
    assert (slot.title, slot.priority) == ("renamed", 90)
    await first.poll_all()
    assert (await first.get_slot(JOB)).title == "renamed"
