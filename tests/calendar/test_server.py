"""The wire itself: status codes, error bodies, headers, auth, as curl would see them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, SlotStatus
from tests.calendar.conftest import START, TOKEN, Handler, Served, slot_body

Serve = Callable[..., Awaitable[Served]]
DAY = START.date().isoformat()
NEW = {"scheduled_at": START.isoformat(), "title": "t", "prompt": "p"}


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    agent: str | None = "alice",
    raw: bytes | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    sent = dict(headers or {})
    if agent is not None:
        sent["X-Agent-Id"] = agent
    async with http.request(method, url, headers=sent, data=raw, json=body) as resp:
        text = await resp.read()
        assert resp.headers.get("Content-Type", "").startswith("application/json"), (
            resp.status,
            resp.headers,
        )
        data = None if resp.status == 304 else await resp.json()
        if resp.status >= 400:
            assert set(data) >= {"error", "detail"}, data
            assert isinstance(data["error"], str) and isinstance(data["detail"], str)
            assert data["detail"]
        assert resp.status != 304 or text == b""
        return resp.status, data, resp.headers


async def test_a_slots_life_over_plain_http(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = (await serve()).base_url
    status, slot, headers = await call(http, "POST", f"{base}/calendar/slots", body=NEW)
    assert status == 201
    assert headers["Location"] == f"/calendar/slots/{slot['id']}"
    assert slot["agent_id"] == "alice" and slot["status"] == "NOT_STARTED"
    assert slot["scheduled_at"].endswith("+08:00")  # RFC 3339 with the calendar's offset
    status, got, _ = await call(http, "GET", f"{base}/calendar/slots/{slot['id']}", agent=None)
    assert (status, got) == (200, slot)
    url = f"{base}/calendar/slots/{slot['id']}/start"
    status, started, _ = await call(http, "POST", url, body={"expected_version": 1})
    assert (status, started["status"], started["version"]) == (200, "ONGOING", 2)
    status, busy, _ = await call(http, "GET", f"{base}/calendar/agent/status")
    assert (status, busy["status"], busy["current_slot_id"]) == (200, "busy", slot["id"])
    status, day, _ = await call(http, "GET", f"{base}/calendar/day?date={DAY}")
    assert status == 200
    assert set(day) == {"date", "agent_id", "timezone", "slots"}
    assert (day["date"], day["agent_id"], day["timezone"]) == (DAY, "alice", "Asia/Shanghai")
    status, beat, _ = await call(
        http, "POST", f"{base}/calendar/agent/heartbeat", body={"status": "busy"}
    )
    assert (status, beat) == (200, {"slots": []})
    # No body at all is fine for a transition.
    status, done, _ = await call(http, "POST", f"{base}/calendar/slots/{slot['id']}/complete")
    assert (status, done["status"]) == (200, "FINISHED")


async def test_etag_and_if_none_match(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = (await serve()).base_url
    await call(http, "POST", f"{base}/calendar/slots", body=NEW)
    url = f"{base}/calendar/day?date={DAY}"
    status, _, headers = await call(http, "GET", url)
    etag = headers["ETag"]
    assert status == 200 and etag.startswith('"')
    for given in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        status, _, again = await call(http, "GET", url, headers={"If-None-Match": given})
        assert status == 304, given
        assert again["ETag"] == etag
    status, _, _ = await call(http, "GET", url, headers={"If-None-Match": '"stale"'})
    assert status == 200
    await call(http, "POST", f"{base}/calendar/slots", body=NEW)
    status, day, changed = await call(http, "GET", url, headers={"If-None-Match": etag})
    assert status == 200 and len(day["slots"]) == 2 and changed["ETag"] != etag


@pytest.mark.parametrize(
    "query", ["", "?date=", "?date=2026-13-01", "?date=20260105", "?date=tomorrow"]
)
async def test_bad_date_is_400(serve: Serve, http: aiohttp.ClientSession, query: str) -> None:
    base = (await serve()).base_url
    status, err, _ = await call(http, "GET", f"{base}/calendar/day{query}")
    assert (status, err["error"]) == (400, "bad_date")
    assert "YYYY-MM-DD" in err["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/calendar/day?date={DAY}", None),
        ("GET", "/calendar/agent/status", None),
        ("POST", "/calendar/agent/heartbeat", {"status": "idle"}),
    ],
)
async def test_agent_scoped_calls_need_x_agent_id(
    serve: Serve, http: aiohttp.ClientSession, method: str, path: str, body: Any
) -> None:
    base = (await serve()).base_url
    status, err, _ = await call(http, method, base + path, agent=None, body=body)
    assert (status, err["error"]) == (400, "missing_agent_id")
    assert "X-Agent-Id" in err["detail"]
    status, err, _ = await call(http, method, base + path, agent="Not Valid", body=body)
    assert (status, err["error"]) == (400, "invalid_agent_id")


async def test_create_without_any_agent_is_400(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = (await serve()).base_url
    status, err, _ = await call(http, "POST", f"{base}/calendar/slots", agent=None, body=NEW)
    assert (status, err["error"]) == (400, "missing_agent_id")
    with_body_agent = {**NEW, "agent_id": "bob"}
    status, slot, _ = await call(
        http, "POST", f"{base}/calendar/slots", agent=None, body=with_body_agent
    )
    assert (status, slot["agent_id"]) == (201, "bob")


async def test_bad_json_and_bad_bodies(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = (await serve()).base_url
    slots = f"{base}/calendar/slots"
    status, err, _ = await call(http, "POST", slots, raw=b'{"title": ')
    assert (status, err["error"]) == (400, "bad_json")
    status, err, _ = await call(http, "POST", slots, raw=b"[1, 2]")
    assert (status, err["error"]) == (422, "validation_error")
    cases = {
        "priority": {**NEW, "priority": 101},
        "scheduled_at": {**NEW, "scheduled_at": "2026-01-05T09:00:00"},  # no offset
        "estimated_duration_min": {**NEW, "estimated_duration_min": 0},
        "id": {**NEW, "id": "mine"},  # server-made fields are refused, not ignored
    }
    for field, body in cases.items():
        status, err, _ = await call(http, "POST", slots, body=body)
        assert (status, err["error"]) == (422, "validation_error"), field
        assert field in err["detail"], err
    beat = f"{base}/calendar/agent/heartbeat"
    status, err, _ = await call(http, "POST", beat)
    assert (status, err["error"]) == (422, "validation_error")
    status, err, _ = await call(http, "POST", beat, body={"status": "asleep"})
    assert (status, err["error"]) == (422, "validation_error")
    assert "status" in err["detail"]


async def test_transition_errors_on_the_wire(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = (await serve()).base_url
    _, slot, _ = await call(http, "POST", f"{base}/calendar/slots", body=NEW)
    url = f"{base}/calendar/slots/{slot['id']}"
    status, err, _ = await call(http, "POST", f"{url}/explode")
    assert (status, err["error"]) == (400, "unknown_action")
    assert "start" in err["detail"]
    status, err, _ = await call(http, "POST", f"{url}/complete")
    assert (status, err["error"]) == (409, "invalid_transition")
    assert err["slot"]["id"] == slot["id"] and err["slot"]["status"] == "NOT_STARTED"
    status, err, _ = await call(http, "POST", f"{url}/start", body={"expected_version": 9})
    assert (status, err["error"], err["slot"]["version"]) == (409, "version_mismatch", 1)
    status, err, _ = await call(http, "POST", f"{url}/start", body={"expected_version": "x"})
    assert (status, err["error"]) == (422, "validation_error")
    status, err, _ = await call(http, "POST", f"{url}/release", body={})
    assert (status, err["error"]) == (422, "expected_version_required")
    status, err, _ = await call(
        http, "POST", f"{url}/start", body={"until": START.isoformat(), "expected_version": 1}
    )
    assert (status, err["error"]) == (422, "until_only_for_defer")
    status, err, _ = await call(http, "POST", f"{base}/calendar/slots/nope/start")
    assert (status, err["error"]) == (404, "not_found")
    # A mismatching X-Agent-Id hides another agent's slot.
    status, err, _ = await call(http, "GET", url, agent="bob")
    assert (status, err["error"]) == (404, "not_found")
    status, err, _ = await call(http, "POST", f"{url}/start", agent="bob")
    assert status == 404


async def test_unknown_routes_and_methods_answer_json(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = (await serve()).base_url
    status, err, _ = await call(http, "GET", f"{base}/calendar/nothing-here")
    assert (status, err["error"]) == (404, "not_found")
    status, err, headers = await call(http, "DELETE", f"{base}/calendar/slots")
    assert (status, err["error"]) == (405, "method_not_allowed")
    assert "POST" in headers["Allow"]


async def test_auth_refuses_missing_and_wrong_tokens(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = (await serve(token=TOKEN)).base_url
    url = f"{base}/calendar/day?date={DAY}"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        status, err, got = await call(http, "GET", url, headers=headers)
        assert (status, err["error"]) == (401, "unauthorized")
        assert got["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in err["detail"]
    # Unknown paths are no way around it.
    status, _, _ = await call(http, "GET", f"{base}/calendar/nothing")
    assert status == 401
    status, _, _ = await call(http, "GET", url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200


async def test_without_a_token_no_auth_is_asked(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = (await serve(token=None)).base_url
    status, _, _ = await call(http, "GET", f"{base}/calendar/agent/status")
    assert status == 200


async def test_an_unexpected_failure_is_a_json_500_and_logged(
    serve: Serve, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/status"):
            raise RuntimeError("disk on fire")
        return await handler(request)

    caplog.set_level(logging.ERROR, logger="bot.calendar.server")
    base = (await serve(inner=[broken])).base_url
    status, err, _ = await call(http, "GET", f"{base}/calendar/agent/status")
    assert (status, err["error"]) == (500, "internal")
    assert "disk on fire" not in err["detail"]
    assert "disk on fire" in caplog.text
    status, _, _ = await call(http, "GET", f"{base}/calendar/day?date={DAY}")
    assert status == 200


async def test_idempotency_key_replays_a_success_once(
    serve: Serve, http: aiohttp.ClientSession, store: EmbeddedCalendar
) -> None:
    base = (await serve()).base_url
    key = {"Idempotency-Key": "k-123"}
    first = await call(http, "POST", f"{base}/calendar/slots", body=NEW, headers=key)
    second = await call(http, "POST", f"{base}/calendar/slots", body=NEW, headers=key)
    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    assert second[2]["Idempotent-Replayed"] == "true"
    assert len(await store.list_slots()) == 1
    status, err, _ = await call(
        http, "POST", f"{base}/calendar/slots", body={**NEW, "title": "other"}, headers=key
    )
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    # A refusal is not remembered: the same key may be tried again.
    slot_id = first[1]["id"]
    url = f"{base}/calendar/slots/{slot_id}/complete"
    again = {"Idempotency-Key": "k-456"}
    assert (await call(http, "POST", url, headers=again))[0] == 409
    await store.transition(slot_id, Action.START)
    status, done, _ = await call(http, "POST", url, headers=again)
    assert (status, done["status"]) == (200, SlotStatus.FINISHED.value)


async def test_a_start_with_its_claim_key_again_answers_the_slot_now_even_after_a_restart(
    serve: Serve, http: aiohttp.ClientSession, store: EmbeddedCalendar
) -> None:
    slot = await store.create_slot(slot_body(), agent_id="alice")
    base = (await serve()).base_url
    url = f"{base}/calendar/slots/{slot.id}/start"
    key = {"Idempotency-Key": "claim-4711"}
    status, first, headers = await call(
        http, "POST", url, body={"expected_version": 1, "note": "claim"}, headers=key
    )
    assert (status, first["status"], first["version"]) == (200, "ONGOING", 2)
    assert "Idempotent-Replayed" not in headers
    await store.transition(slot.id, Action.PAUSE)
    # re-sent later with another note (a recovery's): not the memory cache's 422 or its
    # stale ONGOING copy, but the store's answer: the slot as it is, held by this claim
    status, again, headers = await call(
        http, "POST", url, body={"expected_version": 1, "note": "re-sent"}, headers=key
    )
    assert (status, again["status"], again["version"]) == (200, "PAUSED", 3)
    assert headers["Idempotent-Replayed"] == "true"
    other = {"Idempotency-Key": "claim-0815"}
    status, err, _ = await call(http, "POST", url, body={"expected_version": 1}, headers=other)
    assert (status, err["error"], err["slot"]["version"]) == (409, "version_mismatch", 3)
    # a new server over the same calendar (its memory cache empty) still knows the claim
    status, later, headers = await call(
        http, "POST", f"{(await serve()).base_url}/calendar/slots/{slot.id}/start", headers=key
    )
    assert (status, later["version"], headers["Idempotent-Replayed"]) == (200, 3, "true")
    assert [e.action for e in await store.slot_events(slot.id)] == ["create", "start", "pause"]
    too_long = {"Idempotency-Key": "k" * 201}
    status, err, _ = await call(http, "POST", url, headers=too_long)
    assert (status, err["error"]) == (400, "bad_idempotency_key")


async def test_a_client_hanging_up_mid_request_is_one_info_line_not_an_error(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve()
    caplog.set_level(logging.DEBUG, logger="bot.calendar.server")
    logged = asyncio.Event()

    class Gone(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "went away" in record.getMessage():
                logged.set()

    watcher = Gone()
    logging.getLogger("bot.calendar.server").addHandler(watcher)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(
            b"POST /calendar/agent/heartbeat HTTP/1.1\r\nHost: x\r\nX-Agent-Id: alice\r\n"
            b'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"status": '
        )
        await writer.drain()
        await asyncio.sleep(0.05)  # let the server start reading the body
        writer.transport.abort()  # the client's timeout: it hangs up half way
        await asyncio.wait_for(logged.wait(), timeout=20)
    finally:
        logging.getLogger("bot.calendar.server").removeHandler(watcher)
    [record] = [r for r in caplog.records if "went away" in r.getMessage()]
    assert record.levelno == logging.INFO and record.exc_info is None
    assert "POST /calendar/agent/heartbeat" in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_slot_ids_with_odd_characters_are_just_not_found(
    serve: Serve, http: aiohttp.ClientSession, store: EmbeddedCalendar
) -> None:
    await store.create_slot(slot_body(), agent_id="alice")
    base = (await serve()).base_url
    for odd in ("%2E%2E", "a%20b", "%00"):
        status, err, _ = await call(http, "GET", f"{base}/calendar/slots/{odd}")
        assert (status, err["error"]) == (404, "not_found")
