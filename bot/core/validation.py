"""Checks of a calendar call's arguments, said once for every side that makes them.

The embedded store, the REST server and the HTTP client all accept the same
inputs (an agent id, an action name, a heartbeat status, an instant). Each
check here raises the `BadRequest` with the wire code the server answers, so
a refusal reads the same whichever backend the caller has.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.calendar import BadRequest
from bot.core.models import AGENT_ID_PATTERN, Action, HeartbeatStatus, is_valid_agent_id


def check_agent_id(agent_id: str) -> str:
    """`agent_id` itself, if it has the shape DESIGN fixes (it becomes a channel name)."""
    if not is_valid_agent_id(agent_id):
        raise BadRequest(
            f"agent id {agent_id!r} must match {AGENT_ID_PATTERN}", code="invalid_agent_id"
        )
    return agent_id


def parse_action(name: str) -> Action:
    """The `Action` a path segment (or a caller's string) names."""
    try:
        return Action(name)
    except ValueError:
        raise BadRequest(
            f"unknown action {name!r}; one of {', '.join(a.value for a in Action)}",
            code="unknown_action",
        ) from None


def parse_heartbeat_status(status: str) -> HeartbeatStatus:
    """The `HeartbeatStatus` a caller named (`idle` or `busy`)."""
    try:
        return HeartbeatStatus(status)
    except ValueError:
        raise BadRequest(
            f"heartbeat status {status!r} must be idle or busy", code="validation_error"
        ) from None


def require_offset(value: datetime) -> datetime:
    """`value` itself, if it names one instant (has a UTC offset)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadRequest(f"time {value.isoformat()} has no UTC offset", code="naive_datetime")
    return value
