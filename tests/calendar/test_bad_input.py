"""DESIGN §3.2 over the wire: every bad input is refused with its status and code, stores
nothing, and leaves the agent working (its day and heartbeat answer, a later slot is due).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.clock import FakeClock
from tests.calendar.conftest import START, TZ, Served

Serve = Callable[..., Awaitable[Served]]
DAY = START.date().isoformat()
GOOD: dict[str, Any] = {"scheduled_at": START.isoformat(), "title": "t", "prompt": "p"}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def nested_object(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


#: (case, raw body, expected status, expected error code) for POST /calendar/slots.
BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    (name, json.dumps({**GOOD, **extra}).encode(), 422, "validation_error")
    for name, extra in [
        ("priority as string", {"priority": "50"}),
        ("priority as bool", {"priority": True}),
        ("priority as float", {"priority": 50.0}),
        ("priority too high", {"priority": 101}),
        ("priority negative", {"priority": -1}),
        ("priority huge", {"priority": 10**400}),
        ("duration zero", {"estimated_duration_min": 0}),
        ("duration over a week", {"estimated_duration_min": 10081}),
        ("duration as string", {"estimated_duration_min": "30"}),
        ("time as epoch", {"scheduled_at": 1767574800}),
        ("time as epoch string", {"scheduled_at": "1767574800"}),
        ("time without offset", {"scheduled_at": "2026-01-05T09:00:00"}),
        ("time in year 1", {"scheduled_at": "0001-01-01T00:00:00+00:00"}),
        ("time in year 9999", {"scheduled_at": "9999-12-31T23:59:59+00:00"}),
        ("time past 9998 in the zone", {"scheduled_at": "9998-12-31T20:00:00+00:00"}),
        ("title too long", {"title": "x" * 201}),
        ("prompt too long", {"prompt": "x" * 16_001}),
        ("title as number", {"title": 5}),
        ("slot_type upper case", {"slot_type": "Work"}),
        ("slot_type empty", {"slot_type": ""}),
        ("slot_type too long", {"slot_type": "a" * 33}),
        ("event_data too deep", {"event_data": nested_object(17)}),
        ("event_data too big", {"event_data": {"k": "x" * 17_000}}),
        ("event_data a list", {"event_data": [1]}),
        ("unknown field", {"priorty": 5}),
        ("server-made field", {"id": "mine"}),
        ("bad agent id", {"agent_id": "Bad Id"}),
        ("allow_past as string", {"allow_past": "yes"}),
    ]
] + [
    ("in the past", json.dumps({**GOOD, "scheduled_at": "2026-01-05T07:00:00+08:00"}).encode(),
     422, "in_the_past"),
    ("not JSON", b"{nope", 400, "bad_json"),
    ("NaN", b'{"scheduled_at": "2026-01-05T09:00:00+08:00", "priority": NaN}', 400, "bad_json"),
    ("body nested 65 deep", json.dumps({**GOOD, "x": nested(64)}).encode(), 400, "bad_json"),
    ("body nested 100000 deep", b"[" * 100_000 + b"]" * 100_000, 400, "bad_json"),
    ("lone surrogate", b'{"title": "\\udfff", "scheduled_at": "2026-01-05T09:00:00+08:00"}',
     400, "bad_json"),
    ("a JSON list", b"[1, 2]", 422, "validation_error"),
    ("empty body", b"", 422, "validation_error"),
    ("over 1 MiB", json.dumps({**GOOD, "prompt": "x" * (1024 * 1024)}).encode(), 413, "too_large"),
]  # fmt: skip

#: (case, method, path, headers, body, status, code): queries, headers, other bodies.
BAD_CALLS: list[tuple[str, str, str, dict[str, str], Any, int, str]] = [
    ("date year 9999", "GET", "/calendar/day?date=9999-12-31", {}, None, 400, "bad_date"),
    ("date year 1", "GET", "/calendar/day?date=0001-01-01", {}, None, 400, "bad_date"),
    ("date huge", "GET", "/calendar/day?date=" + "9" * 400, {}, None, 400, "bad_date"),
    ("date missing", "GET", "/calendar/day", {}, None, 400, "bad_date"),
    ("empty X-Agent-Id", "GET", f"/calendar/day?date={DAY}", {"X-Agent-Id": ""}, None, 400,
     "bad_header"),
    ("bad X-Agent-Id", "GET", f"/calendar/day?date={DAY}", {"X-Agent-Id": "A B"}, None, 400,
     "invalid_agent_id"),
    ("empty Idempotency-Key", "POST", "/calendar/slots", {"Idempotency-Key": ""}, GOOD, 400,
     "bad_header"),
    ("long Idempotency-Key", "POST", "/calendar/slots", {"Idempotency-Key": "k" * 201}, GOOD,
     400, "bad_idempotency_key"),
    ("heartbeat status 1", "POST", "/calendar/agent/heartbeat", {}, {"status": 1}, 422,
     "validation_error"),
    ("heartbeat unknown field", "POST", "/calendar/agent/heartbeat", {},
     {"status": "idle", "x": 1}, 422, "validation_error"),
    ("heartbeat slot id too long", "POST", "/calendar/agent/heartbeat", {},
     {"status": "idle", "current_slot_id": "s" * 201}, 422, "validation_error"),
    ("expected_version string", "POST", "/calendar/slots/{slot}/abort", {},
     {"expected_version": "1"}, 422, "validation_error"),
    ("expected_version huge", "POST", "/calendar/slots/{slot}/abort", {},
     {"expected_version": 10**30}, 422, "validation_error"),
    ("note too long", "POST", "/calendar/slots/{slot}/abort", {}, {"note": "n" * 16_001}, 422,
     "validation_error"),
    ("until epoch", "POST", "/calendar/slots/{slot}/defer", {}, {"until": 1767574800}, 422,
     "validation_error"),
    ("until year 9999", "POST", "/calendar/slots/{slot}/defer", {},
     {"until": "9999-06-01T00:00:00+00:00"}, 422, "validation_error"),
    ("transition unknown field", "POST", "/calendar/slots/{slot}/abort", {}, {"nope": 1}, 422,
     "validation_error"),
]  # fmt: skip


async def _send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    raw: bytes | None = None,
    body: Any = None,
) -> tuple[int, dict[str, Any]]:
    sent = {"X-Agent-Id": "alice", "Content-Type": "application/json", **headers}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    async with http.request(method, url, headers=sent, data=data) as resp:
        assert resp.content_type == "application/json", resp.status
        return resp.status, await resp.json()


async def _still_works(http: aiohttp.ClientSession, base: str, store: EmbeddedCalendar) -> None:
    """The agent answers as before and a later valid slot is created, due and claimable."""
    status, day = await _send(http, "GET", f"{base}/calendar/day?date={DAY}", {})
    assert status == 200, day
    status, slot = await _send(http, "POST", f"{base}/calendar/slots", {}, body=GOOD)
    assert status == 201, slot
    status, beat = await _send(
        http, "POST", f"{base}/calendar/agent/heartbeat", {}, body={"status": "idle"}
    )
    assert status == 200 and slot["id"] in [s["id"] for s in beat["slots"]], beat
    started = await store.transition(slot["id"], "start", expected_version=1)  # type: ignore[arg-type]
    assert started.status == "ONGOING"


@pytest.mark.parametrize(
    ("case", "raw", "status", "code"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES]
)
async def test_a_bad_create_is_refused_and_stores_nothing(
    case: str, raw: bytes, status: int, code: str,
    serve: Serve, store: EmbeddedCalendar, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    base = (await serve()).base_url
    got, error = await _send(http, "POST", f"{base}/calendar/slots", {}, raw=raw)
    assert (got, error["error"]) == (status, code), error
    assert error["detail"]
    if code == "validation_error" and case not in ("a JSON list", "empty body"):
        assert ":" in error["detail"]  # the field is named
    assert await store.list_slots() == []
    await _still_works(http, base, store)


@pytest.mark.parametrize(
    ("case", "method", "path", "headers", "body", "status", "code"),
    BAD_CALLS,
    ids=[c[0] for c in BAD_CALLS],
)
async def test_a_bad_call_is_refused_and_changes_nothing(
    case: str, method: str, path: str, headers: dict[str, str], body: Any, status: int,
    code: str, serve: Serve, store: EmbeddedCalendar, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    base = (await serve()).base_url
    made, slot = await _send(
        http,
        "POST",
        f"{base}/calendar/slots",
        {},
        body={**GOOD, "scheduled_at": (START + timedelta(hours=2)).isoformat()},
    )
    assert made == 201
    before = await store.list_slots()
    got, error = await _send(http, method, base + path.format(slot=slot["id"]), headers, body=body)
    assert (got, error["error"]) == (status, code), error
    assert await store.list_slots() == before
    assert await store.slot_events(slot["id"]) == (await store.slot_events(slot["id"]))[:1]
    await _still_works(http, base, store)


async def test_unknown_agents_are_404_when_the_calendar_has_its_agents(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    from bot.calendar.server import start_server

    cal = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock, agents=["alice"])
    runner, port = await start_server(cal, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        for path, body in [
            ("/calendar/slots", GOOD),
            ("/calendar/agent/heartbeat", {"status": "idle"}),
        ]:
            got, error = await _send(
                http, "POST", base + path, {"X-Agent-Id": "mallory"}, body=body
            )
            assert (got, error["error"]) == (404, "unknown_agent")
        got, error = await _send(
            http, "POST", f"{base}/calendar/slots", {"X-Agent-Id": "mallory"},
            body={**GOOD, "agent_id": "mallory"},
        )  # fmt: skip
        assert (got, error["error"]) == (404, "unknown_agent")
        assert await cal.list_slots() == [] and await cal.agent_ids() == []
        await _still_works(http, base, cal)
    finally:
        await runner.cleanup()
        await cal.close()


async def test_allow_past_records_a_past_slot(
    serve: Serve, store: EmbeddedCalendar, http: aiohttp.ClientSession
) -> None:
    base = (await serve()).base_url
    past = {**GOOD, "scheduled_at": "2025-01-05T09:00:00+08:00", "allow_past": True}
    got, slot = await _send(http, "POST", f"{base}/calendar/slots", {}, body=past)
    assert got == 201 and slot["scheduled_at"] == "2025-01-05T09:00:00+08:00"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("scheduled_at_us", 10**18),  # year ~33658: no datetime holds it
        ("scheduled_at_us", -(10**18)),  # long before year 1, and due
        ("event_data", json.dumps(nested_object(200))),
        ("event_data", "[" * 5000 + "]" * 5000),
        ("event_data", "not json"),
        ("status", "EXPLODED"),
        ("priority", 1000),
        ("title", None),
        ("updated_at_us", 2**62),
    ],
)
async def test_a_poison_row_never_breaks_the_agent(
    column: str, value: Any, tmp_path: Path, clock: FakeClock, http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A row an older version wrote that this one cannot represent: one WARNING, and the
    agent's day, heartbeat, status and transitions still answer 200."""
    from bot.calendar.server import start_server

    path = tmp_path / "calendar.db"
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    poison = await cal.create_slot((await _body(START - timedelta(minutes=5))), agent_id="alice")
    await cal.close()
    await asyncio.to_thread(_poison, path, poison.id, column, value)
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    runner, port = await start_server(cal, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                status, _day = await _send(http, "GET", f"{base}/calendar/day?date={DAY}", {})
                assert status == 200
                status, _st = await _send(http, "GET", f"{base}/calendar/agent/status", {})
                assert status == 200
            status, _got = await _send(http, "GET", f"{base}/calendar/slots/{poison.id}", {})
            assert status in (200, 404)
            status, _ab = await _send(http, "POST", f"{base}/calendar/slots/{poison.id}/abort", {})
            assert status in (200, 404, 409)
            await _still_works(http, base, cal)
        assert all(r.levelno < logging.ERROR for r in caplog.records)
        warned = [r for r in caplog.records if "cannot be read back" in r.getMessage()]
        assert len(warned) <= 1
    finally:
        await runner.cleanup()
        await cal.close()


async def _body(at: Any) -> Any:
    from bot.core.models import SlotCreate

    return SlotCreate(scheduled_at=at, title="old", prompt="p")


def _poison(path: Path, slot_id: str, column: str, value: Any) -> None:
    with sqlite3.connect(path) as db:
        if column == "title":  # NOT NULL: store a blob instead, which no str can be
            db.execute("UPDATE slots SET title = ? WHERE id = ?", (b"\xff", slot_id))
        else:
            db.execute(f"UPDATE slots SET {column} = ? WHERE id = ?", (value, slot_id))
