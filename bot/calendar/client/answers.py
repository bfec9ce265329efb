"""Reading the calendar's answers: refusals as typed errors, bodies held to the models.

Answers are validated; a single malformed slot in a list is dropped (and
logged) rather than costing the whole schedule. Error details come from the
server, never from us.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.calendar.client.transport import Answer
from bot.calendar.wire import refusal_for
from bot.core.calendar import CalendarError, CalendarUnavailable
from bot.core.models import ErrorBody, Series, Slot, describe_validation

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class DayEnvelope(BaseModel):
    """A day answer with its slots not yet validated (each is checked alone)."""

    date: date
    agent_id: str
    timezone: str
    slots: list[Any]


class CalendarInfo(BaseModel):
    """`GET /calendar`: the API level and the features beyond it."""

    api: int
    features: list[str] = []


class SeriesList(BaseModel):
    series: list[Series]


class SlotList(BaseModel):
    slots: list[Any]


class HeartbeatBatchAnswer(BaseModel):
    """`POST /calendar/agents/heartbeat`: each agent's due slots, not yet validated."""

    agents: dict[str, SlotList]


def json_of(answer: Answer, what: str) -> Any:
    try:
        return json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        raise CalendarUnavailable(
            f"malformed answer from the calendar for {what}: not JSON "
            f"(HTTP {answer.status}, {len(answer.body)} bytes)"
        ) from None


def refusal(answer: Answer, what: str) -> CalendarError:
    """The typed error for an answer that is not the one expected."""
    code, detail, slot = f"http_{answer.status}", f"HTTP {answer.status}", None
    try:
        data = json.loads(answer.body)
        parsed = ErrorBody.model_validate(data)
        code, detail = parsed.error, parsed.detail
        if isinstance(data, dict) and data.get("slot") is not None:
            slot = Slot.model_validate(data["slot"])
    except (ValueError, UnicodeDecodeError, ValidationError):
        pass  # a bare status still maps to the right error type
    if 400 <= answer.status < 500:
        return refusal_for(answer.status, f"{what}: {detail}", code=code, slot=slot)
    return CalendarUnavailable(f"{what}: unexpected HTTP {answer.status}", code=code)


def expect(answer: Answer, what: str, *ok: int) -> Any:
    """The answer's JSON if its status is one of `ok`, else the refusal it is."""
    if answer.status not in ok:
        raise refusal(answer, what)
    return json_of(answer, what)


def model_of(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CalendarUnavailable(
            f"malformed answer from the calendar for {what}: {_summary(exc)}"
        ) from None


def slots_of(items: list[Any], what: str) -> tuple[list[Slot], int]:
    """Validate each slot alone: a bad one is logged, skipped and counted; the rest kept."""
    slots: list[Slot] = []
    skipped = 0
    for item in items:
        try:
            slots.append(Slot.model_validate(item))
        except ValidationError as exc:
            skipped += 1
            slot_id = item.get("id") if isinstance(item, dict) else None
            log.warning(
                "calendar %s: skipping a malformed slot (id %s): %s",
                what,
                slot_id if isinstance(slot_id, str) and slot_id else "unknown",
                _summary(exc),
            )
    return slots, skipped


def _summary(exc: ValidationError) -> str:
    """A malformed answer's first few problems (a whole day's answer may have many)."""
    return describe_validation(exc, whole="value", limit=5)
