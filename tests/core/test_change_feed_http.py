"""DESIGN §4.1 end to end over HTTP: a moderator whose calendar is remote hears of changes
through the server's change feed, not at its next periodic sync (`SYNC_INTERVAL_S=300`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.calendar.client import HttpCalendar
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.models import SlotCreate
from bot.core.moderator import Moderator
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, BOB, Harness, minutes

SYNC_INTERVAL_S = 300.0
SAFETY_NET_S = 3600.0


@pytest.fixture
async def remote(calendar: EmbeddedCalendar) -> AsyncIterator[tuple[HttpCalendar, HttpCalendar]]:
    """The moderator's client and a person's client of one real server on loopback."""
    runner, port = await start_server(calendar, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    ours = HttpCalendar(url, timezone=calendar.timezone, agents=["ada", "bob"])
    theirs = HttpCalendar(url, timezone=calendar.timezone)
    try:
        yield ours, theirs
    finally:
        await ours.close()
        await theirs.close()
        await runner.cleanup()


async def until_cached(moderator: Moderator, agent_id: str, slot_id: str) -> None:
    """The feed travels in real time over loopback; the moderator's clock stays put."""
    async with asyncio.timeout(30):
        while slot_id not in moderator.scheduler(agent_id).cache:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_slot_created_through_the_server_five_seconds_before_its_time_is_woken_on_time(
    harness: Harness, clock: SettlingClock, remote: tuple[HttpCalendar, HttpCalendar]
) -> None:
    ours, theirs = remote
    waker = RecordingWaker(clock)
    moderator = await harness.moderator(
        waker, (ADA, BOB), calendar=ours, changes=ours, check_interval_s=SAFETY_NET_S
    )
    moderator.start_loops(SYNC_INTERVAL_S)
    await clock.advance(120)
    due = clock.now() + minutes(5 / 60)
    slot = await theirs.create_slot(
        SlotCreate(agent_id="ada", scheduled_at=due, title="quick", prompt="now")
    )
    await until_cached(moderator, "ada", slot.id)
    await clock.advance(5)
    assert waker.world.times() == {slot.id: due}
    assert moderator.scheduler("ada").follower.syncs >= 1
    assert ours.change_feed_up


async def test_over_http_a_tick_is_one_batched_heartbeat_while_the_feed_answers(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    runner, port = await start_server(calendar, "127.0.0.1", 0)
    calls: list[str] = []
    ours = HttpCalendar(
        f"http://127.0.0.1:{port}",
        timezone=calendar.timezone,
        agents=["ada", "bob"],
        observer=lambda endpoint, _status: calls.append(endpoint),
    )
    try:
        moderator = await harness.moderator(
            RecordingWaker(clock), (ADA, BOB), calendar=ours, changes=ours
        )
        async with asyncio.timeout(30):
            while not moderator.news_flowing:  # noqa: ASYNC110 - the feed's first poll
                await asyncio.sleep(0.01)
        calls.clear()
        await clock.advance(SYNC_INTERVAL_S)
        assert await moderator.sync_tick() == 0
        beats = [c for c in calls if "heartbeat" in c]
        assert beats == ["POST /calendar/agents/heartbeat"], calls
        assert sum("/calendar/day" in c for c in calls) <= 1
        assert (await calendar.agent_status("bob")).last_heartbeat_at == clock.now()
    finally:
        await ours.close()
        await runner.cleanup()
