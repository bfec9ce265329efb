"""The served calendar's edges (DESIGN §3, §3.3), on a real server on loopback: an import
with an Idempotency-Key, a token in a malformed request line, an agent token's import of a
recurring event, and an agent token against another agent's occurrences. From a review: the
first three failed before their fixes; the last pins what held.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.models import SeriesCreate
from bot.core.tokens import TokenKind, derive_token
from tests.calendar.conftest import TOKEN, TZ
from tests.calendar.ics_files import vcalendar, vevent

AGENTS = [AgentConfig(id="alice"), AgentConfig(id="bob")]
ALICE = {"Authorization": f"Bearer {derive_token(TOKEN, TokenKind.AGENT, 'alice')}"}
FULL = {"Authorization": f"Bearer {TOKEN}"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


@dataclass
class Server:
    base: str
    store: EmbeddedCalendar


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[Server]:
    store = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    runner, port = await start_server(store, "127.0.0.1", 0, token=TOKEN, agents=AGENTS)
    try:
        yield Server(f"http://127.0.0.1:{port}", store)
    finally:
        await runner.cleanup()
        await store.close()


async def call(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], **sent: Any
) -> tuple[int, Any]:
    async with http.request(method, url, headers=headers, **sent) as resp:
        return resp.status, json.loads(await resp.text())


async def test_an_import_carrying_an_idempotency_key_imports_the_file(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """DESIGN §3: every write may carry an Idempotency-Key (our own client sends one on
    every POST but the upload)."""
    body = vcalendar([vevent("u1", "DTSTART:20260106T100000Z", "SUMMARY:one")])
    headers = {**FULL, **ICS, "Idempotency-Key": "import-1"}
    status, answer = await call(
        http, "POST", f"{server.base}/calendar/ics/alice", headers, data=body
    )
    assert (status, answer.get("created")) == (200, 1), answer
    assert len(await server.store.list_slots()) == 1


async def test_a_malformed_request_line_never_logs_its_token(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    secret = derive_token(TOKEN, TokenKind.FEED, "alice")
    host, port = server.base.removeprefix("http://").split(":")
    line = f"GET /calendar/ics/alice?token={secret}\x01 HTTP/1.1\r\nHost: x\r\n\r\n"
    with caplog.at_level(logging.DEBUG):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(line.encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
    assert b" 400 " in answer.split(b"\r\n", 1)[0]
    assert "malformed HTTP request" in caplog.text  # the refusal was logged...
    assert secret not in caplog.text  # ...without the secret


async def test_an_agent_token_import_makes_no_series(
    server: Server, http: aiohttp.ClientSession
) -> None:
    body = vcalendar([vevent("u2", "DTSTART:20260106T100000Z", "RRULE:FREQ=DAILY")])
    status, answer = await call(http, "POST", f"{server.base}/calendar/series", ALICE, json={})
    assert status == 403  # the series call itself is refused to the agent token
    status, answer = await call(
        http, "POST", f"{server.base}/calendar/ics/alice", {**ALICE, **ICS}, data=body
    )
    assert await server.store.list_series("alice") == [], answer


async def test_an_agent_token_never_reaches_another_agents_occurrence_or_series(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Occurrences not yet changed on their own are not rows: the store must still scope
    them to the series' agent (404, as a slot that does not exist), and keep the series and
    its changes out of the other agent's view."""
    bobs = await server.store.create_series(
        SeriesCreate(rrule="FREQ=DAILY", start="2026-01-05T10:00", title="bob's"),
        agent_id="bob",
    )
    occurrence = f"{bobs.id}_20260106T100000"
    slot = f"{server.base}/calendar/slots/{occurrence}"
    for method, url, sent in [
        ("GET", slot, None),
        ("PATCH", slot, {"title": "mine now"}),
        ("POST", f"{slot}/cancel", None),
        ("POST", f"{slot}/abort", None),
        ("GET", f"{server.base}/calendar/series/{bobs.id}", None),
    ]:
        status, answer = await call(http, method, url, ALICE, json=sent)
        assert (status, answer["error"]) == (404, "not_found"), (method, url)
    status, answer = await call(http, "GET", f"{server.base}/calendar/changes?since=0", ALICE)
    assert (status, answer["changes"]) == (200, [])
    kept = await server.store.get_slot(occurrence)
    assert (kept.title, kept.status, kept.version) == ("bob's", "NOT_STARTED", 1)
