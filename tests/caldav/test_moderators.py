"""Headless moderators (`python -m bot`, real processes) on a real Radicale (DESIGN §10, §11).

The calendar app is raw HTTP on the server (`tests.caldav.app`); each moderator
is a subprocess with `CALENDAR_URL=caldav+http://…`, its local copy beside its
own `STATE_PATH`, polling every second and waking through one spawn webhook
that records each wake and when it arrived. With CalDAV the moderator serves no
calendar to its agents (`CALENDAR_LISTEN` is refused), so the test plays an
agent finishing the way another moderator or the app would: it writes
`X-MODERATOR-STATUS:FINISHED` into the event on the server.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from icalendar import Calendar, vText

from bot.calendar.caldav.objects import CLAIM, STATUS
from bot.calendar.ics.convert import stable_id
from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import SlotNotFound
from bot.core.models import SlotStatus
from testkit.bots import WAIT_S
from testkit.processes import BotProcess
from testkit.radicale import DavHome
from testkit.spawn import SPAWN_SECRET, SpawnReceiver
from tests.caldav.app import CalendarApp, event, ics_time
from tests.conftest import StartHeadless
from tests.e2e.harness import wait_until


async def start_moderators(
    start_headless: StartHeadless, home: DavHome, agents: Sequence[str], count: int
) -> list[BotProcess]:
    """`count` headless moderators on `home`, polling it every second."""
    return await start_headless(
        agents,
        ["caldav+" + home.url] * count,
        CALENDAR_USERNAME=home.username,
        CALENDAR_PASSWORD=home.password,
        CALDAV_POLL_S="1",
        TIMEZONE="UTC",
    )


def whole_second_after(seconds: float) -> datetime:
    """A time `seconds` or a little more from now, on a whole second (ICS has no fractions)."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return datetime.fromtimestamp(math.ceil(moment.timestamp()), UTC)


async def finish_on_server(app: CalendarApp, agent: str, name: str) -> None:
    """The agent's work is done: the event says FINISHED (no claim), as a moderator writes it."""
    text = await app.get(agent, name)
    assert text is not None
    calendar = Calendar.from_ical(text)
    for vevent in calendar.walk("VEVENT"):
        vevent.pop(STATUS, None)
        vevent.pop(CLAIM, None)
        vevent.add(STATUS, vText(SlotStatus.FINISHED.value))
    await app.put(agent, name, calendar.to_ical().decode())


async def stop_all(moderators: Sequence[BotProcess], home: DavHome) -> None:
    """SIGTERM each: a clean exit (0), and no secret in what they logged."""
    for proc in moderators:
        proc.terminate()
    for proc in moderators:
        assert await proc.wait() == 0, proc.log_text()[-3000:]
        assert home.password not in proc.log_text()
        assert SPAWN_SECRET not in proc.log_text()


async def test_an_event_made_in_the_app_is_woken_once_at_its_time(
    dav_home: DavHome,
    tmp_path: Path,
    receiver: SpawnReceiver,
    start_headless: StartHeadless,
) -> None:
    app = CalendarApp(dav_home)
    (moderator,) = await start_moderators(start_headless, dav_home, ["ada"], 1)
    at = whole_second_after(4)
    await app.put("ada", "standup", event("standup", f":{ics_time(at)}", "DURATION:PT30M"))
    slot_id = stable_id("ada", "standup")

    async def woken() -> bool:
        return bool(receiver.bodies)

    await wait_until(woken, WAIT_S, what="the wake of the event")
    assert [body["slot"]["id"] for body in receiver.bodies] == [slot_id]
    assert receiver.bodies[0]["agent_id"] == "ada"
    assert receiver.arrived[0] >= at  # not before its time
    stored = await app.get("ada", "standup")
    assert stored is not None
    assert "X-MODERATOR-STATUS:ONGOING" in stored and f"{CLAIM}:" in stored

    # A few polls and check ticks later: still one wake (the claim holds, nothing repeats).
    await asyncio.sleep(3)
    assert len(receiver.bodies) == 1

    # The agent is done: the event says so; the moderator's copy takes it, nothing is woken.
    await finish_on_server(app, "ada", "standup")
    copy = tmp_path / "moderator0" / "state.db.caldav.db"

    async def copied() -> bool:
        return await status_in_copy(copy, slot_id) is SlotStatus.FINISHED

    await wait_until(copied, WAIT_S, what="FINISHED in the moderator's copy")
    await stop_all([moderator], dav_home)
    assert len(receiver.bodies) == 1
    final = await app.get("ada", "standup")
    assert final is not None
    assert "X-MODERATOR-STATUS:FINISHED" in final and f"{CLAIM}:" not in final


async def test_a_restarted_moderator_wakes_what_it_copied_before_and_not_what_went_meanwhile(
    dav_home: DavHome,
    tmp_path: Path,
    receiver: SpawnReceiver,
    start_headless: StartHeadless,
) -> None:
    """Ada's event is copied, then the moderator stops; Bob's is deleted in the app while it
    is down. The restarted moderator wakes Ada's (it can claim an event it did not see
    change) and never Bob's (retired, not woken from a stale copy)."""
    app = CalendarApp(dav_home)
    for agent in ("ada", "bob"):
        await app.make_calendar(agent)
    (first,) = await start_moderators(start_headless, dav_home, ["ada", "bob"], 1)
    at = whole_second_after(10)  # after the restart, on any machine this suite runs on
    for agent in ("ada", "bob"):
        await app.put(agent, "job", event("job", f":{ics_time(at)}", "DURATION:PT30M"))
    copy = tmp_path / "moderator0" / "state.db.caldav.db"

    async def both_copied() -> bool:
        try:
            statuses = [await status_in_copy(copy, stable_id(a, "job")) for a in ("ada", "bob")]
        except SlotNotFound:
            return False
        return statuses == [SlotStatus.NOT_STARTED, SlotStatus.NOT_STARTED]

    await wait_until(both_copied, WAIT_S, what="both events in the first run's copy")
    await stop_all([first], dav_home)
    assert receiver.bodies == [], "woken before the restart: the premise of the test is gone"
    await app.delete("bob", "job")

    (again,) = await start_moderators(start_headless, dav_home, ["ada", "bob"], 1)

    async def woken() -> bool:
        return bool(receiver.bodies)

    await wait_until(woken, WAIT_S + 10, what="the wake of Ada's event after the restart")
    await asyncio.sleep(3)  # a few polls and ticks: a wake of Bob's stale slot would show
    await stop_all([again], dav_home)
    assert [body["slot"]["id"] for body in receiver.bodies] == [stable_id("ada", "job")]
    assert await status_in_copy(copy, stable_id("bob", "job")) is SlotStatus.CANCELLED


async def status_in_copy(path: Path, slot_id: str) -> SlotStatus:
    """The slot's status in a running moderator's local copy (SQLite WAL: a second reader)."""
    calendar = await EmbeddedCalendar.open(path, timezone=UTC)
    try:
        return (await calendar.get_slot(slot_id)).status
    finally:
        await calendar.close()


AGENTS = ["ada", "bob", "cy"]
EVENTS_PER_AGENT = 3


async def test_two_moderators_on_one_calendar_wake_each_event_once_and_lose_none(
    dav_home: DavHome,
    receiver: SpawnReceiver,
    start_headless: StartHeadless,
) -> None:
    """No SHARD on either: both schedule every agent (an overlap), and the claims on the
    server decide. One slot may be ONGOING per agent, so the next is woken only after
    the test (playing the agent) finished the last."""
    app = CalendarApp(dav_home)
    for agent in AGENTS:
        await app.make_calendar(agent)
    moderators = await start_moderators(start_headless, dav_home, AGENTS, 2)
    at = whole_second_after(2)
    where: dict[str, tuple[str, str]] = {}
    for agent in AGENTS:
        for n in range(EVENTS_PER_AGENT):
            uid = f"{agent}-job-{n}"
            await app.put(agent, uid, event(uid, f":{ics_time(at)}", "DURATION:PT30M"))
            where[stable_id(agent, uid)] = (agent, uid)

    finished: set[str] = set()

    async def finish_what_was_woken() -> bool:
        for body in list(receiver.bodies):
            slot_id = body["slot"]["id"]
            if slot_id not in finished and slot_id in where:
                await finish_on_server(app, *where[slot_id])
                finished.add(slot_id)
        return finished == set(where)

    await wait_until(finish_what_was_woken, 3 * WAIT_S, what="every event woken")
    await asyncio.sleep(3)  # a few more polls and ticks: a late second wake would show
    await stop_all(moderators, dav_home)

    woken = [body["slot"]["id"] for body in receiver.bodies]
    assert sorted(woken) == sorted(where)  # each exactly once: none twice, none lost
    assert all(moment >= at for moment in receiver.arrived)
    for agent, uid in where.values():
        stored = await app.get(agent, uid)
        assert stored is not None and "X-MODERATOR-STATUS:FINISHED" in stored
