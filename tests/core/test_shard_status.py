"""What `/status` reads from the calendar about another shard's agents, and the feed health."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, HeartbeatStatus, SlotStatus
from bot.core.shard_status import (
    IN_PROCESS,
    FeedHealth,
    calendar_status,
    calendar_statuses,
    feed_health,
)
from bot.core.shards import Shard, owner_of
from testkit.calendars import CallFault, FaultyCalendar
from testkit.clock import SettlingClock
from tests.core.conftest import add_slot

UTC = ZoneInfo("UTC")


async def test_the_held_slot_the_next_one_and_the_last_heartbeat(
    clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    now = clock.now()
    running = await add_slot(calendar, "bob", now - timedelta(minutes=10), title="Fix")
    await calendar.transition(running.id, Action.START, agent_id="bob")
    low = await add_slot(calendar, "bob", now - timedelta(minutes=5), priority=10)
    high = await add_slot(calendar, "bob", now - timedelta(minutes=1), priority=90)
    await add_slot(calendar, "bob", now + timedelta(hours=1))
    await calendar.heartbeat("bob", HeartbeatStatus.BUSY, running.id)
    await add_slot(calendar, "ada", now - timedelta(minutes=1))  # someone else's

    status = await calendar_status(calendar, "bob", Shard(1, 2), now, UTC)

    assert status.error is None and status.busy
    assert status.current is not None and status.current.id == running.id
    assert status.next_due is not None and status.next_due.id == high.id  # DESIGN §4 pick
    assert status.pending_count == 3 and low.id != high.id
    assert status.last_heartbeat_at == now
    assert status.shard == Shard(1, 2)


async def test_a_slot_held_since_yesterday_is_found_by_the_agents_status(
    clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    yesterday = clock.now() - timedelta(days=1)
    held = await add_slot(calendar, "bob", yesterday)
    await calendar.transition(held.id, Action.START, agent_id="bob")
    await calendar.heartbeat("bob", HeartbeatStatus.BUSY, held.id)
    later = await add_slot(calendar, "bob", clock.now() + timedelta(minutes=30))

    status = await calendar_status(calendar, "bob", Shard(1, 2), clock.now(), UTC)

    assert status.current is not None and status.current.id == held.id
    assert status.current.status is SlotStatus.ONGOING
    assert status.next_due is not None and status.next_due.id == later.id


async def test_an_idle_agent_with_nothing_today(
    clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    status = await calendar_status(calendar, "nobody", Shard(3, 4), clock.now(), UTC)
    assert not status.busy and status.next_due is None and status.pending_count == 0
    assert status.last_heartbeat_at is None and status.error is None


async def test_a_calendar_failure_is_the_status_not_an_exception(
    clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    faulty = FaultyCalendar(calendar, clock, CallFault("agent_status", detail="down"))
    ada, bob = await calendar_statuses(faulty, ["ada", "bob"], 2, clock.now(), UTC)  # type: ignore[arg-type]
    assert ada.error == "down" and bob.error == "down"
    assert ada.agent_id == "ada" and bob.agent_id == "bob"  # in the order asked
    assert (ada.shard, bob.shard) == (owner_of("ada", 2), owner_of("bob", 2))


def test_feed_health_of_a_calendar_without_a_feed_is_in_process() -> None:
    assert feed_health(object()) is IN_PROCESS and IN_PROCESS.live

    class Followed:
        change_feed_health = FeedHealth(live=False, missing=True)

    assert feed_health(Followed()).missing
