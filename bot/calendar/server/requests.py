"""Reading a request: the agent header, a JSON body held to a model, a `?date=`.

Each refusal is an `ApiError` with the status and code DESIGN §3 gives it.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Literal, TypeVar, overload

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.calendar.server.errors import ApiError
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.wire import AGENT_HEADER
from bot.core.calendar import SlotNotFound
from bot.core.limits import BODY_MAX_DEPTH, json_depth
from bot.core.models import describe_validation, is_valid_agent_id
from bot.core.validation import check_agent_id, check_day

M = TypeVar("M", bound=BaseModel)

CALENDAR_KEY = web.AppKey("calendar", EmbeddedCalendar)
#: Set by the access policy when a derived token names the agent the call acts for.
ACTING_AGENT_KEY = web.RequestKey("calendar_acting_agent", str)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def calendar_of(request: web.Request) -> EmbeddedCalendar:
    return request.app[CALENDAR_KEY]


def path_id(request: web.Request, name: str) -> str:
    """A slot's or a series' id from the path. One holding NUL names nothing on any store
    (PostgreSQL cannot even be asked: a 503 there), so it is the 404 of an unknown id."""
    value = request.match_info[name]
    if "\x00" in value:
        raise SlotNotFound(f"no {name.removesuffix('_id')} {value[:200]!r}")
    return value


def header_value(request: web.Request, name: str) -> str | None:
    """A header's value, or None when it was not sent; sent empty is a 400, not "absent"."""
    value = request.headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ApiError(
            400, "bad_header", f"the {name} header is empty: send a value or leave it out"
        )
    return value


def named_agent(request: web.Request) -> str | None:
    """The agent `X-Agent-Id` names, well-formed, or None when the header is absent."""
    agent_id = header_value(request, AGENT_HEADER)
    if agent_id is not None:
        check_agent_id(agent_id)
    return agent_id


def agent_header(request: web.Request) -> str | None:
    """The agent the call acts for: `X-Agent-Id`, or the agent a derived token speaks for."""
    acting = request.get(ACTING_AGENT_KEY)
    return acting if acting is not None else named_agent(request)


def required_agent(request: web.Request) -> str:
    """The agent id of an agent-scoped call, which must name one."""
    agent_id = agent_header(request)
    if agent_id is None:
        raise ApiError(
            400, "missing_agent_id", "this call is agent-scoped: send the X-Agent-Id header"
        )
    return agent_id


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or a 400 saying why not: not JSON (NaN included), or nested deeper
    than `BODY_MAX_DEPTH` (never a RecursionError)."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        data = None
        too_deep = True
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
    else:
        too_deep = json_depth(data) > BODY_MAX_DEPTH
    if too_deep:
        raise ApiError(400, "bad_json", f"the body nests deeper than {BODY_MAX_DEPTH} levels")
    return data


async def read_body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """The body as `model`, strictly (DESIGN §3.2); an empty body is the model's defaults
    when `optional`."""
    raw = await request.read()
    if not raw.strip():
        if optional:
            return model()
        raise ApiError(422, "validation_error", "this call needs a JSON object body")
    data = parse_json(raw)
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
    """`?date=YYYY-MM-DD`, strictly in that form, in the years the calendar keeps."""
    raw = request.query.get("date", "")
    try:
        if not _DATE_RE.match(raw):
            raise ValueError
        return check_day(date.fromisoformat(raw))
    except ValueError:
        shown = f"{raw[:40]!r}" if raw else "nothing"
        raise ApiError(
            400, "bad_date", f"date must be YYYY-MM-DD (as ?date=2026-01-05), got {shown}"
        ) from None


@overload
def query_agent(request: web.Request, *, required: Literal[True] = ...) -> str: ...
@overload
def query_agent(request: web.Request, *, required: Literal[False]) -> str | None: ...
def query_agent(request: web.Request, *, required: bool = True) -> str | None:
    """`?agent_id=`, or the agent the header or token names; both given must agree.

    Not `required`: neither given means every agent (a listing for the full token).
    """
    given = request.query.get("agent_id")
    acting = agent_header(request)
    if given is not None:
        check_agent_id(given)
        if acting is not None and acting != given:
            raise ApiError(403, "forbidden", f"this call acts for {acting!r}, not {given!r}")
        return given
    if acting is None and not required:
        return None
    if acting is None or not is_valid_agent_id(acting):
        raise ApiError(400, "missing_agent_id", "name the agent: ?agent_id= or X-Agent-Id")
    return acting
