"""DESIGN §4.1: a change reaches the moderator at once, not at the next periodic sync.

The moderator follows the embedded calendar's in-process news; the periodic
sync (`SYNC_INTERVAL_S=300`) and the safety-net check (an hour here) are far
away, so only the news can explain what each test sees. The production timers
run on the fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.client import HttpCalendar
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import SlotChanged
from bot.core.models import SeriesCreate, SlotCreate, SlotEdit
from bot.core.moderator import Moderator
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, BOB, START, Harness, add_slot, minutes

SYNC_INTERVAL_S = 300.0
SAFETY_NET_S = 3600.0


async def following(harness: Harness, waker: RecordingWaker, **options: object) -> Moderator:
    """A moderator that hears the calendar's news, with its sync loop at `SYNC_INTERVAL_S`."""
    moderator = await harness.moderator(
        waker,
        (ADA, BOB),
        changes=harness.calendar.changes,
        check_interval_s=SAFETY_NET_S,
        **options,
    )
    moderator.start_loops(SYNC_INTERVAL_S)
    return moderator


def syncs_for_news(moderator: Moderator, agent_id: str = "ada") -> int:
    return moderator.scheduler(agent_id).follower.syncs


async def test_a_slot_created_five_seconds_before_its_time_is_woken_on_time(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    moderator = await following(harness, waker)
    await clock.advance(120)
    due = clock.now() + minutes(5 / 60)
    slot = await calendar.create_slot(
        SlotCreate(agent_id="ada", scheduled_at=due, title="quick", prompt="now")
    )
    await clock.advance(5)
    assert waker.world.times() == {slot.id: due}
    assert syncs_for_news(moderator) >= 1


async def test_news_of_one_agent_syncs_that_agent_only(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    moderator = await following(harness, RecordingWaker(clock))
    slot = await add_slot(calendar, "bob", START + minutes(30))
    await clock.settle()
    assert slot.id in moderator.scheduler("bob").cache
    assert (syncs_for_news(moderator, "ada"), syncs_for_news(moderator, "bob")) == (0, 1)


async def test_a_burst_of_news_for_one_agent_costs_one_sync(
    harness: Harness, clock: SettlingClock
) -> None:
    moderator = await following(harness, RecordingWaker(clock))
    for _ in range(50):
        moderator.calendar_changed(["ada", "ada", "ada"])
    await clock.settle()
    assert syncs_for_news(moderator) == 1


async def test_news_of_an_agent_not_configured_here_is_ignored(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    moderator = await following(harness, RecordingWaker(clock))
    await add_slot(calendar, "zed", START + minutes(30))  # another shard's agent
    moderator.calendar_changed(["zed", ""])
    await clock.settle()
    assert (syncs_for_news(moderator, "ada"), syncs_for_news(moderator, "bob")) == (0, 0)


async def test_an_edit_reaches_the_cache_and_rearms_the_timer_without_a_sync(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(50))
    await following(harness, waker)
    await calendar.edit_slot(slot.id, SlotEdit(scheduled_at=START + minutes(2)))
    await clock.advance(minutes(3).total_seconds())
    assert waker.world.times() == {slot.id: START + minutes(2)}


async def test_a_stopped_moderator_hears_no_more_news(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    moderator = await following(harness, RecordingWaker(clock))
    await moderator.stop()
    await add_slot(calendar, "ada", START + minutes(30))
    await clock.settle()
    assert syncs_for_news(moderator) == 0
    assert len(moderator.scheduler("ada").cache) == 0


@pytest.fixture
async def served(calendar: EmbeddedCalendar) -> AsyncIterator[HttpCalendar]:
    """The real calendar server on loopback over the moderator's own store, and a client."""
    runner, port = await start_server(calendar, "127.0.0.1", 0)
    client = HttpCalendar(f"http://127.0.0.1:{port}", timezone=calendar.timezone)
    try:
        yield client
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_rest_write_reaches_the_moderator_without_a_sync(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, served: HttpCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(40))
    moderator = await following(harness, RecordingWaker(clock))
    await served.edit_slot(slot.id, SlotEdit(prompt="from REST", expected_version=slot.version))
    await clock.settle()
    cached = moderator.scheduler("ada").cache.get(slot.id)
    assert cached is not None and cached.prompt == "from REST"
    created = await served.create_slot(
        SlotCreate(agent_id="bob", scheduled_at=START + minutes(20), title="t", prompt="p")
    )
    await clock.settle()
    assert created.id in moderator.scheduler("bob").cache


async def test_a_write_by_another_connection_on_the_same_file_is_noticed(
    clock: SettlingClock, tmp_path: Path
) -> None:
    path = tmp_path / "calendar.db"
    ours = await EmbeddedCalendar.open(path, timezone=ZoneInfo("UTC"), clock=clock)
    theirs = await EmbeddedCalendar.open(path, timezone=ZoneInfo("UTC"), clock=clock)
    harness = Harness(clock, ours, tmp_path)
    try:
        moderator = await following(harness, RecordingWaker(clock))
        polled = asyncio.Event()

        def heard(changes: Sequence[SlotChanged]) -> None:
            polled.set()

        await ours.changes.follow(heard)
        slot = await add_slot(theirs, "bob", START + minutes(30))
        assert slot.id not in moderator.scheduler("bob").cache
        await clock.advance(0.5)  # the poller's turn
        await asyncio.wait_for(polled.wait(), timeout=20)
        await clock.settle()
        assert slot.id in moderator.scheduler("bob").cache
        assert syncs_for_news(moderator, "bob") == 1
    finally:
        await harness.close()
        await theirs.close()
        await ours.close()


def stand_up(start: str) -> SeriesCreate:
    return SeriesCreate(
        agent_id="ada", rrule="FREQ=DAILY", start=start, title="stand-up", prompt="report"
    )


async def test_a_series_created_while_running_has_its_first_occurrence_woken_on_time(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    moderator = await following(harness, waker)
    await clock.advance(120)
    series = await calendar.create_series(stand_up("2026-03-02T09:03"))
    await clock.advance(60)
    assert waker.world.times() == {f"{series.id}_20260302T090300": START + minutes(3)}
    assert syncs_for_news(moderator) >= 1


async def test_a_series_created_over_rest_has_its_first_occurrence_woken_on_time(
    harness: Harness, clock: SettlingClock, served: HttpCalendar, waker: RecordingWaker
) -> None:
    await following(harness, waker)
    await clock.advance(120)
    series = await served.create_series(stand_up("2026-03-02T09:03"))
    await clock.advance(60)
    assert waker.world.times() == {f"{series.id}_20260302T090300": START + minutes(3)}


async def test_an_ended_series_is_never_woken_at_its_next_time(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    series = await calendar.create_series(stand_up("2026-03-02T09:05"))
    await following(harness, waker)
    await clock.settle()
    await calendar.end_series(series.id)
    await clock.advance(minutes(10).total_seconds())
    assert waker.world.times() == {}
