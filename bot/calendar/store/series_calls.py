"""The series calls of `EmbeddedCalendar` (DESIGN §3.1), kept apart so each module stays small.

`SeriesCalls` is a mixin: the connection, its lock and the clock are
`EmbeddedCalendar`'s; each call is one read or one write transaction there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from bot.calendar.store.dialect import Db
from bot.calendar.store.notify import record_series_change
from bot.calendar.store.rows import to_us
from bot.calendar.store.series import (
    checked_recurrence,
    fetch_series,
    insert_series,
    list_series_rows,
)
from bot.calendar.store.series_edits import apply_series_edit, end_series_now
from bot.core.calendar import BadRequest
from bot.core.clock import Clock
from bot.core.models import Series, SeriesCreate, SeriesEdit, describe_validation
from bot.core.validation import check_agent_id

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
#: One write step over whichever connection the store has.
DbStep = Callable[[Db], Awaitable[T]]


def held_to_rules(model: type[M], data: dict[str, Any]) -> M:
    """A body a caller may have built without validation, checked again (422 if it breaks §3.2)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc), code="validation_error") from None


def create_step(new: SeriesCreate, owner: str, tz: ZoneInfo, now: datetime) -> DbStep[Series]:
    """`new`, checked (§3.2 again, whoever built it), as one write step: for `create_series`
    and for the CalDAV copy's trial of it alike."""
    new = held_to_rules(SeriesCreate, new.model_dump())
    recurrence = checked_recurrence(new.rrule, new.start, new.timezone or tz.key, new.exdates)

    async def step(db: Db) -> Series:
        series = await insert_series(db, new, recurrence, owner=owner, now=now, tz=tz)
        await record_series_change(db, series.id, "series_create", to_us(now))
        return series

    return step


def edit_step(
    series_id: str, edit: SeriesEdit, agent_id: str | None, tz: ZoneInfo, now: datetime
) -> DbStep[Series]:
    """`edit`, checked again, as one write step: for `edit_series` and its trial alike."""
    edit = held_to_rules(
        SeriesEdit, edit.model_dump(include=edit.model_fields_set | {"expected_version"})
    )

    async def step(db: Db) -> Series:
        return await apply_series_edit(
            db, series_id, edit, agent_id=agent_id, now_us=to_us(now), tz=tz
        )

    return step


class SeriesCalls:
    """create/get/list/edit/end a series over the calendar's one write path."""

    _tz: ZoneInfo
    _clock: Clock

    def _owner(self, named: str | None, acting: str | None) -> str:
        raise NotImplementedError

    def _read(self) -> AbstractAsyncContextManager[Db]:
        raise NotImplementedError

    def _write(self) -> AbstractAsyncContextManager[Db]:
        raise NotImplementedError

    async def create_series(self, new: SeriesCreate, agent_id: str | None = None) -> Series:
        owner = self._owner(new.agent_id, agent_id)
        step = create_step(new, owner, self._tz, self._clock.now())
        async with self._write() as db:
            return await step(db)

    async def get_series(self, series_id: str, agent_id: str | None = None) -> Series:
        async with self._read() as db:
            return await fetch_series(db, series_id, agent_id, self._tz)

    async def list_series(self, agent_id: str | None = None) -> list[Series]:
        if agent_id is not None:
            check_agent_id(agent_id)
        async with self._read() as db:
            return await list_series_rows(db, agent_id, self._tz)

    async def edit_series(
        self, series_id: str, edit: SeriesEdit, agent_id: str | None = None
    ) -> Series:
        step = edit_step(series_id, edit, agent_id, self._tz, self._clock.now())
        async with self._write() as db:
            return await step(db)

    async def end_series(self, series_id: str, agent_id: str | None = None) -> Series:
        now = to_us(self._clock.now())
        async with self._write() as db:
            return await end_series_now(db, series_id, agent_id=agent_id, now_us=now, tz=self._tz)
