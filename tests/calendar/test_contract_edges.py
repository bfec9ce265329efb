"""Edges of the served calendar's contract a conformance review against DESIGN v2 found
broken, each fixed: a NUL character is refused alike on PostgreSQL and SQLite (PostgreSQL
answered 503), a change-feed cursor from another store answers `reset` (§4.1), and the
client keeps a slot with a status it does not know as "not wakeable" (§3). Against the
real server on loopback (and PostgreSQL, started by the tests; never skipped in CI).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.calendar.client import HttpCalendar
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.clock import FakeClock
from bot.core.models import SlotStatus
from testkit.retries import quick_retry
from tests.calendar.conftest import (
    START,
    TZ,
    Handler,
    Served,
    minutes,
    open_pg,
    slot_body,
)

SLOT = {"agent_id": "alice", "scheduled_at": START.isoformat(), "title": "t", "prompt": "p"}


async def _serve(store: EmbeddedCalendar) -> tuple[web.AppRunner, str]:
    runner, port = await start_server(store, "127.0.0.1", 0)
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def pg_served(pg_url: str, clock: FakeClock) -> AsyncIterator[str]:
    """`calendar serve`'s server over a fresh PostgreSQL database (no token)."""
    store = await open_pg(pg_url, clock)
    runner, base = await _serve(store)
    try:
        yield base
    finally:
        await runner.cleanup()
        await store.close()


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("field", ["title", "prompt", "note"])
async def test_a_nul_character_is_answered_the_same_on_postgresql_not_503(
    pg_served: str, http: aiohttp.ClientSession, field: str
) -> None:
    text = "before\x00after"
    if field == "note":
        status, made = await _post(http, f"{pg_served}/calendar/slots", SLOT)
        assert status == 201, made
        url, body = f"{pg_served}/calendar/slots/{made['id']}/cancel", {"note": text}
    else:
        url, body = f"{pg_served}/calendar/slots", {**SLOT, field: text}
    status, answer = await _post(http, url, body)
    assert status in (200, 201, 422), answer
    if status == 422:
        assert answer["error"] == "validation_error" and field in answer["detail"]
    else:
        assert answer[field] == text  # kept exactly


async def test_a_cursor_from_another_store_answers_reset(
    store: EmbeddedCalendar, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    other = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    runners: list[web.AppRunner] = []
    try:
        await other.create_slot(slot_body(), agent_id="alice")
        other_runner, other_base = await _serve(other)
        runners.append(other_runner)
        async with http.get(f"{other_base}/calendar/changes") as resp:
            foreign = (await resp.json())["cursor"]
        for n in range(3):
            await store.create_slot(slot_body(START + minutes(n)), agent_id="bob")
        runner, base = await _serve(store)
        runners.append(runner)
        async with http.get(f"{base}/calendar/changes?since={foreign}&wait=0") as resp:
            assert resp.status == 200
            page = await resp.json()
    finally:
        for each in runners:
            await each.cleanup()
        await other.close()
    assert page["reset"] is True, page


def _status_rewritten_to(status: str) -> Any:
    """A middleware (a newer server, as the client sees it) that answers one slot's reads
    with a status this client does not know."""

    async def rewrite(request: web.Request, handler: Handler) -> web.StreamResponse:
        answer = await handler(request)
        if request.method != "GET" or not request.path.startswith(
            ("/calendar/slots/", "/calendar/day")
        ):
            return answer
        assert isinstance(answer, web.Response) and answer.body is not None
        assert isinstance(answer.body, bytes)
        data = json.loads(answer.body)
        for slot in data.get("slots", [data]):
            slot["status"] = status
        return web.json_response(data, status=answer.status)

    return rewrite


async def test_the_client_reads_a_slot_with_an_unknown_status_as_not_wakeable(
    serve: Any, store: EmbeddedCalendar
) -> None:
    made = await store.create_slot(slot_body(), agent_id="alice")
    served: Served = await serve(_status_rewritten_to("SNOOZED"))
    client = HttpCalendar(served.base_url, timezone=TZ, retry=quick_retry())
    try:
        slot = await client.get_slot(made.id, "alice")
        day = await client.get_day("alice", START.date())
    finally:
        await client.close()
    assert slot.id == made.id and slot.status is SlotStatus.UNKNOWN
    assert not (slot.status.is_pending or slot.status.is_active or slot.status.is_final)
    assert day.schedule is not None  # kept in the day, not skipped as malformed
    assert [(s.id, s.status) for s in day.schedule.slots] == [(made.id, SlotStatus.UNKNOWN)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/calendar/slots/a%00b", None),
        ("POST", "/calendar/slots/a%00b/cancel", {}),
        ("PATCH", "/calendar/slots/a%00b", {"title": "t"}),
        ("GET", "/calendar/series/a%00b", None),
        ("DELETE", "/calendar/series/a%00b", None),
        (
            "POST",
            "/calendar/agent/heartbeat",
            {"status": "busy", "current_slot_id": "a\x00b"},
        ),
    ],
    ids=["get", "transition", "edit", "series", "end-series", "heartbeat"],
)
async def test_a_nul_character_in_an_id_is_a_refusal_on_postgresql_not_503(
    pg_served: str, http: aiohttp.ClientSession, method: str, path: str, body: Any
) -> None:
    headers = {"X-Agent-Id": "alice"}  # agent-scoped calls need it; the others ignore it
    async with http.request(method, f"{pg_served}{path}", json=body, headers=headers) as resp:
        answer = await resp.json()
        assert resp.status in (404, 422), (resp.status, answer)
