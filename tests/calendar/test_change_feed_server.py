"""`GET /calendar/changes` on the real server (DESIGN §4.1): long poll, cursors, scoping,
bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.calendar.server import start_server
from bot.calendar.server.changes import PULSE_KEY
from bot.calendar.store import EmbeddedCalendar
from bot.core.clock import FakeClock
from bot.core.models import SlotEdit
from bot.core.tokens import TokenKind, derive_token
from tests.calendar.conftest import START, TOKEN, TZ, cursor_number, minutes, slot_body

FULL = {"Authorization": f"Bearer {TOKEN}"}
ALICE = {"Authorization": f"Bearer {derive_token(TOKEN, TokenKind.AGENT, 'alice')}"}


class Feed:
    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http

    async def get(self, query: str = "", headers: dict[str, str] = FULL) -> tuple[int, Any]:
        async with self.http.get(f"{self.base}/calendar/changes{query}", headers=headers) as resp:
            return resp.status, await resp.json()

    async def cursor(self) -> str:
        status, body = await self.get()
        assert status == 200 and body["changes"] == [] and body["reset"] is False
        return str(body["cursor"])


async def _serve(store: EmbeddedCalendar) -> tuple[aiohttp.web.AppRunner, str]:
    runner, port = await start_server(store, "127.0.0.1", 0, token=TOKEN)
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def feed(store: EmbeddedCalendar, http: aiohttp.ClientSession) -> AsyncIterator[Feed]:
    runner, base = await _serve(store)
    try:
        yield Feed(base, http)
    finally:
        await runner.cleanup()


async def test_a_long_poll_answers_with_a_change_made_while_it_waits(
    feed: Feed, store: EmbeddedCalendar
) -> None:
    cursor = await feed.cursor()
    poll = asyncio.create_task(feed.get(f"?since={cursor}&wait=30"))
    await asyncio.sleep(0)  # let it start waiting (the answer does not depend on it)
    slot = await store.create_slot(slot_body(START + minutes(5)), agent_id="alice")
    status, body = await asyncio.wait_for(poll, 20)
    assert status == 200 and body["reset"] is False
    assert body["changes"] == [
        {
            "agent_id": "alice",
            "slot_id": slot.id,
            "series_id": None,
            "dates": [START.date().isoformat()],
            "version": slot.version,
        }
    ]
    assert cursor_number(body["cursor"]) > cursor_number(cursor)
    status, again = await feed.get(f"?since={body['cursor']}")
    assert (status, again["changes"], again["cursor"]) == (200, [], body["cursor"])


async def test_changes_made_before_a_poll_are_not_missed_and_come_once_per_slot(
    feed: Feed, store: EmbeddedCalendar
) -> None:
    cursor = await feed.cursor()
    slot = await store.create_slot(slot_body(), agent_id="alice")
    await store.edit_slot(slot.id, SlotEdit(title="renamed"))
    other = await store.create_slot(slot_body(), agent_id="bob")
    status, body = await feed.get(f"?since={cursor}&wait=5")
    assert status == 200
    assert [(c["slot_id"], c["version"]) for c in body["changes"]] == [
        (slot.id, slot.version + 1),
        (other.id, other.version),
    ]


async def test_an_agent_token_sees_only_its_own_agents_changes(
    feed: Feed, store: EmbeddedCalendar
) -> None:
    cursor = await feed.cursor()
    await store.create_slot(slot_body(), agent_id="bob")
    status, body = await feed.get(f"?since={cursor}&wait=0.2", headers=ALICE)
    assert status == 200 and body["changes"] == []
    mine = await store.create_slot(slot_body(), agent_id="alice")
    status, body = await feed.get(f"?since={cursor}", headers=ALICE)
    assert [c["slot_id"] for c in body["changes"]] == [mine.id]
    status, body = await feed.get(f"?since={cursor}", headers={**ALICE, "X-Agent-Id": "bob"})
    assert (status, body["error"]) == (403, "forbidden")


async def test_a_cursor_beyond_the_store_answers_reset_with_the_current_cursor(
    feed: Feed, store: EmbeddedCalendar
) -> None:
    await store.create_slot(slot_body(), agent_id="alice")
    current = await feed.cursor()
    mark = current.rsplit("-", 1)[0]
    status, body = await feed.get(f"?since={mark}-{cursor_number(current) + 1000}&wait=30")
    assert (status, body) == (200, {"cursor": current, "reset": True, "changes": []})


async def test_cursors_stay_valid_across_a_server_restart(
    tmp_path: Path, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "calendar.db"
    store = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    runner, base = await _serve(store)
    cursor = await Feed(base, http).cursor()
    await runner.cleanup()
    await store.close()
    store = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    try:
        slot = await store.create_slot(slot_body(), agent_id="alice")  # while no server ran
        runner, base = await _serve(store)
        status, body = await Feed(base, http).get(f"?since={cursor}&wait=5")
        await runner.cleanup()
    finally:
        await store.close()
    assert status == 200 and body["reset"] is False
    assert [c["slot_id"] for c in body["changes"]] == [slot.id]


async def test_stopping_the_server_ends_a_long_poll_at_once(
    store: EmbeddedCalendar, http: aiohttp.ClientSession
) -> None:
    runner, base = await _serve(store)
    feed = Feed(base, http)
    cursor = await feed.cursor()
    poll = asyncio.create_task(feed.get(f"?since={cursor}&wait=60"))
    pulse = runner.app[PULSE_KEY]
    while not pulse.following:  # until the poll is inside the handler, waiting  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    await asyncio.wait_for(runner.cleanup(), 30)  # not the 60 s the poll asked for
    status, body = await asyncio.wait_for(poll, 30)
    assert (status, body["changes"]) == (200, [])


BAD_QUERIES = [
    ("?since=abc", "bad_cursor"),
    ("?since=-1", "bad_cursor"),
    ("?since=1.5", "bad_cursor"),
    ("?since=", "bad_cursor"),
    ("?since=" + "9" * 19, "bad_cursor"),
    ("?since=" + "1" * 5000, "bad_cursor"),
    ("?since=0&wait=-1", "bad_wait"),
    ("?since=0&wait=61", "bad_wait"),
    ("?since=0&wait=1e9", "bad_wait"),
    ("?since=0&wait=nan", "bad_wait"),
    ("?since=0&wait=inf", "bad_wait"),
    ("?since=0&wait=soon", "bad_wait"),
    ("?since=0&wait=", "bad_wait"),
    ("?since=0&wiat=30", "bad_query"),
    ("?since=0&since=1", "bad_query"),
]


@pytest.mark.parametrize(("query", "code"), BAD_QUERIES)
async def test_bad_cursors_and_waits_are_400_and_change_nothing(
    feed: Feed, store: EmbeddedCalendar, query: str, code: str
) -> None:
    await store.create_slot(slot_body(), agent_id="alice")
    before = await store.list_slots()
    status, body = await feed.get(query)
    assert (status, body["error"]) == (400, code)
    assert body["detail"]
    assert await store.list_slots() == before
