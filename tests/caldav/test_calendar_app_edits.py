"""What people do to a moderator's CalDAV calendars (DESIGN §10, §4), against a real Radicale.

Each test plays it for real: edits in the calendar app (raw HTTP on the server,
`tests.caldav.app`) while the moderator's copy keeps in step by polling (called by
the test, on a `FakeClock`), and its own writes meanwhile. They came from a review
of this backend; all but the last few failed before the fix each names.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.calendar.caldav.calendar import CaldavCalendar
from bot.calendar.caldav.dav import DavUnreachable
from bot.calendar.ics.convert import stable_id
from bot.core.calendar import CalendarError, CalendarUnavailable, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, SeriesCreate, SlotCreate, SlotStatus
from testkit.dav_proxy import DavProxy
from testkit.radicale import DavHome, RadicaleServer
from tests.caldav.app import CalendarApp, event, ics_time
from tests.caldav.conftest import open_calendar
from tests.caldav.test_app_changes import NOW, due_ids

AT = NOW + timedelta(minutes=5)  # NOW: Monday 7 December 2026, 09:00 in Berlin
JOB = stable_id("ada", "job")
#: Ada's daily 10:00 (Berlin) event from Monday 7 December: its series, its first two days.
DAILY = stable_id("ada", "daily")
DAY1, DAY2 = (f"{DAILY}_2026120{d}T100000" for d in (7, 8))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW)


#: No poll of its own within any test (the fake clock moves days ahead, past 3600 s, the
#: other tests' interval, which would start polls beside the test's own): each is the test's.
POLL_S = 1e9


@pytest.fixture
async def moderator(dav_home: DavHome, clock: FakeClock) -> AsyncIterator[CaldavCalendar]:
    calendar = await open_calendar(dav_home, clock, poll_s=POLL_S)
    try:
        yield calendar
    finally:
        await calendar.close()


def daily(*lines: str, overrides: str = "") -> str:
    """Ada's daily event at 10:00 Berlin from 7 December, with `lines` in its master and
    `overrides` (whole VEVENTs) after it."""
    master = event("daily", ";TZID=Europe/Berlin:20261207T100000", "DURATION:PT30M", *lines)
    return master.replace("END:VCALENDAR", overrides + "END:VCALENDAR")


async def changed_in_app(
    home: DavHome, moderator: CaldavCalendar, name: str, before: str, after: str
) -> CalendarApp:
    """Ada's event `name` as `before`, copied by a poll; then, in the app, as `after`, and
    copied again. Answers the app, for what the test does next."""
    app = CalendarApp(home)
    await app.put("ada", name, before)
    await moderator.poll_all()
    await app.put("ada", name, after)
    await moderator.poll_all()
    return app


def override(day: int, *lines: str) -> str:
    """The VEVENT of the daily event's occurrence of `day` December, changed on its own."""
    body = "\r\n".join(
        [
            "BEGIN:VEVENT",
            "UID:daily",
            "DTSTAMP:20261201T000000Z",
            f"RECURRENCE-ID;TZID=Europe/Berlin:202612{day:02d}T100000",
            f"DTSTART;TZID=Europe/Berlin:202612{day:02d}T100000",
            "DURATION:PT30M",
            *lines,
            "END:VEVENT",
        ]
    )
    return body + "\r\n"


# ---- series whose rule says UNTIL ----------------------------------------------------


async def test_a_series_with_an_until_survives_a_restart_and_a_claim(
    dav_home: DavHome, clock: FakeClock, tmp_path: Path
) -> None:
    """Apps write "repeat until" as UNTIL in UTC. The copy keeps the rule with UNTIL as a
    wall time, so every later copy of the event (a restart's full listing, a claim, an
    app edit) reads as "its RRULE changed": the series ends and is never woken again."""
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    await app.put("ada", "daily", daily("RRULE:FREQ=DAILY;UNTIL=20261220T225959Z"))
    copy = tmp_path / "state.db.caldav.db"
    await (await open_calendar(dav_home, clock, copy, poll_s=POLL_S)).close()
    calendar = await open_calendar(dav_home, clock, copy, poll_s=POLL_S)
    try:
        assert (await calendar.get_series(DAILY)).ended_at is None
        await clock.advance(3600)  # 10:00 Berlin: the first occurrence is due
        assert await due_ids(calendar) == {DAY1}
        await calendar.transition(DAY1, Action.START, idempotency_key="claim-1")
        await calendar.transition(DAY1, Action.COMPLETE)
        assert (await calendar.get_series(DAILY)).ended_at is None
        await clock.advance(24 * 3600)
        assert await due_ids(calendar) == {DAY2}
    finally:
        await calendar.close()


# ---- the event of a held slot goes away ----------------------------------------------


async def test_an_event_deleted_in_the_app_while_its_slot_runs_does_not_hold_the_agent_forever(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """The agent is working on "job" when a person deletes the event in the app. The copy
    keeps the slot ONGOING (it started: what happened stays) but forgets its resource, so
    the agent's `done` (and the stuck-slot abort) answers 404: the slot stays ONGOING for
    good, across restarts, and the agent's next event is never woken."""
    app = CalendarApp(dav_home)
    await app.put("ada", "job", event("job", f":{ics_time(AT)}"))
    await app.put("ada", "next", event("next", f":{ics_time(AT)}"))
    await moderator.poll_all()
    await clock.advance(600)
    await moderator.transition(JOB, Action.START, idempotency_key="claim-1")
    await app.delete("ada", "job")
    await moderator.poll_all()
    if (await moderator.get_slot(JOB)).status.is_active:
        done = await moderator.transition(JOB, Action.COMPLETE, note="done")
        assert done.status is SlotStatus.FINISHED
    claimed = await moderator.transition(
        stable_id("ada", "next"), Action.START, idempotency_key="claim-2"
    )
    assert claimed.status is SlotStatus.ONGOING


# ---- an event made recurring, or single again, in the app ----------------------------


async def test_an_event_made_recurring_in_the_app_is_due_once_at_its_time(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """A one-off event at 10:00 becomes "every day" in the app. Its single slot and the
    series share one id (the UID's), so the single slot is not retired: at 10:00 the
    agent is due for the event twice (the single slot and the first occurrence)."""
    await changed_in_app(
        dav_home,
        moderator,
        "daily",
        event("daily", ";TZID=Europe/Berlin:20261207T100000"),
        daily("RRULE:FREQ=DAILY;COUNT=3"),
    )
    await clock.advance(3600)
    assert await due_ids(moderator) == {DAY1}


async def test_an_event_made_single_again_in_the_app_stops_recurring(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """A daily event loses its RRULE in the app ("does not repeat"): the series must end,
    but the single slot takes the series' id, so nothing retires the series and the
    agent goes on being woken every day."""
    await changed_in_app(
        dav_home,
        moderator,
        "daily",
        daily("RRULE:FREQ=DAILY;COUNT=3"),
        event("daily", ";TZID=Europe/Berlin:20261207T100000"),
    )
    assert (await moderator.get_series(DAILY)).ended_at is not None
    await clock.advance(3600)
    assert await due_ids(moderator) == {DAILY}


# ---- one occurrence of a recurring event deleted in the app --------------------------


async def test_an_occurrence_changed_on_its_own_then_deleted_in_the_app_is_never_woken(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """Tuesday's occurrence was moved to 15:00 in the app (its own VEVENT), then deleted
    there: an app deletes one occurrence by an EXDATE and drops its VEVENT. The copy
    keeps the occurrence's row (stored when it was moved), and a row is due whatever
    the EXDATEs say: it is woken at 15:00 although it is gone from the calendar."""
    app = CalendarApp(dav_home)
    moved = override(8, "SUMMARY:later today").replace(
        "DTSTART;TZID=Europe/Berlin:20261208T100000", "DTSTART;TZID=Europe/Berlin:20261208T150000"
    )
    await app.put("ada", "daily", daily("RRULE:FREQ=DAILY;COUNT=3", overrides=moved))
    await moderator.poll_all()
    await app.put(
        "ada",
        "daily",
        daily("RRULE:FREQ=DAILY;COUNT=3", "EXDATE;TZID=Europe/Berlin:20261208T100000"),
    )
    await moderator.poll_all()
    await clock.advance(24 * 3600 + 6 * 3600)  # Tuesday 15:00 Berlin
    assert DAY2 not in await due_ids(moderator)


# ---- the moderator's own write during a poll -----------------------------------------


@pytest.fixture
async def no_sync_home(radicale: RadicaleServer, dav_home: DavHome) -> AsyncIterator[DavHome]:
    """`dav_home` behind a server without sync-collection: every poll is a full listing."""
    proxy = DavProxy(radicale.base_url, refuse_sync=501)
    await proxy.start()
    yield DavHome(
        proxy.home_url(dav_home.username), dav_home.username, dav_home.password, dav_home.storage
    )
    await proxy.stop()


@contextlib.contextmanager
def slot_made_during_listing(lister: CaldavCalendar, maker: CaldavCalendar) -> Iterator[list[str]]:
    """Within: each listing `lister` asks for is answered first, then `maker` makes a slot
    for Ada, so the listing is older than the slot (the race, made certain); the ids made
    are in the list."""
    listing = lister.copy.dav.sync
    made: list[str] = []

    async def sync_then_create(href: str, token: str | None) -> object:
        answer = await listing(href, token)
        new = SlotCreate(scheduled_at=NOW + timedelta(hours=1), title="report")
        made.append((await maker.create_slot(new, agent_id="ada")).id)
        return answer

    lister.copy.dav.sync = sync_then_create  # type: ignore[method-assign]
    try:
        yield made
    finally:
        lister.copy.dav.sync = listing  # type: ignore[method-assign]


async def test_a_slot_the_moderator_makes_while_a_full_listing_is_under_way_stays(
    no_sync_home: DavHome, clock: FakeClock
) -> None:
    """A full listing (a server without sync-collection, every poll; or a refused token)
    answered before the moderator made a slot does not name the new event: the poll takes
    it for deleted in the app and cancels it, and no later poll brings it back."""
    calendar = await open_calendar(no_sync_home, clock, poll_s=POLL_S)
    try:
        with slot_made_during_listing(calendar, calendar) as made:
            await calendar.poll_all()
        await calendar.poll_all()
        assert (await calendar.get_slot(made[0])).status is SlotStatus.NOT_STARTED
    finally:
        await calendar.close()


async def test_a_cli_run_beside_the_moderator_keeps_what_the_moderator_made_meanwhile(
    dav_home: DavHome, no_sync_home: DavHome, clock: FakeClock, tmp_path: Path
) -> None:
    """`calendar add` (the CLI) opens the same copy file as the running moderator and lists
    each calendar whole. A slot the moderator makes while that listing is under way is not
    in it: the CLI's process takes it for deleted and cancels it in the shared copy (the
    moderator's own guard, `CalendarCopy.written`, lives in the moderator's memory). Here
    the CLI's listing is a poll behind a server without sync-collection (a full listing,
    as at every start); the moderator goes straight to the server."""
    copy = tmp_path / "state.db.caldav.db"
    running = await open_calendar(dav_home, clock, copy, poll_s=POLL_S)
    cli = await open_calendar(no_sync_home, clock, copy, poll_s=POLL_S)
    try:
        with slot_made_during_listing(cli, running) as made:
            await cli.poll_all()
        await running.poll_all()
        assert (await running.get_slot(made[0])).status is SlotStatus.NOT_STARTED
    finally:
        await cli.close()
        await running.close()


# ---- the agent's calendar deleted and made again in the app --------------------------


async def dav_request(home: DavHome, method: str, url: str, body: str = "") -> int:
    """One raw request with the home's account, as an app sends it; answers the status."""
    auth = aiohttp.encode_basic_auth(home.username, home.password)
    headers = {"Authorization": auth, "Content-Type": "application/xml; charset=utf-8"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body.encode(), headers=headers) as answer,
    ):
        return answer.status


def mkcalendar_named(name: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set>"
        "</C:mkcalendar>"
    )


async def test_a_calendar_deleted_and_made_again_in_the_app_is_found_while_running(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """A person deletes Ada's calendar and makes a new one named "ada" in the app (apps put
    a new calendar under a path of their own and name it by its display name). The
    running moderator polls the old path for good (404, a warning each poll): the new
    calendar's events are never seen until a restart, nor are the old ones retired."""
    app = CalendarApp(dav_home)
    await app.put("ada", "job", event("job", f":{ics_time(AT)}"))
    await moderator.poll_all()
    assert await dav_request(dav_home, "DELETE", f"{dav_home.url}ada/") in (200, 204)
    made = await dav_request(
        dav_home, "MKCALENDAR", f"{dav_home.url}0f3e/", mkcalendar_named("ada")
    )
    assert made == 201
    await app.put("0f3e", "new", event("new", f":{ics_time(AT)}"))
    for _ in range(2):  # a fix may find the new calendar at the poll after the one that failed
        with contextlib.suppress(CalendarError):
            await moderator.poll_all()
    assert (await moderator.get_slot(stable_id("ada", "new"))).status is SlotStatus.NOT_STARTED
    assert (await moderator.get_slot(JOB)).status is SlotStatus.CANCELLED


# ---- two moderators: a claim moved on within one recurring event ---------------------


async def test_a_claim_moved_on_between_two_occurrences_of_one_event_is_seen(
    dav_home: DavHome, clock: FakeClock
) -> None:
    """As test_writes' claim moved on to the next event, but both occurrences are in one
    resource: Tuesday's VEVENT (changed in the app) comes before Monday's (made by the
    claim). The second moderator copies Tuesday's claim before Monday's finish, which
    its one-held-slot rule refuses ("kept as it is"); its copy then shows Tuesday not
    held, with the event's new ETag taken, so no later poll mends it."""
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    titled = override(8, "SUMMARY:Tuesday's")
    await app.put("ada", "daily", daily("RRULE:FREQ=DAILY;COUNT=3", overrides=titled))
    first = await open_calendar(dav_home, clock, poll_s=POLL_S)
    second = await open_calendar(dav_home, clock, poll_s=POLL_S)
    try:
        await clock.advance(3600)
        await first.transition(DAY1, Action.START, idempotency_key="claim-a1")
        await second.poll_all()
        assert (await second.get_slot(DAY1)).status is SlotStatus.ONGOING
        await first.transition(DAY1, Action.COMPLETE)
        await clock.advance(24 * 3600)
        await first.transition(DAY2, Action.START, idempotency_key="claim-a2")
        await second.poll_all()
        assert (await second.get_slot(DAY1)).status is SlotStatus.FINISHED
        assert (await second.get_slot(DAY2)).status is SlotStatus.ONGOING
    finally:
        await first.close()
        await second.close()


# ---- a recurring event moved, split or cancelled as a whole in the app ----------------


async def test_a_recurring_event_moved_in_the_app_is_woken_at_its_new_time(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """The daily 10:00 is moved to 10:30 for all days in the app (its DTSTART changes). The
    copy ends the series now ("a series keeps its rule", one INFO line) and leaves the
    changed event out for good: the app shows a daily 10:30 that is never woken."""
    app = CalendarApp(dav_home)
    await app.put("ada", "daily", daily("RRULE:FREQ=DAILY;COUNT=3"))
    await moderator.poll_all()
    moved = daily("RRULE:FREQ=DAILY;COUNT=3").replace("T100000", "T103000")
    await app.put("ada", "daily", moved)
    await moderator.poll_all()
    await clock.advance(90 * 60)  # 10:30 Berlin
    assert len(await due_ids(moderator)) == 1


async def test_a_recurring_event_split_in_the_app_keeps_its_days_before_the_split(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """ "This and following events" in an app: the original rule is cut short (here its COUNT,
    3 days of 5 kept) and a new event carries the rest. The copy ends the original now,
    so today's and tomorrow's occurrences, still in the app, are never woken."""
    app = CalendarApp(dav_home)
    await app.put("ada", "daily", daily("RRULE:FREQ=DAILY;COUNT=5"))
    await moderator.poll_all()
    await app.put("ada", "daily", daily("RRULE:FREQ=DAILY;COUNT=3"))
    later = event("later", ";TZID=Europe/Berlin:20261210T110000", "RRULE:FREQ=DAILY;COUNT=2")
    await app.put("ada", "later", later)
    await moderator.poll_all()
    await clock.advance(3600)  # Monday 10:00 Berlin
    assert await due_ids(moderator) == {DAY1}
    await clock.advance(24 * 3600)
    assert await due_ids(moderator) == {DAY2}


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        pytest.param(
            "daily",
            daily("RRULE:FREQ=DAILY;COUNT=3"),
            daily("RRULE:FREQ=DAILY;COUNT=3", "STATUS:CANCELLED"),
            id="recurring-cancelled",
        ),
        pytest.param(
            "job",
            event("job", f":{ics_time(AT)}"),
            event("job", ";VALUE=DATE:20261207"),
            id="made-all-day",
        ),
    ],
)
async def test_an_event_made_nothing_to_wake_in_the_app_is_never_woken(
    dav_home: DavHome,
    moderator: CaldavCalendar,
    clock: FakeClock,
    name: str,
    before: str,
    after: str,
) -> None:
    """README: "setting it to cancelled means it is never woken", and an all-day event is no
    slot. A recurring event's master with STATUS:CANCELLED was a series like any other (the
    status was read only for single events and instances), and an event made all-day kept
    its slot, woken at its old time (DESIGN §4: an edited slot is never woken at its old
    time)."""
    await changed_in_app(dav_home, moderator, name, before, after)
    await clock.advance(3600)
    assert await due_ids(moderator) == set()


async def test_a_typo_in_a_recurring_events_rule_does_not_end_its_series(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """The other side of the all-day rule: a rule the copy refuses (finer than hourly) is a
    mistake to be mended, not a deletion; the series goes on by the rule it had, and takes
    the mended one."""
    app = await changed_in_app(
        dav_home,
        moderator,
        "daily",
        daily("RRULE:FREQ=DAILY;COUNT=3"),
        daily("RRULE:FREQ=MINUTELY;COUNT=3"),
    )
    assert (await moderator.get_series(DAILY)).ended_at is None
    await app.put("ada", "daily", daily("RRULE:FREQ=DAILY;COUNT=2"))
    await moderator.poll_all()
    await clock.advance(3600)
    assert await due_ids(moderator) == {DAY1}
    assert (await moderator.get_series(DAILY)).rrule == "FREQ=DAILY;COUNT=2"


# ---- time zones: an occurrence in the spring-forward gap -----------------------------


async def nightly_at_0230(home: DavHome, first_day: str) -> None:
    """Ada's calendar with a nightly 02:30 (Berlin) job from `first_day` (YYYYMMDD)."""
    app = CalendarApp(home)
    await app.make_calendar("ada")
    start = f";TZID=Europe/Berlin:{first_day}T023000"
    await app.put("ada", "nightly", event("nightly", start, "RRULE:FREQ=DAILY", "DURATION:PT30M"))


async def test_a_claim_of_an_occurrence_in_the_dst_gap_holds_and_is_not_taken_twice(
    dav_home: DavHome,
) -> None:
    """A nightly 02:30 (Berlin) job: on 28 March 2027 02:30 does not exist and the instance
    is at 03:30 (DESIGN §3.1), its id still naming 02:30. The claim's VEVENT must say
    RECURRENCE-ID 02:30: written as the instant (03:30), the copy found no 03:30 instance
    and kept the occurrence NOT_STARTED, so every later claim (another key) added one more
    VEVENT and won again: a wake at every check until the next night."""
    clock = FakeClock(start=datetime(2027, 3, 27, 0, 0, tzinfo=UTC))
    await nightly_at_0230(dav_home, "20270327")
    calendar = await open_calendar(dav_home, clock, poll_s=POLL_S)
    try:
        await clock.advance(25.5 * 3600)  # 28 March, 01:30 UTC = 03:30 CEST
        slot_id = f"{stable_id('ada', 'nightly')}_20270328T023000"
        assert await due_ids(calendar) == {slot_id}
        won = await calendar.transition(slot_id, Action.START, idempotency_key="claim-1")
        assert won.status is SlotStatus.ONGOING
        with pytest.raises(TransitionConflict):
            await calendar.transition(slot_id, Action.START, idempotency_key="claim-2")
    finally:
        await calendar.close()


async def test_a_series_the_moderator_writes_with_an_end_says_until_in_utc(
    moderator: CaldavCalendar, dav_home: DavHome
) -> None:
    """RFC 5545 3.3.10: with a DTSTART in a TZID, UNTIL MUST be in UTC. The moderator writes
    the rule as its copy keeps it, UNTIL as a wall time without "Z", which strict
    readers refuse (python-dateutil raises; servers may refuse the PUT)."""
    series = await moderator.create_series(
        SeriesCreate(
            rrule="FREQ=DAILY;UNTIL=20261220T225959Z", start="2026-12-08T09:00", title="daily"
        ),
        agent_id="ada",
    )
    name = moderator.copy.where[series.id][1].rstrip("/").rsplit("/", 1)[1].removesuffix(".ics")
    stored = await CalendarApp(dav_home).get("ada", name)
    assert stored is not None
    rule = next(line for line in stored.splitlines() if line.startswith("RRULE"))
    assert "UNTIL=20261220T225959Z" in rule, rule


# ---- which calendar is the agent's ---------------------------------------------------


async def test_a_second_calendar_named_for_the_agent_does_not_take_over_at_a_restart(
    dav_home: DavHome, clock: FakeClock, tmp_path: Path
) -> None:
    """The moderator made "ada/"; a person then makes a calendar displayed as "ada" in the
    app (under a path of its own). At the next start the display name of whichever the
    server lists first wins over the path segment and the ledger's href: the moderator
    moves to the new, empty calendar and cancels every event of the agent's own."""
    app = CalendarApp(dav_home)
    copy = tmp_path / "state.db.caldav.db"
    calendar = await open_calendar(dav_home, clock, copy, poll_s=POLL_S)
    await app.put("ada", "job", event("job", f":{ics_time(AT)}"))
    await calendar.poll_all()
    await calendar.close()
    made = await dav_request(
        dav_home, "MKCALENDAR", f"{dav_home.url}0f3e/", mkcalendar_named("ada")
    )
    assert made == 201
    again = await open_calendar(dav_home, clock, copy, poll_s=POLL_S)
    try:
        assert (await again.get_slot(JOB)).status is SlotStatus.NOT_STARTED
        assert again.copy.ledger.marks["ada"].href.endswith("/ada/")
    finally:
        await again.close()


async def test_a_calendar_deleted_and_made_again_at_its_path_is_listed_afresh(
    dav_home: DavHome, moderator: CaldavCalendar
) -> None:
    """Checked and fine (no other test had it): the same path made again in the app refuses
    the old sync token, so the poll lists it whole: the old events are cancelled, the new
    one is copied."""
    app = CalendarApp(dav_home)
    await app.put("ada", "job", event("job", f":{ics_time(AT)}"))
    await moderator.poll_all()
    assert await dav_request(dav_home, "DELETE", f"{dav_home.url}ada/") in (200, 204)
    await app.make_calendar("ada")
    await app.put("ada", "new", event("new", f":{ics_time(AT)}"))
    await moderator.poll_all()
    assert (await moderator.get_slot(stable_id("ada", "new"))).status is SlotStatus.NOT_STARTED
    assert (await moderator.get_slot(JOB)).status is SlotStatus.CANCELLED


async def test_a_claim_whose_answer_was_lost_is_the_moderators_when_asked_again(
    dav_home: DavHome, moderator: CaldavCalendar, clock: FakeClock
) -> None:
    """Checked and fine (no other test had it): the claim's PUT lands but its answer is lost,
    so the copy never saw it. The same claim again meets the 412, reads the event, finds
    its own key and is answered as held; another key loses it."""
    app = CalendarApp(dav_home)
    await app.put("ada", "job", event("job", f":{ics_time(AT)}"))
    await moderator.poll_all()
    await clock.advance(600)
    dav = moderator.copy.dav
    put = dav.put

    async def put_answer_lost(href: str, text: str, *, etag: str | None) -> str:
        await put(href, text, etag=etag)
        raise DavUnreachable("CalDAV: the answer to the PUT was lost")

    dav.put = put_answer_lost  # type: ignore[method-assign]
    with pytest.raises(CalendarUnavailable):
        await moderator.transition(JOB, Action.START, idempotency_key="claim-1")
    dav.put = put  # type: ignore[method-assign]
    assert (await moderator.get_slot(JOB)).status is SlotStatus.NOT_STARTED
    again = await moderator.transition(JOB, Action.START, idempotency_key="claim-1")
    assert again.status is SlotStatus.ONGOING
    with pytest.raises(TransitionConflict):
        await moderator.transition(JOB, Action.START, idempotency_key="claim-2")
    stored = await app.get("ada", "job")
    assert stored is not None and stored.count("X-MODERATOR-CLAIM:claim-1") == 1


async def test_a_claim_of_an_occurrence_at_an_ambiguous_autumn_time_holds(
    dav_home: DavHome,
) -> None:
    """Checked and fine (no other test had it): 02:30 on 25 October 2026 happens twice in
    Berlin; the occurrence is the first (DESIGN §3.1), and its claim holds in the copy."""
    clock = FakeClock(start=datetime(2026, 10, 24, 0, 0, tzinfo=UTC))
    await nightly_at_0230(dav_home, "20261024")
    calendar = await open_calendar(dav_home, clock, poll_s=POLL_S)
    try:
        await clock.advance(24.5 * 3600)  # 25 October, 00:30 UTC = the first 02:30 (CEST)
        slot_id = f"{stable_id('ada', 'nightly')}_20261025T023000"
        assert await due_ids(calendar) == {slot_id}
        won = await calendar.transition(slot_id, Action.START, idempotency_key="claim-1")
        assert won.status is SlotStatus.ONGOING
        await calendar.poll_all()
        assert (await calendar.get_slot(slot_id)).status is SlotStatus.ONGOING
        with pytest.raises(TransitionConflict):
            await calendar.transition(slot_id, Action.START, idempotency_key="claim-2")
    finally:
        await calendar.close()
