"""API 2's reading and editing calls (DESIGN §3): `GET /calendar`, the range list, PATCH."""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from bot.calendar.server.errors import ApiError, slot_json
from bot.calendar.server.requests import agent_header, calendar_of, path_id, query_agent, read_body
from bot.calendar.wire import API_LEVEL
from bot.core.limits import Instant
from bot.core.models import KNOWN_STATUSES, SlotEdit, SlotStatus

_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


async def calendar_info(request: web.Request) -> web.StreamResponse:
    # The store's own features, and the change feed (DESIGN §4.1) and ICS feed (§10) this
    # server serves over it.
    features = sorted(await calendar_of(request).features() | {"changes", "ics"})
    return web.json_response({"api": API_LEVEL, "features": features})


_FINER_THAN_MICROSECONDS = re.compile(r"(\.[0-9]{6})[0-9]{1,3}(?=[Zz+-])")


def query_instant(request: web.Request, name: str) -> datetime:
    """`?<name>=` as an RFC 3339 time with an offset (a `+` sent unescaped reads as a space)."""
    raw = request.query.get(name, "")
    fixed = raw[:19] + raw[19:].replace(" ", "+")
    # A read stores nothing: a bound finer than a microsecond (Go's RFC3339Nano) is cut to
    # what the calendar keeps, where a write is refused (DESIGN §3.2).
    fixed = _FINER_THAN_MICROSECONDS.sub(r"\1", fixed)
    try:
        return _INSTANT.validate_python(fixed)
    except ValidationError:
        shown = f"{raw[:60]!r}" if raw else "nothing"
        raise ApiError(
            400,
            "bad_time",
            f"{name} must be an RFC 3339 time with an offset (2026-01-05T09:00:00+01:00), "
            f"got {shown}",
        ) from None


async def list_range(request: web.Request) -> web.StreamResponse:
    agent_id = query_agent(request)
    start, end = query_instant(request, "from"), query_instant(request, "to")
    raw_status = request.query.get("status")
    if raw_status is not None and raw_status not in KNOWN_STATUSES:
        shown = ", ".join(s.value for s in SlotStatus if s in KNOWN_STATUSES)
        raise ApiError(400, "bad_status", f"status must be one of {shown}")
    status = SlotStatus(raw_status) if raw_status is not None else None
    slots = await calendar_of(request).list_range(agent_id, start, end, status)
    return web.json_response({"slots": [slot_json(s) for s in slots]})


async def edit_slot(request: web.Request) -> web.StreamResponse:
    agent_id = agent_header(request)
    edit = await read_body(request, SlotEdit)
    slot = await calendar_of(request).edit_slot(path_id(request, "slot_id"), edit, agent_id)
    return web.json_response(slot_json(slot))
