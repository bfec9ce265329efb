"""Checks of a calendar call's arguments, said once for every side that makes them.

The embedded store, the REST server and the HTTP client all accept the same
inputs (an agent id, an action name, a heartbeat status, an instant). Each
check here raises the `BadRequest` with the wire code the server answers, so
a refusal reads the same whichever backend the caller has.

The rules of a field alone are the types of `bot.core.limits`; the ones here
need the calendar's context (its zone, its clock, its agents), and the store
runs them inside the write's transaction, before anything is written.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.core.calendar import BadRequest, SlotNotFound
from bot.core.limits import PAST_GRACE_S, RANGE_MAX_DAYS, YEAR_MAX, YEAR_MIN
from bot.core.models import (
    AGENT_ID_PATTERN,
    Action,
    HeartbeatStatus,
    SlotCreate,
    describe_validation,
    is_valid_agent_id,
)


class AgentNotServed(SlotNotFound):
    """404: the calendar was given its agents, and this is none of them."""

    code = "unknown_agent"


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


def check_known_agent(agent_id: str, known: Collection[str] | None) -> str:
    """`agent_id` itself, if the calendar has no list of agents or it is on it."""
    check_agent_id(agent_id)
    if known is not None and agent_id not in known:
        raise AgentNotServed(f"agent {agent_id!r} is not one of this calendar's agents")
    return agent_id


def check_day(day: date) -> date:
    """`day` itself, if it lies in the years the calendar can keep (a query's `date`)."""
    if not YEAR_MIN <= day.year <= YEAR_MAX:
        raise BadRequest(
            f"date {day.isoformat()} must lie between the years {YEAR_MIN} and {YEAR_MAX}",
            code="bad_date",
        )
    return day


def check_local_years(value: datetime, tz: ZoneInfo, field: str) -> datetime:
    """`value` itself, if it also lies in the calendar's years once in the calendar's zone."""
    try:
        years = (value.astimezone(UTC).year, value.astimezone(tz).year)
    except OverflowError:
        years = (YEAR_MAX + 1, YEAR_MAX + 1)
    if not all(YEAR_MIN <= year <= YEAR_MAX for year in years):
        raise BadRequest(
            f"{field}: must lie between the years {YEAR_MIN} and {YEAR_MAX} "
            f"in UTC and in the calendar's zone ({tz.key})",
            code="validation_error",
        )
    return value


def check_new_slot(
    new: SlotCreate, *, tz: ZoneInfo, now: datetime, known: Collection[str] | None
) -> SlotCreate:
    """`new` held to every rule of DESIGN §3.2 again, the calendar's context included.

    Run again by the store, so a body built without validation (`model_construct`)
    or by a caller that never saw the wire cannot slip past a rule.
    """
    try:
        new = SlotCreate.model_validate(new.model_dump())
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc), code="validation_error") from None
    if new.agent_id is not None:
        check_known_agent(new.agent_id, known)
    check_local_years(new.scheduled_at, tz, "scheduled_at")
    if not new.allow_past and new.scheduled_at < now - timedelta(seconds=PAST_GRACE_S):
        raise BadRequest(
            f"scheduled_at {new.scheduled_at.isoformat()} is more than an hour in the past; "
            'send "allow_past": true to record it anyway',
            code="in_the_past",
        )
    return new


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """`(start, end)` of a range list, if `start <= end` and they are at most
    `RANGE_MAX_DAYS` apart (a bounded answer; history is read a quarter at a time)."""
    require_offset(start)
    require_offset(end)
    if start > end:
        raise BadRequest(
            f"from {start.isoformat()} is after to {end.isoformat()}", code="bad_range"
        )
    if end - start > timedelta(days=RANGE_MAX_DAYS):
        raise BadRequest(
            f"from and to are {(end - start).days} days apart; at most {RANGE_MAX_DAYS}",
            code="bad_range",
        )
    return start, end
