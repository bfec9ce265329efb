"""Reading a request: the agent header, a JSON body held to a model, a `?date=`.

Each refusal is an `ApiError` with the status and code DESIGN §3 gives it.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.calendar.server.errors import ApiError
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.wire import AGENT_HEADER
from bot.core.models import describe_validation

M = TypeVar("M", bound=BaseModel)

CALENDAR_KEY = web.AppKey("calendar", EmbeddedCalendar)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def calendar_of(request: web.Request) -> EmbeddedCalendar:
    return request.app[CALENDAR_KEY]


def agent_header(request: web.Request) -> str | None:
    """The caller's agent id from `X-Agent-Id`, or None when it sent none."""
    agent_id = request.headers.get(AGENT_HEADER)
    if agent_id is not None:
        agent_id = agent_id.strip()
    return agent_id or None


def required_agent(request: web.Request) -> str:
    """The agent id of an agent-scoped call, which must name one."""
    agent_id = agent_header(request)
    if agent_id is None:
        raise ApiError(
            400, "missing_agent_id", "this call is agent-scoped: send the X-Agent-Id header"
        )
    return agent_id


async def read_body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """The body as `model`; an empty body is the model's defaults when `optional`."""
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


def query_date(request: web.Request) -> date:
    """`?date=YYYY-MM-DD`, strictly in that form."""
    raw = request.query.get("date", "")
    try:
        if not _DATE_RE.match(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        shown = f"{raw!r}" if raw else "nothing"
        raise ApiError(
            400, "bad_date", f"date must be YYYY-MM-DD (as ?date=2026-01-05), got {shown}"
        ) from None
