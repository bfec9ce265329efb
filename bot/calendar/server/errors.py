"""The server's one error format: `{"error", "detail"}` for every failure, unknown routes included.

`json_errors` is the outermost middleware and the server's task boundary: a
refusal becomes its status, a client that hung up one INFO line, and anything
unforeseen one logged 500 instead of aiohttp's HTML page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.calendar.wire import status_of
from bot.core.calendar import CalendarError, TransitionConflict
from bot.core.models import Slot

log = logging.getLogger(__name__)

#: Status logged (never sent: nobody is listening) when the client hung up mid-request.
CLIENT_GONE = 499

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def slot_json(slot: Slot) -> dict[str, Any]:
    return slot.model_dump(mode="json")


def _from_calendar_error(exc: CalendarError) -> web.Response:
    extra: dict[str, Any] = {}
    if isinstance(exc, TransitionConflict) and exc.slot is not None:
        extra["slot"] = slot_json(exc.slot)
    return error_response(status_of(exc), exc.code, exc.detail, **extra)


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
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
        return _from_http_exception(request, exc)
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
    except Exception:  # the server's task boundary: one request failed, the server goes on
        log.exception("calendar server error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; the server log has the details")
