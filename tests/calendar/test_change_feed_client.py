"""`HttpCalendar.follow` against the real server (DESIGN §4.1): changes arrive, nothing made
between the cursor and the first sync is missed, a v1 server falls back quietly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from bot.calendar.client import HttpCalendar
from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import SlotChanged
from bot.core.shard_status import FeedHealth
from testkit.retries import quick_retry
from tests.calendar.conftest import TOKEN, TZ, Handler, Served, slot_body


class Heard:
    """A listener that remembers every change and lets a test wait for one."""

    def __init__(self) -> None:
        self.changes: list[SlotChanged] = []
        self._news = asyncio.Event()

    def __call__(self, batch: Sequence[SlotChanged]) -> None:
        self.changes.extend(batch)
        self._news.set()

    @classmethod
    async def following(cls, client: HttpCalendar) -> Heard:
        heard = cls()
        await client.follow(heard)
        return heard

    async def until(self, wanted: Callable[[list[SlotChanged]], bool]) -> None:
        async with asyncio.timeout(30):
            while not wanted(self.changes):
                self._news.clear()
                await self._news.wait()


async def assert_a_store_write_is_heard(
    store: EmbeddedCalendar, client: HttpCalendar, heard: Heard, agent_id: str
) -> None:
    """A slot made through the store reaches `heard`, and the client says its feed is up."""
    slot = await store.create_slot(slot_body(), agent_id=agent_id)
    await heard.until(lambda seen: SlotChanged(agent_id, slot.id) in seen)
    assert client.change_feed_up


@pytest.fixture
async def client_for(
    serve: Callable[..., Awaitable[Served]],
) -> AsyncIterator[Callable[..., Awaitable[HttpCalendar]]]:
    clients: list[HttpCalendar] = []

    async def make(*outer: Handler, agents: Sequence[str] = ()) -> HttpCalendar:
        served = await serve(*outer, token=TOKEN)
        client = HttpCalendar(
            served.base_url, timezone=TZ, token=TOKEN, retry=quick_retry(), agents=agents
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_a_change_made_through_the_store_reaches_a_follower(
    client_for: Callable[..., Awaitable[HttpCalendar]], store: EmbeddedCalendar
) -> None:
    client = await client_for()
    heard = await Heard.following(client)
    await assert_a_store_write_is_heard(store, client, heard, "alice")


async def test_a_change_made_through_another_client_reaches_a_follower(
    client_for: Callable[..., Awaitable[HttpCalendar]],
) -> None:
    follower, writer = await client_for(), await client_for()
    heard = Heard()
    await follower.follow(heard)
    slot = await writer.create_slot(slot_body(), agent_id="bob")
    await heard.until(lambda seen: SlotChanged("bob", slot.id) in seen)


async def test_the_cursor_is_taken_before_follow_returns_so_nothing_made_after_is_missed(
    client_for: Callable[..., Awaitable[HttpCalendar]], store: EmbeddedCalendar
) -> None:
    client = await client_for()
    heard = await Heard.following(client)
    # Made right after follow returned, before any poll could have started ("the first sync").
    first = await store.create_slot(slot_body(), agent_id="alice")
    second = await store.create_slot(slot_body(), agent_id="carol")
    await heard.until(lambda seen: {first.id, second.id} <= {c.slot_id for c in seen})


async def test_a_v1_server_makes_the_client_fall_back_without_errors(
    client_for: Callable[..., Awaitable[HttpCalendar]],
    store: EmbeddedCalendar,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def v1(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in ("/calendar", "/calendar/changes"):
            return web.json_response({"error": "not_found", "detail": "no route"}, status=404)
        return await handler(request)

    client = await client_for(v1)
    heard = Heard()
    with caplog.at_level(logging.WARNING):
        unfollow = await client.follow(heard)
        await client.follow(heard)  # said once, tried once
    unfollow()
    assert not client.change_feed_up
    assert client.change_feed_health == FeedHealth(live=False, missing=True)  # for /status
    notices = [r for r in caplog.records if "no change feed" in r.getMessage()]
    assert len(notices) == 1 and notices[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    slot = await client.create_slot(slot_body(), agent_id="alice")  # the rest still works
    assert (await store.get_slot(slot.id)).id == slot.id


async def test_a_failing_feed_is_down_then_recovers_and_delivers(
    client_for: Callable[..., Awaitable[HttpCalendar]], store: EmbeddedCalendar
) -> None:
    failing = {"on": False}

    async def outage(request: web.Request, handler: Handler) -> web.StreamResponse:
        if failing["on"] and request.path == "/calendar/changes":
            return web.json_response({"error": "down", "detail": "maintenance"}, status=503)
        return await handler(request)

    client = await client_for(outage)
    heard = await Heard.following(client)
    failing["on"] = True
    await store.create_slot(slot_body(), agent_id="alice")  # ends the poll in flight
    async with asyncio.timeout(30):
        while client.change_feed_up:  # noqa: ASYNC110 - the client's state, no event to wait on
            await asyncio.sleep(0.01)
    down = client.change_feed_health
    assert not down.live and not down.missing and down.down_since is not None
    assert abs(datetime.now(UTC) - down.down_since) < timedelta(minutes=5)
    failing["on"] = False
    await assert_a_store_write_is_heard(store, client, heard, "bob")
    assert client.change_feed_health == FeedHealth(live=True)


async def test_a_reset_re_reads_every_known_agent(
    client_for: Callable[..., Awaitable[HttpCalendar]],
) -> None:
    async def forgetful(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/calendar/changes" and "since" in request.query:
            return web.json_response({"cursor": "7", "reset": True, "changes": []})
        return await handler(request)

    client = await client_for(forgetful, agents=["alice", "bob"])
    heard = await Heard.following(client)
    await heard.until(lambda seen: {"alice", "bob"} <= {c.agent_id for c in seen})
