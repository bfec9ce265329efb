"""The client against a misbehaving (real) server: bounded retries, typed errors, partial data."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.calendar.client import HttpCalendar, parse_retry_after
from bot.calendar.store import EmbeddedCalendar
from bot.core.cache import ScheduleCache
from bot.core.calendar import (
    BadRequest,
    CalendarAuthError,
    CalendarUnavailable,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.models import Action, HeartbeatStatus, SlotStatus
from testkit.retries import quick_retry
from tests.calendar.conftest import START, TOKEN, TZ, Handler, Served, slot_body

Serve = Callable[..., Awaitable[Served]]
DAY = START.date()
CLIENT_LOG = "bot.calendar.client"


class Counter:
    """Counts requests per path prefix and can fail the first n of them."""

    def __init__(self, fail: int = 0, status: int = 500, headers: dict[str, str] | None = None):
        self.seen = 0
        self.fail = fail
        self.status = status
        self.headers = headers or {}

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.seen += 1
        if self.seen <= self.fail:
            return web.json_response(
                {"error": "injected", "detail": "injected fault"},
                status=self.status,
                headers=self.headers,
            )
        return await handler(request)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., HttpCalendar]]:
    made: list[HttpCalendar] = []

    def make(
        base_url: str,
        token: str | None = None,
        session: aiohttp.ClientSession | None = None,
        **retry: Any,
    ) -> HttpCalendar:
        """A client with quick retries, `retry` changing them (`RetrySettings` fields)."""
        client = HttpCalendar(
            base_url, timezone=TZ, token=token, session=session, retry=quick_retry(**retry)
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]


async def test_a_stopped_server_gives_unavailable_after_bounded_retries(
    serve: Serve, clients: Callable[..., HttpCalendar], caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve()
    await served.runner.cleanup()  # nothing listens on that port any more
    caplog.set_level(logging.INFO, logger=CLIENT_LOG)
    client = clients(served.base_url, attempts=3)
    with pytest.raises(CalendarUnavailable) as err:
        await asyncio.wait_for(client.get_day("alice", DAY), timeout=20)
    assert "3 time(s)" in str(err.value)
    assert served.base_url in str(err.value)
    assert len(retries_logged(caplog)) == 2


async def test_a_server_that_never_answers_times_out_and_gives_up(
    clients: Callable[..., HttpCalendar],
) -> None:
    # A listening socket nobody accepts from: connects, then silence.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        port = sock.getsockname()[1]
        client = clients(f"http://127.0.0.1:{port}", timeout_s=0.2, attempts=2)
        with pytest.raises(CalendarUnavailable) as err:
            await asyncio.wait_for(client.agent_status("alice"), timeout=20)
    assert "timed out" in str(err.value) or "Timeout" in str(err.value)


async def test_500_twice_then_success(serve: Serve, clients: Callable[..., HttpCalendar]) -> None:
    flaky = Counter(fail=2, status=500)
    served = await serve(flaky)
    client = clients(served.base_url, attempts=4)
    slot = await client.create_slot(slot_body(), agent_id="alice")
    assert slot.agent_id == "alice"
    assert flaky.seen == 3


async def test_5xx_forever_gives_unavailable_after_max_attempts(
    serve: Serve, clients: Callable[..., HttpCalendar]
) -> None:
    down = Counter(fail=100, status=503)
    served = await serve(down)
    client = clients(served.base_url, attempts=4)
    with pytest.raises(CalendarUnavailable) as err:
        await client.agent_status("alice")
    assert down.seen == 4
    assert "HTTP 503" in str(err.value)


@pytest.mark.parametrize(
    ("status", "retry_after", "backoff_max", "wait_logged"),
    [
        pytest.param(429, "1", 3.0, "retrying in 1.00 s (Retry-After)", id="honoured"),
        pytest.param(503, "3600", 0.05, "retrying in 0.05 s (Retry-After)", id="capped"),
    ],
)
async def test_retry_after_is_honoured_up_to_the_cap(
    serve: Serve,
    clients: Callable[..., HttpCalendar],
    caplog: pytest.LogCaptureFixture,
    status: int,
    retry_after: str,
    backoff_max: float,
    wait_logged: str,
) -> None:
    limited = Counter(fail=1, status=status, headers={"Retry-After": retry_after})
    served = await serve(limited)
    caplog.set_level(logging.INFO, logger=CLIENT_LOG)
    client = clients(served.base_url, backoff_max_s=backoff_max)
    answer = await asyncio.wait_for(client.agent_status("alice"), timeout=20)
    assert answer.agent_id == "alice"
    assert limited.seen == 2
    [message] = retries_logged(caplog)
    assert f"HTTP {status}" in message and wait_logged in message


def test_retry_after_parsing() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Mon, 05 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 05 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequest), (401, CalendarAuthError), (404, SlotNotFound), (409, TransitionConflict),
     (422, BadRequest)],
)  # fmt: skip
async def test_other_4xx_are_never_retried(
    serve: Serve, clients: Callable[..., HttpCalendar], status: int, error: type[Exception]
) -> None:
    refusing = Counter(fail=100, status=status)
    served = await serve(refusing)
    client = clients(served.base_url)
    with pytest.raises(error) as err:
        await client.get_slot("abc")
    assert refusing.seen == 1
    assert getattr(err.value, "code", None) == "injected"
    if isinstance(err.value, TransitionConflict):
        assert err.value.slot is None  # the body had none; the error still stands


async def test_wrong_or_missing_token_is_an_auth_error_that_never_shows_the_token(
    serve: Serve, clients: Callable[..., HttpCalendar], caplog: pytest.LogCaptureFixture
) -> None:
    counter = Counter()
    served = await serve(counter, token=TOKEN)
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-5d1e"
    for token in (wrong, None):
        client = clients(served.base_url, token=token)
        with pytest.raises(CalendarAuthError) as err:
            await client.heartbeat("alice", HeartbeatStatus.IDLE)
        assert err.value.code == "unauthorized"
        assert TOKEN not in str(err.value) and wrong not in str(err.value)
        assert TOKEN not in repr(client) and wrong not in repr(client)
    assert counter.seen == 2  # no retries on 401
    good = clients(served.base_url, token=TOKEN)
    assert await good.heartbeat("alice", HeartbeatStatus.IDLE) == []
    assert TOKEN not in caplog.text and wrong not in caplog.text


async def test_token_stays_out_of_retry_logs(
    serve: Serve, clients: Callable[..., HttpCalendar], caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve(Counter(fail=2, status=502), token=TOKEN)
    caplog.set_level(logging.DEBUG)
    client = clients(served.base_url, token=TOKEN)
    await client.agent_status("alice")
    assert len(retries_logged(caplog)) == 2
    assert TOKEN not in caplog.text


def rewrite_json(
    path_pattern: str, change: Callable[[Any], Any]
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An outer middleware that edits the JSON of matching answers, as a buggy backend would."""

    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if not re.search(path_pattern, request.path) or not isinstance(response, web.Response):
            return response
        assert isinstance(response.body, bytes)
        data = change(json.loads(response.body))
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        return web.Response(
            status=response.status,
            body=body,
            content_type="application/json",
            headers={k: v for k, v in response.headers.items() if k in ("ETag",)},
        )

    return middleware


async def test_one_malformed_slot_in_a_day_is_skipped_and_logged_once(
    serve: Serve,
    clients: Callable[..., HttpCalendar],
    store: EmbeddedCalendar,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slots = [await store.create_slot(slot_body(START), agent_id="alice") for _ in range(3)]
    bad_id = sorted(s.id for s in slots)[1]

    def corrupt(day: Any) -> Any:
        for item in day["slots"]:
            if item["id"] == bad_id:
                item["scheduled_at"] = "half past nine"
        return day

    served = await serve(rewrite_json(r"/calendar/day$", corrupt))
    caplog.set_level(logging.WARNING, logger=CLIENT_LOG)
    result = await clients(served.base_url).get_day("alice", DAY)
    assert result.schedule is not None
    assert {s.id for s in result.schedule.slots} == {s.id for s in slots} - {bad_id}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert bad_id in warnings[0].getMessage()
    assert "scheduled_at" in warnings[0].getMessage()


async def test_malformed_slots_in_a_heartbeat_are_skipped(
    serve: Serve,
    clients: Callable[..., HttpCalendar],
    store: EmbeddedCalendar,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = await store.create_slot(slot_body(START), agent_id="alice")

    def add_junk(answer: Any) -> Any:
        answer["slots"] += [{"id": "junk1", "priority": 500}, "not even an object"]
        return answer

    served = await serve(rewrite_json(r"/heartbeat$", add_junk))
    caplog.set_level(logging.WARNING, logger=CLIENT_LOG)
    due = await clients(served.base_url).heartbeat("alice", HeartbeatStatus.IDLE)
    assert [s.id for s in due] == [good.id]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert "junk1" in messages[0] and "unknown" in messages[1]


@pytest.mark.parametrize(
    "garbage", [b"not json at all", {"slots": "nope"}, {"date": "x"}, ["a", "list"]]
)
async def test_a_malformed_whole_answer_is_unavailable_not_a_crash(
    serve: Serve, clients: Callable[..., HttpCalendar], garbage: Any
) -> None:
    served = await serve(rewrite_json(r"/calendar/", lambda _: garbage))
    client = clients(served.base_url)
    with pytest.raises(CalendarUnavailable) as day:
        await client.get_day("alice", DAY)
    assert "malformed answer" in str(day.value)
    with pytest.raises(CalendarUnavailable) as status:
        await client.agent_status("alice")
    assert "malformed answer" in str(status.value)
    with pytest.raises(CalendarUnavailable) as created:
        await client.create_slot(slot_body(), agent_id="alice")
    assert "malformed answer" in str(created.value)


async def test_a_retried_claim_whose_answer_was_lost_is_still_won(
    serve: Serve, clients: Callable[..., HttpCalendar], store: EmbeddedCalendar
) -> None:
    slot = await store.create_slot(slot_body(), agent_id="alice")
    lost = 0

    async def lose_first_answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal lost
        response = await handler(request)  # the claim is made...
        if request.path.endswith("/start") and lost == 0:
            lost += 1
            return web.json_response({"error": "proxy", "detail": "bad gateway"}, status=502)
        return response  # ...but its answer never reached the client the first time

    served = await serve(lose_first_answer)
    claimed = await clients(served.base_url).transition(slot.id, Action.START, expected_version=1)
    assert (claimed.status, claimed.version) == (SlotStatus.ONGOING, 2)
    assert lost == 1
    starts = [e for e in await store.slot_events(slot.id) if e.action == "start"]
    assert len(starts) == 1


async def test_a_retried_create_makes_one_slot(
    serve: Serve, clients: Callable[..., HttpCalendar], store: EmbeddedCalendar
) -> None:
    calls = 0

    async def lose_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        response = await handler(request)
        return (
            web.json_response({"error": "x", "detail": "x"}, status=504) if calls == 1 else response
        )

    served = await serve(lose_first)
    slot = await clients(served.base_url).create_slot(slot_body(), agent_id="alice")
    assert calls == 2
    assert [s.id for s in await store.list_slots()] == [slot.id]


async def test_a_given_session_is_shared_and_left_open(
    serve: Serve, clients: Callable[..., HttpCalendar]
) -> None:
    served = await serve()
    async with aiohttp.ClientSession() as session:
        client = clients(served.base_url, session=session)
        await client.agent_status("alice")
        await client.close()
        assert not session.closed
        await client.agent_status("alice")  # still usable: the session is the giver's
    own = clients(served.base_url)
    await own.agent_status("alice")
    await own.close()
    await own.close()


async def test_a_304_is_not_parsed(
    serve: Serve, clients: Callable[..., HttpCalendar], store: EmbeddedCalendar
) -> None:
    await store.create_slot(slot_body(), agent_id="alice")
    served = await serve()
    client = clients(served.base_url)
    first = await client.get_day("alice", DAY)
    assert first.etag is not None
    again = await client.get_day("alice", DAY, etag=first.etag)
    assert again.unchanged and again.etag == first.etag


async def test_a_day_with_a_skipped_slot_keeps_no_etag_so_the_fixed_slot_comes_next_sync(
    serve: Serve, clients: Callable[..., HttpCalendar], store: EmbeddedCalendar
) -> None:
    bad = await store.create_slot(slot_body(START), agent_id="alice")
    good = await store.create_slot(slot_body(START + timedelta(minutes=5)), agent_id="alice")
    broken = [True]

    async def corrupt(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if not (broken[0] and request.path == "/calendar/day" and response.status == 200):
            return response
        assert isinstance(response, web.Response) and isinstance(response.body, bytes)
        data = json.loads(response.body)
        for item in data["slots"]:
            if item["id"] == bad.id:
                del item["scheduled_at"]
        return web.json_response(data, headers={"ETag": response.headers["ETag"]})

    client = clients((await serve(corrupt)).base_url)
    cache = ScheduleCache("alice", TZ)
    await cache.sync(client, DAY)
    assert [s.id for s in cache.get_all()] == [good.id]
    assert cache.etag is None  # the answer was partial: nothing to revalidate against
    broken[0] = False  # the backend is fixed; the day's (id, version) pairs did not change
    fixed = await cache.sync(client, DAY)
    assert not fixed.not_modified
    assert {s.id for s in cache.get_all()} == {bad.id, good.id}
    assert cache.etag is not None
    assert (await cache.sync(client, DAY)).not_modified  # whole again: 304s as usual


async def test_a_given_idempotency_key_is_sent_and_kept_across_retries(
    serve: Serve, clients: Callable[..., HttpCalendar], store: EmbeddedCalendar
) -> None:
    slot = await store.create_slot(slot_body(), agent_id="alice")
    keys: list[str | None] = []

    async def lose_first_claim_answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        keys.append(request.headers.get("Idempotency-Key"))
        response = await handler(request)
        if request.path.endswith("/start") and len(keys) == 1:
            return web.json_response({"error": "proxy", "detail": "bad gateway"}, status=502)
        return response

    client = clients((await serve(lose_first_claim_answer)).base_url)
    claimed = await client.transition(
        slot.id, Action.START, expected_version=1, idempotency_key="claim-42"
    )
    assert (claimed.status, claimed.version) == (SlotStatus.ONGOING, 2)
    assert keys == ["claim-42", "claim-42"]  # the retry was taken as a replay of the claim
    await client.transition(slot.id, Action.PAUSE)
    assert keys[2] is not None and re.fullmatch(r"[0-9a-f]{32}", keys[2])  # none given: fresh
    starts = [e for e in await store.slot_events(slot.id) if e.action == "start"]
    assert len(starts) == 1
