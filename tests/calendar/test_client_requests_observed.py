"""The client tells its observer of every attempt by route template and status (for metrics)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from bot.calendar.client import HttpCalendar
from bot.core.calendar import CalendarUnavailable, SlotNotFound
from bot.core.models import Action
from testkit.retries import quick_retry
from tests.calendar.conftest import START, TZ, Handler, Served, slot_body

Serve = Callable[..., Awaitable[Served]]


async def test_attempts_are_counted_by_template_never_by_slot_id(serve: Serve) -> None:
    failing = {"left": 2}

    async def two_503s(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/status") and failing["left"] > 0:
            failing["left"] -= 1
            return web.json_response({"error": "x", "detail": "x"}, status=503)
        return await handler(request)

    served = await serve(two_503s)
    seen: Counter[tuple[str, str]] = Counter()
    client = HttpCalendar(
        served.base_url,
        timezone=TZ,
        retry=quick_retry(backoff_max_s=0.02),
        observer=lambda endpoint, status: seen.update([(endpoint, status)]),
    )
    try:
        slot = await client.create_slot(slot_body(), agent_id="alice")
        await client.transition(slot.id, Action.START, agent_id="alice")
        for odd in ("nope", "../../etc", "x" * 300):
            with pytest.raises(SlotNotFound):
                await client.get_slot(odd)
        await client.agent_status("alice")
        await client.get_day("alice", START.date())
    finally:
        await client.close()
    assert seen == Counter(
        {
            ("POST /calendar/slots", "201"): 1,
            ("POST /calendar/slots/{slot_id}/{action}", "200"): 1,
            ("GET /calendar/slots/{slot_id}", "404"): 3,
            ("GET /calendar/agent/status", "503"): 2,
            ("GET /calendar/agent/status", "200"): 1,
            ("GET /calendar/day", "200"): 1,
        }
    )


async def test_no_answer_is_counted_as_error(serve: Serve) -> None:
    served = await serve()
    await served.runner.cleanup()
    seen: list[tuple[str, str]] = []
    client = HttpCalendar(
        served.base_url,
        timezone=TZ,
        retry=quick_retry(attempts=2, backoff_max_s=0.02),
        observer=lambda endpoint, status: seen.append((endpoint, status)),
    )
    try:
        with pytest.raises(CalendarUnavailable):
            await client.agent_status("alice")
    finally:
        await client.close()
    assert seen == [("GET /calendar/agent/status", "error")] * 2
