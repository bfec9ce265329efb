"""How a series sits in SQLite (DESIGN §3.1): its row, its recurrence, its creation and reads.

The rule is stored as `Recurrence.checked` normalised it (a UTC `UNTIL` turned
into the series' wall time), `start` and `exdates` as ISO wall times; what is
stored is what is applied. Editing and ending a series touch its occurrences
and live in `bot.calendar.store.series_edits`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.calendar.store.dialect import Db, Row
from bot.calendar.store.rows import fetch_one, fresh_id, from_us, to_us
from bot.core.calendar import BadRequest, SlotNotFound
from bot.core.models import Series, SeriesCreate
from bot.core.series import Recurrence, SeriesRuleError, parse_wall_time

SERIES_COLUMNS = (
    "id, agent_id, rrule, start, timezone, exdates, estimated_duration_min, priority, "
    "slot_type, title, prompt, event_data, version, created_at_us, updated_at_us, ended_at_us"
)


def checked_recurrence(rule: str, start: str, zone: str, exdates: Iterable[str] = ()) -> Recurrence:
    """The recurrence, or the 422 `validation_error` naming the field that is wrong."""
    try:
        return Recurrence.checked(rule, start, zone, tuple(exdates))
    except SeriesRuleError as exc:
        raise BadRequest(f"{exc.field}: {exc.detail}", code="validation_error") from None


def recurrence_of(series: Series) -> Recurrence:
    """A stored series' recurrence, without judging the rule again (it was, when stored)."""
    return Recurrence(
        series.rrule,
        parse_wall_time(series.start, "start"),
        ZoneInfo(series.timezone),
        frozenset(parse_wall_time(text, "exdates") for text in series.exdates),
    )


def wall_texts(moments: Iterable[datetime]) -> list[str]:
    """Wall times as stored and served: ISO, seconds included, in order."""
    return sorted(moment.isoformat() for moment in moments)


def series_from_row(row: Row, tz: ZoneInfo) -> Series:
    ended = row["ended_at_us"]
    return Series(
        id=row["id"],
        agent_id=row["agent_id"],
        rrule=row["rrule"],
        start=row["start"],
        timezone=row["timezone"],
        exdates=json.loads(row["exdates"]),
        estimated_duration_min=row["estimated_duration_min"],
        priority=row["priority"],
        slot_type=row["slot_type"],
        title=row["title"],
        prompt=row["prompt"],
        event_data=json.loads(row["event_data"]),
        version=row["version"],
        created_at=from_us(row["created_at_us"], tz),
        updated_at=from_us(row["updated_at_us"], tz),
        ended_at=None if ended is None else from_us(ended, tz),
    )


def series_not_found(series_id: str, agent_id: str | None) -> SlotNotFound:
    suffix = f" for agent {agent_id}" if agent_id is not None else ""
    return SlotNotFound(f"no series {series_id[:200]!r}{suffix}")


async def fetch_series(db: Db, series_id: str, agent_id: str | None, tz: ZoneInfo) -> Series:
    """The series, scoped to `agent_id` when given; 404 otherwise."""
    row = await fetch_one(db, f"SELECT {SERIES_COLUMNS} FROM series WHERE id = ?", (series_id,))
    if row is None or (agent_id is not None and row["agent_id"] != agent_id):
        raise series_not_found(series_id, agent_id)
    return series_from_row(row, tz)


async def list_series_rows(db: Db, agent_id: str | None, tz: ZoneInfo) -> list[Series]:
    where, params = ("", ()) if agent_id is None else (" WHERE agent_id = ?", (agent_id,))
    rows = await db.execute_fetchall(
        f"SELECT {SERIES_COLUMNS} FROM series{where} ORDER BY created_at_us, id", params
    )
    return [series_from_row(row, tz) for row in rows]


async def insert_series(
    db: Db,
    new: SeriesCreate,
    recurrence: Recurrence,
    *,
    owner: str,
    now: datetime,
    tz: ZoneInfo,
) -> Series:
    """Store a new series (its rule already checked), inside the caller's transaction."""
    series_id = await fresh_id(db, "series", "series")
    now_us = to_us(now)
    await db.execute(
        f"INSERT INTO series ({SERIES_COLUMNS}) VALUES ({', '.join('?' * 16)})",
        (
            series_id,
            owner,
            recurrence.rule,
            recurrence.start.isoformat(),
            recurrence.zone.key,
            json.dumps(wall_texts(recurrence.exdates)),
            new.estimated_duration_min,
            new.priority,
            new.slot_type,
            new.title,
            new.prompt,
            json.dumps(new.event_data, ensure_ascii=False, allow_nan=False),
            1,
            now_us,
            now_us,
            None,
        ),
    )
    return await fetch_series(db, series_id, None, tz)
