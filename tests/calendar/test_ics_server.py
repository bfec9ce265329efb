"""`GET /calendar/ics/{agent_id}` over the real server: who may read it, and what it answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import icalendar
import pytest

from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.models import SeriesCreate, SlotCreate
from bot.core.tokens import TokenKind, derive_token
from tests.calendar.access_log import get_and_read_log
from tests.calendar.conftest import START, TOKEN, TZ

AGENTS = [
    AgentConfig(id="alice"),
    AgentConfig(id="bob"),
    AgentConfig(id="carol", token_generation=2),
]
FEED = "/calendar/ics/alice"


def token(kind: TokenKind, agent: str, generation: int = 1) -> str:
    return derive_token(TOKEN, kind, agent, generation)


@pytest.fixture
async def base(clock: FakeClock) -> AsyncIterator[str]:
    store = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    await store.create_slot(
        SlotCreate(scheduled_at=START + timedelta(hours=1), title="one"), agent_id="alice"
    )
    await store.create_series(
        SeriesCreate(rrule="FREQ=DAILY", start="2026-01-06T09:00", title="daily"), agent_id="alice"
    )
    await store.create_slot(
        SlotCreate(scheduled_at=START + timedelta(hours=2), title="bob's"), agent_id="bob"
    )
    runner, port = await start_server(store, "127.0.0.1", 0, token=TOKEN, agents=AGENTS)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await store.close()


ALLOWED = {
    "full bearer": ({"Authorization": f"Bearer {TOKEN}"}, ""),
    "full query": ({}, f"?token={TOKEN}"),
    "feed query": ({}, f"?token={token(TokenKind.FEED, 'alice')}"),
    "feed bearer": ({"Authorization": f"Bearer {token(TokenKind.FEED, 'alice')}"}, ""),
    "agent query": ({}, f"?token={token(TokenKind.AGENT, 'alice')}"),
}
REFUSED = {
    "no token": ({}, "", 401),
    "wrong query": ({}, "?token=not-the-token", 401),
    "revoked": ({}, f"?token={token(TokenKind.FEED, 'carol', 1)}", 401),
    "empty query": ({}, "?token=", 401),
    "bob's feed token": ({}, f"?token={token(TokenKind.FEED, 'bob')}", 403),
    "bob's agent token": ({"Authorization": f"Bearer {token(TokenKind.AGENT, 'bob')}"}, "", 403),
}


@pytest.mark.parametrize("name", list(ALLOWED))
async def test_who_may_read_alices_feed(name: str, base: str, http: aiohttp.ClientSession) -> None:
    headers, query = ALLOWED[name]
    async with http.get(base + FEED + query, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/calendar"
        body = await resp.read()
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert sorted(str(e["SUMMARY"]) for e in events) == ["daily", "one"]


@pytest.mark.parametrize("name", list(REFUSED))
async def test_who_may_not(name: str, base: str, http: aiohttp.ClientSession) -> None:
    headers, query, status = REFUSED[name]
    async with http.get(base + FEED + query, headers=headers) as resp:
        assert resp.status == status
        assert (await resp.json())["error"] in ("unauthorized", "forbidden")


async def test_a_feed_token_reads_nothing_else(base: str, http: aiohttp.ClientSession) -> None:
    feed = token(TokenKind.FEED, "alice")
    for path in (
        "/calendar/slots?agent_id=alice&from=2026-01-05T00:00:00Z&to=2026-01-06T00:00:00Z",
        "/calendar/series",
        "/calendar",
    ):
        async with http.get(base + path, headers={"Authorization": f"Bearer {feed}"}) as resp:
            assert resp.status == 403
        async with http.get(
            f"{base}{path}&token={feed}" if "?" in path else f"{base}{path}?token={feed}"
        ) as resp:
            assert resp.status == 401  # ?token= is read on the feed only


async def test_a_bad_agent_id_is_400(base: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{base}/calendar/ics/Not..Valid?token={TOKEN}") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_agent_id"


async def test_the_feed_token_never_reaches_the_log(
    base: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    secret = token(TokenKind.FEED, "alice")
    status, logged = await get_and_read_log(http, f"{base}{FEED}?token={secret}", caplog)
    assert status == 200
    assert FEED in logged and "REDACTED" in logged
    assert secret not in logged and TOKEN not in logged


async def test_the_calendar_says_it_serves_ics(base: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{base}/calendar", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert "ics" in (await resp.json())["features"]


ONE_EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
    "DTSTART:20260110T090000Z\r\nSUMMARY:posted\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.parametrize(
    ("credential", "status"),
    [
        (TOKEN, 200),
        (token(TokenKind.AGENT, "alice"), 200),
        (token(TokenKind.FEED, "alice"), 403),
        (token(TokenKind.AGENT, "bob"), 403),
        ("wrong", 401),
    ],
)
async def test_who_may_import(
    base: str, http: aiohttp.ClientSession, credential: str, status: int
) -> None:
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "text/calendar"}
    async with http.post(base + FEED, data=ONE_EVENT, headers=headers) as resp:
        assert resp.status == status
        answer = await resp.json()
    async with http.get(f"{base}{FEED}?token={TOKEN}") as resp:
        stored = "posted" in await resp.text()
    assert stored == (status == 200)
    if status == 200:
        assert answer == {"created": 1, "updated": 0, "unchanged": 0, "skipped": []}


async def test_a_refused_upload_stores_nothing(base: str, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    cut_off = ONE_EVENT.replace("END:VCALENDAR\r\n", "").replace("END:VEVENT\r\n", "")
    for body, said in (("not a calendar", "not an iCalendar file"), (cut_off, "cut off")):
        async with http.post(base + FEED, data=body, headers=headers) as resp:
            assert resp.status == 422
            answer = await resp.json()
        assert answer["error"] == "bad_ics" and said in answer["detail"]
        assert "/tmp" not in answer["detail"]
    async with http.get(f"{base}{FEED}?token={TOKEN}") as resp:
        assert "posted" not in await resp.text()
