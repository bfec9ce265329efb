"""The calendar REST API (DESIGN §3) served over an `EmbeddedCalendar`.

Handlers stay thin: they parse and validate, call the store, and shape JSON.
Every answer, errors and unknown routes included, is JSON with
`{"error", "detail"}` on failure, so a client never has to guess a format.

Faults can be injected by adding aiohttp middlewares to the app returned by
`make_app` before it is started (`serve_app` starts any such app); nothing in
here exists for tests.

POSTs may carry an `Idempotency-Key`: the client sends one per logical call and
keeps it across retries. For every POST but `start`, the server replays the
first successful answer to a repeat from memory (for a while). For `start` the
key is the *claim key* and goes to the store instead, which keeps it with the
slot while the slot is held: a `start` repeating it answers 200 with the slot
as it is now (header `Idempotent-Replayed: true`), even after a server restart
and however late the repeat comes. Without that, a retried or re-sent claim
whose first answer was lost would come back as 409 `version_mismatch`, and the
moderator could not tell its own claim from another moderator's. The memory
cache stays out of `start`, so it can never answer an old copy of the slot.

A client that hangs up mid-request (its timeout) is logged in one INFO line,
not as a server error: nothing is wrong on this side.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.calendar.store import MAX_CLAIM_KEY, EmbeddedCalendar
from bot.core.calendar import (
    BadRequest,
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.models import (
    Action,
    HeartbeatRequest,
    Slot,
    SlotCreate,
    TransitionRequest,
    describe_validation,
)

log = logging.getLogger(__name__)

API_PREFIX = "/calendar"
JSON_TYPE = "application/json"
#: Store refusals that are about the request as a whole rather than its body's content.
_PLAIN_BAD_REQUEST = frozenset({"invalid_agent_id", "missing_agent_id", "unknown_action"})
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IDEMPOTENCY_TTL_S = 600.0
IDEMPOTENCY_MAX = 4096
#: Larger answers are not kept for replay (a repeat then runs again), to bound memory.
IDEMPOTENCY_MAX_BODY = 256 * 1024
#: Status logged (never sent: nobody is listening) when the client hung up mid-request.
CLIENT_GONE = 499

CALENDAR_KEY = web.AppKey("calendar", EmbeddedCalendar)
TOKEN_KEY = web.AppKey("calendar_token", bytes)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A refusal the handler decides itself, already in wire terms."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def error_response(status: int, code: str, detail: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": code, "detail": detail, **extra}
    return web.json_response(body, status=status)


def _slot_json(slot: Slot) -> dict[str, Any]:
    return slot.model_dump(mode="json")


def _from_calendar_error(exc: CalendarError) -> web.Response:
    if isinstance(exc, SlotNotFound):
        return error_response(404, exc.code, exc.detail)
    if isinstance(exc, TransitionConflict):
        extra = {"slot": _slot_json(exc.slot)} if exc.slot is not None else {}
        return error_response(409, exc.code, exc.detail, **extra)
    if isinstance(exc, BadRequest):
        status = 400 if exc.code in _PLAIN_BAD_REQUEST else 422
        return error_response(status, exc.code, exc.detail)
    if isinstance(exc, CalendarAuthError):
        return error_response(401, exc.code, exc.detail)
    if isinstance(exc, CalendarUnavailable):
        return error_response(503, exc.code, exc.detail)
    return error_response(500, exc.code, exc.detail)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost layer: whatever goes wrong, the answer is a JSON error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.detail, **exc.extra)
    except CalendarError as exc:
        return _from_calendar_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "http_error"
        )
        detail = {
            404: f"no such endpoint: {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(exc.status, exc.reason)
        response = error_response(exc.status, code, detail)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except asyncio.CancelledError:
        raise
    except ConnectionResetError as exc:
        # The client gave up (its timeout) while we read its body: routine, not our error.
        log.info(
            "calendar client went away during %s %s (%s); nothing was answered",
            request.method,
            request.path,
            exc or "connection lost",
        )
        return error_response(CLIENT_GONE, "client_gone", "the client closed the connection")
    except Exception:
        log.exception("calendar server error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; the server log has the details")


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Checked before anything else is looked at; the token is compared in constant time."""
    expected = request.app[TOKEN_KEY]
    if expected:
        given = request.headers.get("Authorization", "")
        scheme, _, credentials = given.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode("utf-8"), expected
        )
        if not ok:
            response = error_response(
                401,
                "unauthorized",
                "missing or wrong bearer token (send Authorization: Bearer <CALENDAR_TOKEN>)",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="calendar"'
            return response
    return await handler(request)


@dataclass
class _Replay:
    fingerprint: str
    created: float
    done: asyncio.Future[tuple[int, bytes] | None]


class _ReplayCache:
    """Successful POST answers by Idempotency-Key, for a while; bounded in size."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, _Replay] = OrderedDict()

    def prune(self, now: float) -> None:
        while self.entries:
            key, entry = next(iter(self.entries.items()))
            too_many = len(self.entries) > IDEMPOTENCY_MAX
            if not too_many and now - entry.created < IDEMPOTENCY_TTL_S:
                break
            if not entry.done.done() and not too_many:
                break
            self.entries.pop(key)


def _is_start(request: web.Request) -> bool:
    return request.method == "POST" and request.match_info.get("action") == Action.START.value


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Replay the first successful answer to a repeated POST with the same Idempotency-Key.

    Not for `start`: its key is the claim key, which the store keeps durably and
    answers with the slot as it is now (see the module docstring).
    """
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    if len(key) > MAX_CLAIM_KEY:
        raise ApiError(
            400, "bad_idempotency_key", f"Idempotency-Key must be at most {MAX_CLAIM_KEY} chars"
        )
    if _is_start(request):
        return await handler(request)
    body = await request.read()
    fingerprint = hashlib.sha256(
        b"\0".join([request.path.encode(), request.headers.get("X-Agent-Id", "").encode(), body])
    ).hexdigest()
    cache = request.app[IDEMPOTENCY_KEY]
    now = time.monotonic()
    cache.prune(now)
    earlier = cache.entries.get(key)
    if earlier is not None:
        if earlier.fingerprint != fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request",
            )
        replay = await asyncio.shield(earlier.done)
        if replay is not None:
            status, payload = replay
            return web.Response(
                status=status,
                body=payload,
                content_type=JSON_TYPE,
                headers={"Idempotent-Replayed": "true"},
            )
        # The earlier attempt was refused or failed: nothing to replay, so this one runs.
    mine = _Replay(fingerprint, now, asyncio.get_running_loop().create_future())
    cache.entries[key] = mine
    result: tuple[int, bytes] | None = None
    try:
        response = await handler(request)
        if isinstance(response, web.Response) and 200 <= response.status < 300:
            sent = response.body
            if isinstance(sent, bytes) and len(sent) <= IDEMPOTENCY_MAX_BODY:
                result = (response.status, sent)
        return response
    finally:
        mine.done.set_result(result)
        if result is None and cache.entries.get(key) is mine:
            del cache.entries[key]


IDEMPOTENCY_KEY = web.AppKey("idempotency", _ReplayCache)


# ---- request parsing -----------------------------------------------------


def _agent_header(request: web.Request, *, required: bool) -> str | None:
    agent_id = request.headers.get("X-Agent-Id")
    if agent_id is not None:
        agent_id = agent_id.strip()
    if not agent_id:
        if required:
            raise ApiError(
                400, "missing_agent_id", "this call is agent-scoped: send the X-Agent-Id header"
            )
        return None
    return agent_id


async def _body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return model()
        raise ApiError(422, "validation_error", "this call needs a JSON object body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
    try:
        # JSON may escape a lone surrogate ("\udfff"): not text anyone can store (SQLite
        # raised on it, a 500 the client retried). Refuse it here as the bad input it is.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400, "bad_json", "the body is not valid text: it holds a lone UTF-16 surrogate escape"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", describe_validation(exc)) from None


def _calendar(request: web.Request) -> EmbeddedCalendar:
    return request.app[CALENDAR_KEY]


# ---- handlers -------------------------------------------------------------


async def get_day(request: web.Request) -> web.StreamResponse:
    agent_id = _agent_header(request, required=True)
    assert agent_id is not None
    raw = request.query.get("date", "")
    try:
        if not _DATE_RE.match(raw):
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        shown = f"{raw!r}" if raw else "nothing"
        raise ApiError(
            400, "bad_date", f"date must be YYYY-MM-DD (as ?date=2026-01-05), got {shown}"
        ) from None
    result = await _calendar(request).get_day(
        agent_id, day, etag=request.headers.get("If-None-Match")
    )
    assert result.etag is not None
    headers = {"ETag": result.etag, "Cache-Control": "no-cache"}
    if result.schedule is None:
        return web.Response(status=304, headers={**headers, "Content-Type": JSON_TYPE})
    return web.json_response(result.schedule.model_dump(mode="json"), headers=headers)


async def heartbeat(request: web.Request) -> web.StreamResponse:
    agent_id = _agent_header(request, required=True)
    assert agent_id is not None
    beat = await _body(request, HeartbeatRequest)
    due = await _calendar(request).heartbeat(agent_id, beat.status, beat.current_slot_id)
    return web.json_response({"slots": [_slot_json(s) for s in due]})


async def agent_status(request: web.Request) -> web.StreamResponse:
    agent_id = _agent_header(request, required=True)
    assert agent_id is not None
    status = await _calendar(request).agent_status(agent_id)
    return web.json_response(status.model_dump(mode="json"))


async def create_slot(request: web.Request) -> web.StreamResponse:
    agent_id = _agent_header(request, required=False)
    new = await _body(request, SlotCreate)
    slot = await _calendar(request).create_slot(new, agent_id=agent_id)
    return web.json_response(
        _slot_json(slot), status=201, headers={"Location": f"{API_PREFIX}/slots/{slot.id}"}
    )


async def get_slot(request: web.Request) -> web.StreamResponse:
    agent_id = _agent_header(request, required=False)
    slot = await _calendar(request).get_slot(request.match_info["slot_id"], agent_id=agent_id)
    return web.json_response(_slot_json(slot))


async def transition(request: web.Request) -> web.StreamResponse:
    name = request.match_info["action"]
    try:
        action = Action(name)
    except ValueError:
        raise ApiError(
            400,
            "unknown_action",
            f"unknown action {name!r}; one of {', '.join(a.value for a in Action)}",
        ) from None
    agent_id = _agent_header(request, required=False)
    body = await _body(request, TransitionRequest, optional=True)
    # For start, Idempotency-Key is the claim key, kept by the store (not the memory
    # cache); the store ignores it for every other action.
    outcome = await _calendar(request).transition_outcome(
        request.match_info["slot_id"],
        action,
        agent_id=agent_id,
        expected_version=body.expected_version,
        note=body.note,
        until=body.until,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return web.json_response(_slot_json(outcome.slot), headers=headers)


#: (method, path) of every call; the OpenAPI test holds docs/calendar-api.yaml to this.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", f"{API_PREFIX}/day", get_day),
    ("POST", f"{API_PREFIX}/agent/heartbeat", heartbeat),
    ("GET", f"{API_PREFIX}/agent/status", agent_status),
    ("POST", f"{API_PREFIX}/slots", create_slot),
    ("GET", f"{API_PREFIX}/slots/{{slot_id}}", get_slot),
    ("POST", f"{API_PREFIX}/slots/{{slot_id}}/{{action}}", transition),
)


def make_app(calendar: EmbeddedCalendar, *, token: str | None = None) -> web.Application:
    """The API over `calendar`; auth is on when `token` is a non-empty string."""
    app = web.Application(middlewares=[json_errors, bearer_auth, idempotency])
    app[CALENDAR_KEY] = calendar
    app[TOKEN_KEY] = token.encode("utf-8") if token else b""
    app[IDEMPOTENCY_KEY] = _ReplayCache()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app


async def serve_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start any app (e.g. one with extra middlewares) and answer the port it got."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    actual = int(addresses[0][1]) if addresses else port
    return runner, actual


async def start_server(
    calendar: EmbeddedCalendar, host: str, port: int, *, token: str | None = None
) -> tuple[web.AppRunner, int]:
    """Serve `calendar` on host:port (0 picks a free port); stop with `runner.cleanup()`."""
    return await serve_app(make_app(calendar, token=token), host, port)
