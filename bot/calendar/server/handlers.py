"""The calls of DESIGN §3, thin: read the request, call the store, shape the JSON."""

from __future__ import annotations

from aiohttp import web

from bot.calendar.server.changes import get_changes
from bot.calendar.server.errors import Handler, slot_json
from bot.calendar.server.ics_handlers import ICS_ROUTES
from bot.calendar.server.range_handlers import calendar_info, edit_slot, list_range
from bot.calendar.server.requests import (
    agent_header,
    calendar_of,
    path_id,
    query_date,
    read_body,
    required_agent,
)
from bot.calendar.server.series_handlers import SERIES_ROUTES
from bot.calendar.store import TransitionCall
from bot.calendar.wire import (
    AGENT_STATUS_PATH,
    BATCH_HEARTBEAT_PATH,
    CHANGES_PATH,
    DAY_PATH,
    HEARTBEAT_PATH,
    IDEMPOTENCY_HEADER,
    INFO_PATH,
    JSON_TYPE,
    REPLAYED_HEADER,
    SLOTS_PATH,
)
from bot.core.models import HeartbeatBatch, HeartbeatRequest, SlotCreate, TransitionRequest
from bot.core.validation import parse_action


async def get_day(request: web.Request) -> web.StreamResponse:
    agent_id = required_agent(request)
    day = query_date(request)
    result = await calendar_of(request).get_day(
        agent_id, day, etag=request.headers.get("If-None-Match")
    )
    assert result.etag is not None
    headers = {"ETag": result.etag, "Cache-Control": "no-cache"}
    if result.schedule is None:
        return web.Response(status=304, headers={**headers, "Content-Type": JSON_TYPE})
    return web.json_response(result.schedule.model_dump(mode="json"), headers=headers)


async def heartbeat(request: web.Request) -> web.StreamResponse:
    agent_id = required_agent(request)
    beat = await read_body(request, HeartbeatRequest)
    due = await calendar_of(request).heartbeat(agent_id, beat.status, beat.current_slot_id)
    return web.json_response({"slots": [slot_json(s) for s in due]})


async def heartbeat_many(request: web.Request) -> web.StreamResponse:
    batch = await read_body(request, HeartbeatBatch)
    due = await calendar_of(request).heartbeat_many(batch.agents)
    answer = {agent: {"slots": [slot_json(s) for s in slots]} for agent, slots in due.items()}
    return web.json_response({"agents": answer})


async def agent_status(request: web.Request) -> web.StreamResponse:
    agent_id = required_agent(request)
    status = await calendar_of(request).agent_status(agent_id)
    return web.json_response(status.model_dump(mode="json"))


async def create_slot(request: web.Request) -> web.StreamResponse:
    agent_id = agent_header(request)
    new = await read_body(request, SlotCreate)
    slot = await calendar_of(request).create_slot(new, agent_id=agent_id)
    return web.json_response(
        slot_json(slot), status=201, headers={"Location": f"{SLOTS_PATH}/{slot.id}"}
    )


async def get_slot(request: web.Request) -> web.StreamResponse:
    agent_id = agent_header(request)
    slot = await calendar_of(request).get_slot(path_id(request, "slot_id"), agent_id=agent_id)
    return web.json_response(slot_json(slot))


async def transition(request: web.Request) -> web.StreamResponse:
    action = parse_action(request.match_info["action"])
    agent_id = agent_header(request)
    body = await read_body(request, TransitionRequest, optional=True)
    # For start, Idempotency-Key is the claim key, kept by the store (not the memory
    # cache); the store ignores it for every other action.
    call = TransitionCall.checked(
        path_id(request, "slot_id"),
        action,
        agent_id=agent_id,
        expected_version=body.expected_version,
        note=body.note,
        until=body.until,
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
    )
    outcome = await calendar_of(request).apply(call)
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else None
    return web.json_response(slot_json(outcome.slot), headers=headers)


#: (method, path) of every call; the OpenAPI test holds docs/calendar-api.yaml to this.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", DAY_PATH, get_day),
    ("POST", HEARTBEAT_PATH, heartbeat),
    ("POST", BATCH_HEARTBEAT_PATH, heartbeat_many),
    ("GET", AGENT_STATUS_PATH, agent_status),
    ("POST", SLOTS_PATH, create_slot),
    ("GET", f"{SLOTS_PATH}/{{slot_id}}", get_slot),
    ("GET", INFO_PATH, calendar_info),
    ("GET", SLOTS_PATH, list_range),
    ("PATCH", f"{SLOTS_PATH}/{{slot_id}}", edit_slot),
    ("POST", f"{SLOTS_PATH}/{{slot_id}}/{{action}}", transition),
    ("GET", CHANGES_PATH, get_changes),
    *SERIES_ROUTES,
    *ICS_ROUTES,
)
