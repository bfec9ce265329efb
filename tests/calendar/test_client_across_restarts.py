"""The remote calendar as people run it (CALENDAR_URL=http://…, DESIGN §3, §4.1): series writes
on the change feed, retried writes across a server restart, the feed and claims across one.

The client (`bot.calendar.client`) against the real server on loopback over the
real store, restarted where a test says so; a moderator over it where the
consequence for a person is the point. The fake clock drives the moderator; the
feed and the HTTP calls travel in real time over loopback.

Five of these failed before the fixes they came with (a review of this backend): a series
write missing from the feed (on the wire, and as a late wake), and a write retried after a
restart applied twice or refused (the Idempotency-Key answers were kept in memory only).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from bot.calendar.client import HttpCalendar
from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, SeriesCreate, SlotCreate, SlotEdit, SlotStatus
from bot.core.moderator import Moderator
from testkit.clock import SettlingClock
from testkit.processes import free_port
from testkit.retries import quick_retry
from testkit.wakers import RecordingWaker
from tests.calendar.conftest import START, TZ, Handler, Middleware, cursor_number, slot_body
from tests.core.conftest import ADA, BOB, Harness

#: The sync loop and the safety-net check of a moderator whose changes come by the feed:
#: far away, so only the feed can explain what a test sees.
SYNC_INTERVAL_S = 300.0
SAFETY_NET_S = 3600.0
T = TypeVar("T")


@pytest.fixture
def clock() -> SettlingClock:
    """The calendar fixtures' clock, able to wait for a moderator's timers to settle."""
    return SettlingClock(START.astimezone(UTC))


@pytest.fixture
async def harness(
    clock: SettlingClock, store: EmbeddedCalendar, tmp_path: Path
) -> AsyncIterator[Harness]:
    made = Harness(clock, store, tmp_path)
    yield made
    await made.close()


class Restartable:
    """`calendar serve` on one fixed port over `store`, stopped and started again at will."""

    def __init__(self, store: EmbeddedCalendar) -> None:
        self.store = store
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *outer: Middleware) -> None:
        app = make_app(self.store)
        for position, middleware in enumerate(outer):
            app.middlewares.insert(position, web.middleware(middleware))
        self.runner, _ = await serve_app(app, "127.0.0.1", self.port)

    async def restart(self) -> None:
        """A new process over the same store: nothing of the old one's memory is left."""
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def server(store: EmbeddedCalendar) -> AsyncIterator[Restartable]:
    served = Restartable(store)
    yield served
    await served.stop()


# ---- a series written while the moderator follows the feed ------------------------------


async def test_a_series_write_is_a_change_on_the_feed(
    server: Restartable, store: EmbeddedCalendar
) -> None:
    """DESIGN §4.1: "a write to a series itself is one change with `slot_id` null". The page
    query joins `slot_events` to `slots`, and a series' own history line names the series,
    not a slot, so the join drops it: the cursor moves on, the change is never said."""
    await server.start()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/calendar/changes") as answer:
            cursor = (await answer.json())["cursor"]
        series = await store.create_series(
            SeriesCreate(
                agent_id="alice",
                rrule="FREQ=DAILY",
                start="2026-01-05T10:00",
                title="t",
                prompt="p",
            )
        )
        async with http.get(f"{server.url}/calendar/changes?since={cursor}") as answer:
            page = await answer.json()
    assert cursor_number(page["cursor"]) > cursor_number(cursor)  # the line is there...
    said = [(c["agent_id"], c["slot_id"], c["series_id"]) for c in page["changes"]]
    assert said == [("alice", None, series.id)]  # ...and must be said


async def _moderator_over(harness: Harness, url: str) -> tuple[Moderator, HttpCalendar]:
    ours = HttpCalendar(url, timezone=TZ, agents=["ada", "bob"], retry=quick_retry())
    moderator = await harness.moderator(
        RecordingWaker(harness.clock),
        (ADA, BOB),
        calendar=ours,
        changes=ours,
        check_interval_s=SAFETY_NET_S,
    )
    moderator.start_loops(SYNC_INTERVAL_S)
    return moderator, ours


async def _until_cached(moderator: Moderator, agent_id: str, slot_id: str) -> None:
    """The feed travels in real time over loopback; the moderator's clock stays put."""
    async with asyncio.timeout(20):
        while slot_id not in moderator.scheduler(agent_id).cache:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_series_made_through_the_server_is_woken_on_time_by_a_moderator_over_http(
    harness: Harness, clock: SettlingClock, server: Restartable
) -> None:
    """`/plan … repeat:daily` (or `calendar add --repeat` on a served calendar) five seconds
    before its first instance, with the moderator following the feed: as for a single slot
    (tests/core/test_change_feed_http.py), the instance must be woken on time."""
    await server.start()
    moderator, ours = await _moderator_over(harness, server.url)
    theirs = HttpCalendar(server.url, timezone=TZ, retry=quick_retry())
    try:
        await clock.advance(120)
        first = clock.now() + timedelta(seconds=5)
        series = await theirs.create_series(
            SeriesCreate(
                agent_id="ada",
                rrule="FREQ=DAILY",
                start=first.astimezone(TZ).strftime("%Y-%m-%dT%H:%M:%S"),
                title="stand-up",
                prompt="report",
            )
        )
        # A later write for bob: once the feed brought it, it brought everything before it.
        marker = await theirs.create_slot(
            SlotCreate(
                agent_id="bob", scheduled_at=first + timedelta(hours=1), title="m", prompt="m"
            )
        )
        await _until_cached(moderator, "bob", marker.id)
        await clock.advance(5)
        occurrence = f"{series.id}_{first.astimezone(TZ):%Y%m%dT%H%M%S}"
        assert isinstance(moderator.waker, RecordingWaker)
        assert moderator.waker.world.times() == {occurrence: first}
    finally:
        await harness.close()
        await theirs.close()
        await ours.close()


async def test_a_slot_moved_across_midnight_over_the_feed_is_woken_at_its_new_time_only(
    harness: Harness, clock: SettlingClock, server: Restartable
) -> None:
    """Day roll-over across the feed: a slot of today (23:50 local) moved by a person to
    00:10 tomorrow while the moderator follows the feed leaves today's cache at once (the
    feed names the change, the moderator re-reads today), is not woken at 23:50, and is
    woken at 00:10 after the moderator moved to the new day."""
    evening = START.replace(hour=23, minute=50)
    await clock.advance((evening - START).total_seconds() - 600)  # 23:40, no moderator yet
    await server.start()
    theirs = HttpCalendar(server.url, timezone=TZ, retry=quick_retry())
    slot = await theirs.create_slot(
        SlotCreate(agent_id="ada", scheduled_at=evening, title="late", prompt="p")
    )
    moderator, ours = await _moderator_over(harness, server.url)
    try:
        assert slot.id in moderator.scheduler("ada").cache
        after_midnight = evening + timedelta(minutes=20)
        await theirs.edit_slot(slot.id, SlotEdit(scheduled_at=after_midnight))
        async with asyncio.timeout(20):
            while slot.id in moderator.scheduler("ada").cache:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert isinstance(moderator.waker, RecordingWaker)
        await clock.advance(15 * 60)  # 23:55: past the old time
        assert moderator.waker.world.times() == {}
        await clock.advance(16 * 60)  # 00:11 on the new day
        assert moderator.waker.world.times() == {slot.id: after_midnight}
    finally:
        await harness.close()
        await theirs.close()
        await ours.close()


# ---- a write whose answer was lost, retried against a restarted server ------------------


async def across_a_restart(
    server: Restartable,
    call: Callable[[HttpCalendar], Coroutine[Any, Any, T]],
    path_ends: str,
) -> T:
    """`call` through a client whose first POST ending in `path_ends` is committed, and then
    the server restarts before its answer leaves: a balancer in front says 503, Retry-After:
    1, and the client's retry (same Idempotency-Key) reaches the new process."""
    lost = asyncio.Event()

    async def restart_after_commit(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)  # committed
        if request.method == "POST" and request.path.endswith(path_ends) and not lost.is_set():
            lost.set()
            return web.json_response(
                {"error": "unavailable", "detail": "the calendar is restarting"},
                status=503,
                headers={"Retry-After": "1"},
            )
        return response

    answered = asyncio.Event()
    await server.start(restart_after_commit)
    client = HttpCalendar(
        server.url,
        timezone=TZ,
        retry=quick_retry(backoff_max_s=2.0),
        observer=lambda _endpoint, status: answered.set() if status == "503" else None,
    )
    try:
        calling = asyncio.create_task(call(client))
        await asyncio.wait_for(answered.wait(), 10)  # the client now waits out Retry-After
        await server.restart()
        return await asyncio.wait_for(calling, 10)
    finally:
        await client.close()


async def _create_slot(cal: HttpCalendar) -> None:
    await cal.create_slot(slot_body(), agent_id="alice")


async def _create_series(cal: HttpCalendar) -> None:
    await cal.create_series(
        SeriesCreate(rrule="FREQ=DAILY", start="2026-01-05T10:00", title="t", prompt="p"),
        agent_id="alice",
    )


async def _slot_count(store: EmbeddedCalendar) -> int:
    return len(await store.list_slots(agent_id="alice"))


async def _series_count(store: EmbeddedCalendar) -> int:
    return len(await store.list_series("alice"))


@pytest.mark.parametrize(
    ("write", "count"),
    [
        pytest.param(_create_slot, _slot_count, id="create-slot"),
        pytest.param(_create_series, _series_count, id="create-series"),
    ],
)
async def test_a_write_whose_answer_was_lost_in_a_restart_is_kept_once(
    server: Restartable,
    store: EmbeddedCalendar,
    write: Callable[[HttpCalendar], Coroutine[Any, Any, None]],
    count: Callable[[EmbeddedCalendar], Awaitable[int]],
) -> None:
    """DESIGN §3: "a retried write with the same key (per caller) gets the first answer
    again". A `/plan` or `calendar add` whose answer was lost in a restart must not plan the
    work twice (a series twice wakes the agent twice every day)."""
    await across_a_restart(server, write, path_ends="")
    assert await count(store) == 1


async def test_a_completion_whose_answer_was_lost_in_a_restart_is_answered_again(
    server: Restartable, store: EmbeddedCalendar
) -> None:
    """An agent reports DONE over REST (or the moderator relays its reply); the answer is
    lost in a restart and the retry gets 409 `invalid_transition` ("it is FINISHED"), so the
    agent is told its DONE was refused although it was kept."""
    slot = await store.create_slot(slot_body(), agent_id="alice")
    await store.transition(slot.id, Action.START, expected_version=slot.version)
    done = await across_a_restart(
        server,
        lambda client: client.transition(slot.id, Action.COMPLETE, agent_id="alice", note="ok"),
        path_ends="/complete",
    )
    assert done.status is SlotStatus.FINISHED


# ---- what holds: the claim key across a restart, the feed across a restart --------------


async def test_a_claim_whose_answer_was_lost_in_a_restart_is_still_won(
    server: Restartable, store: EmbeddedCalendar
) -> None:
    """The claim's key is kept by the store, not the server's memory: a claim retried after
    the restart is answered 200 (replayed), and the slot was started once."""
    slot = await store.create_slot(slot_body(), agent_id="alice")
    claimed = await across_a_restart(
        server,
        lambda client: client.transition(
            slot.id, Action.START, expected_version=slot.version, idempotency_key="claim-1"
        ),
        path_ends="/start",
    )
    assert (claimed.status, claimed.version) == (SlotStatus.ONGOING, slot.version + 1)
    assert [e.action for e in await store.slot_events(slot.id)].count("start") == 1


async def test_a_follower_hears_after_a_server_restart_what_was_written_while_it_was_down(
    server: Restartable, store: EmbeddedCalendar
) -> None:
    """The cursor is the store's history, so the follower's cursor from before the restart
    still names the right place: a slot made while no server ran (a CLI `add` on the file)
    reaches the follower once the server is back, without a reset."""
    await server.start()
    client = HttpCalendar(server.url, timezone=TZ, retry=quick_retry(), agents=["alice", "bob"])
    heard: list[tuple[str, str | None]] = []
    news = asyncio.Event()

    def listener(batch: object) -> None:
        assert isinstance(batch, list)
        heard.extend((c.agent_id, c.slot_id) for c in batch)
        news.set()

    try:
        await client.follow(listener)
        await server.stop()
        made = await store.create_slot(slot_body(), agent_id="alice")
        await server.start()
        async with asyncio.timeout(20):
            while ("alice", made.id) not in heard:
                news.clear()
                await news.wait()
        assert ("bob", None) not in heard  # a cursor kept, not a reset re-reading everyone
    finally:
        await client.close()
