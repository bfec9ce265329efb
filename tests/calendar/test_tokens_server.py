"""DESIGN §3.3 at the server: every endpoint x every kind of credential -> the status, and a
refused call changes nothing. Also: malformed HTTP is a JSON 400, and `token=` is never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.models import Action, SeriesCreate, SlotCreate
from bot.core.tokens import TokenKind, derive_token
from tests.calendar.access_log import get_and_read_log
from tests.calendar.conftest import START, TOKEN, TZ

PREVIOUS = "the-previous-calendar-token-0123456789"
AGENTS = [
    AgentConfig(id="alice"),
    AgentConfig(id="bob"),
    AgentConfig(id="carol", token_generation=2),
]
DAY = START.date().isoformat()

#: Credential name -> Authorization header value (None: no header).
CREDENTIALS: dict[str, str | None] = {
    "none": None,
    "wrong": "Bearer not-the-token",
    "full": f"Bearer {TOKEN}",
    "previous": f"Bearer {PREVIOUS}",
    "agent": f"Bearer {derive_token(TOKEN, TokenKind.AGENT, 'alice')}",
    "agent-of-previous": f"Bearer {derive_token(PREVIOUS, TokenKind.AGENT, 'alice')}",
    "other-agent": f"Bearer {derive_token(TOKEN, TokenKind.AGENT, 'bob')}",
    "revoked": f"Bearer {derive_token(TOKEN, TokenKind.AGENT, 'carol', 1)}",
    "unknown-agent": f"Bearer {derive_token(TOKEN, TokenKind.AGENT, 'mallory')}",
    "feed": f"Bearer {derive_token(TOKEN, TokenKind.FEED, 'alice')}",
    "forged": f"Bearer agt.alice.1.{'A' * 43}",
}

#: (endpoint, method, path, body): every call, on alice's slot and naming alice.
ENDPOINTS: list[tuple[str, str, str, Any]] = [
    ("day", "GET", f"/calendar/day?date={DAY}", None),
    ("status", "GET", "/calendar/agent/status", None),
    ("heartbeat", "POST", "/calendar/agent/heartbeat", {"status": "idle"}),
    (  # full token only: never in ALLOWED_TO_AN_AGENT
        "heartbeat-many",
        "POST",
        "/calendar/agents/heartbeat",
        {"agents": [{"agent_id": "alice", "status": "busy"}]},
    ),
    ("create", "POST", "/calendar/slots", {"scheduled_at": START.isoformat(), "title": "t"}),
    ("get", "GET", "/calendar/slots/{slot}", None),
    *[(a.value, "POST", f"/calendar/slots/{{slot}}/{a.value}", None) for a in Action],
    ("edit", "PATCH", "/calendar/slots/{slot}", {"title": "t2"}),
    ("info", "GET", "/calendar", None),
    (
        "range",
        "GET",
        "/calendar/slots?from=2026-01-05T00:00:00Z&to=2026-01-06T00:00:00Z",
        None,
    ),
    ("series-list", "GET", "/calendar/series", None),
    (
        "series-create",
        "POST",
        "/calendar/series",
        {"rrule": "FREQ=DAILY", "start": "2026-01-06T09:00", "title": "stand-up"},
    ),
    ("changes", "GET", "/calendar/changes?since=0", None),
]
#: DESIGN §3.3: an agent token may also edit and cancel its own slots (API 2).
ALLOWED_TO_AN_AGENT = {
    *("day", "status", "create", "get", "complete", "abort", "pause", "resume"),
    *("cancel", "edit", "info", "range", "changes"),
    "series-list",  # reading its own series; making one is for people
}


def expected(credential: str, endpoint: str) -> int:
    if credential in ("none", "wrong", "revoked", "unknown-agent", "forged"):
        return 401
    if credential in ("feed", "other-agent"):  # other-agent names alice in X-Agent-Id
        return 403
    if credential.startswith("agent") and endpoint not in ALLOWED_TO_AN_AGENT:
        return 403
    return 0  # not refused by the policy: whatever the call itself answers (< 500)


@dataclass
class Server:
    base: str
    store: EmbeddedCalendar
    slot_id: str


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[Server]:
    store = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    slot = await store.create_slot(
        SlotCreate(scheduled_at=START - timedelta(minutes=1), title="due"), agent_id="alice"
    )
    runner, port = await start_server(
        store, "127.0.0.1", 0, token=TOKEN, previous_token=PREVIOUS, agents=AGENTS
    )
    try:
        yield Server(f"http://127.0.0.1:{port}", store, slot.id)
    finally:
        await runner.cleanup()
        await store.close()


async def _snapshot(store: EmbeddedCalendar) -> tuple[Any, ...]:
    slots = await store.list_slots()
    return tuple(slots), tuple(await store.agent_ids())


@pytest.mark.parametrize("credential", list(CREDENTIALS))
async def test_every_endpoint_under_every_credential(
    credential: str, server: Server, http: aiohttp.ClientSession
) -> None:
    for endpoint, method, path, body in ENDPOINTS:
        headers = {"X-Agent-Id": "alice"} if credential != "agent" else {}
        authorization = CREDENTIALS[credential]
        if authorization is not None:
            headers["Authorization"] = authorization
        before = await _snapshot(server.store)
        url = server.base + path.format(slot=server.slot_id)
        async with http.request(method, url, headers=headers, json=body) as resp:
            answer = await resp.json()
            status = resp.status
        want = expected(credential, endpoint)
        if want:
            assert status == want, (endpoint, answer)
            assert answer["error"] == {401: "unauthorized", 403: "forbidden"}[want]
            assert await _snapshot(server.store) == before, endpoint
        else:
            assert status < 500 and status not in (401, 403), (endpoint, status, answer)


async def test_an_agent_token_acts_only_as_its_agent(
    server: Server, http: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": CREDENTIALS["agent"] or ""}
    body = {"scheduled_at": START.isoformat()}
    async with http.post(f"{server.base}/calendar/slots", headers=auth, json=body) as resp:
        assert resp.status == 201 and (await resp.json())["agent_id"] == "alice"
    before = await _snapshot(server.store)
    for headers, sent in [
        ({"X-Agent-Id": "bob"}, body),
        ({}, {**body, "agent_id": "bob"}),
    ]:
        async with http.post(
            f"{server.base}/calendar/slots", headers={**auth, **headers}, json=sent
        ) as resp:
            assert (resp.status, (await resp.json())["error"]) == (403, "forbidden")
    assert await _snapshot(server.store) == before
    bobs = await server.store.create_slot(SlotCreate(scheduled_at=START), agent_id="bob")
    for path in [f"/calendar/slots/{bobs.id}", f"/calendar/slots/{bobs.id}/abort"]:
        method = "GET" if path.count("/") == 3 else "POST"
        async with http.request(method, server.base + path, headers=auth) as resp:
            assert resp.status == 404  # another agent's slot is not revealed
    assert (await server.store.get_slot(bobs.id)).status == "NOT_STARTED"


async def test_idempotency_keys_are_per_caller(server: Server, http: aiohttp.ClientSession) -> None:
    key = {"Idempotency-Key": "same-key"}
    body = {"scheduled_at": START.isoformat(), "title": "t"}
    made = []
    for auth in (CREDENTIALS["agent"], CREDENTIALS["full"]):
        headers = {"Authorization": auth or "", "X-Agent-Id": "alice", **key}
        async with http.post(f"{server.base}/calendar/slots", headers=headers, json=body) as resp:
            assert resp.status == 201 and "Idempotent-Replayed" not in resp.headers
            made.append((await resp.json())["id"])
    assert made[0] != made[1]


async def test_malformed_http_is_a_json_400_and_one_warning(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = server.base.removeprefix("http://").split(":")
    for request in [
        b"GET /calendar/day HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GARBAGE\x00 / HTTP/9\r\n\r\n",
        b"GET /" + b"p" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            await writer.drain()
            answer = await reader.read()
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"400", head
        assert b"application/json" in head and b'"error": "bad_http"' in body
        assert not any(r.exc_info for r in caplog.records)
        assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] in (
            [logging.WARNING],
            [],  # a first request that is not HTTP at all is logged at DEBUG by aiohttp
        )


async def test_a_token_query_value_never_reaches_the_log(
    server: Server, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    secret = derive_token(TOKEN, TokenKind.FEED, "alice")
    url = f"{server.base}/calendar/day?date={DAY}&token={secret}"
    status, logged = await get_and_read_log(http, url, caplog)
    assert status == 401
    assert "/calendar/day" in logged and "REDACTED" in logged
    assert secret not in logged and TOKEN not in logged


async def test_an_agent_token_reads_only_its_own_series(
    server: Server, http: aiohttp.ClientSession
) -> None:
    rule = {"rrule": "FREQ=DAILY", "start": "2026-01-06T09:00", "title": "stand-up"}
    alices = await server.store.create_series(SeriesCreate(**rule), agent_id="alice")
    bobs = await server.store.create_series(SeriesCreate(**rule), agent_id="bob")
    auth = {"Authorization": CREDENTIALS["agent"] or ""}
    async with http.get(f"{server.base}/calendar/series", headers=auth) as resp:
        assert resp.status == 200
        assert [s["id"] for s in (await resp.json())["series"]] == [alices.id]
    async with http.get(f"{server.base}/calendar/series/{alices.id}", headers=auth) as resp:
        assert resp.status == 200
    async with http.get(f"{server.base}/calendar/series/{bobs.id}", headers=auth) as resp:
        assert resp.status == 404  # another agent's series is not revealed
    async with http.get(f"{server.base}/calendar/series?agent_id=bob", headers=auth) as resp:
        assert resp.status == 403
    async with http.delete(f"{server.base}/calendar/series/{alices.id}", headers=auth) as resp:
        assert resp.status == 403
    assert (await server.store.get_series(alices.id)).ended_at is None
