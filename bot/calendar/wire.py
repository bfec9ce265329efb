"""What the client and the server agree on about the wire (DESIGN §3), said once for both.

The paths, the headers, and which HTTP status stands for which `CalendarError`:
the server answers a refusal with `status_of(error)`, and the client turns that
status back into the same error type with `refusal_for(status, ...)`.
"""

from __future__ import annotations

from bot.core.calendar import (
    BadRequest,
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.models import Slot

API_PREFIX = "/calendar"
DAY_PATH = f"{API_PREFIX}/day"
HEARTBEAT_PATH = f"{API_PREFIX}/agent/heartbeat"
#: The batched heartbeat of many agents (full token only).
BATCH_HEARTBEAT_PATH = f"{API_PREFIX}/agents/heartbeat"
AGENT_STATUS_PATH = f"{API_PREFIX}/agent/status"
SLOTS_PATH = f"{API_PREFIX}/slots"
SERIES_PATH = f"{API_PREFIX}/series"
#: The change feed (DESIGN §4.1).
CHANGES_PATH = f"{API_PREFIX}/changes"
#: An agent's ICS feed (DESIGN §10), `/calendar/ics/{agent_id}`.
ICS_PATH = f"{API_PREFIX}/ics"
#: `GET /calendar`: the API level and features (a 404 there means a v1 server).
INFO_PATH = API_PREFIX
#: The API level this side speaks, and what `GET /calendar` says a v1 server is.
API_LEVEL = 2
V1_LEVEL = 1

JSON_TYPE = "application/json"
AGENT_HEADER = "X-Agent-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

#: Bad requests that are about the request as a whole (400) rather than its body's content (422).
PLAIN_BAD_REQUEST = frozenset(
    {"invalid_agent_id", "missing_agent_id", "unknown_action", "bad_date", "bad_range", "bad_time"}
)

#: The refusals with a status of their own; every other 4xx is a `BadRequest`.
_REFUSALS: tuple[tuple[int, type[CalendarError]], ...] = (
    (401, CalendarAuthError),
    (404, SlotNotFound),
    (409, TransitionConflict),
)


def status_of(error: CalendarError) -> int:
    """The HTTP status the server answers `error` with."""
    if isinstance(error, BadRequest):
        return 400 if error.code in PLAIN_BAD_REQUEST else 422
    if isinstance(error, CalendarUnavailable):
        return 503
    for status, kind in _REFUSALS:
        if isinstance(error, kind):
            return status
    return 500


def refusal_for(status: int, message: str, *, code: str, slot: Slot | None) -> CalendarError:
    """The `CalendarError` a client raises for a 4xx answer with `status`."""
    if status == 409:
        return TransitionConflict(message, code=code, slot=slot)
    for known, kind in _REFUSALS:
        if known == status:
            return kind(message, code=code)
    return BadRequest(message, code=code)
