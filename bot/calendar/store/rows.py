"""How a slot and its history sit in SQLite: columns, instants, and the row <-> model mapping.

Instants are stored as integer microseconds since the epoch (UTC), which sorts
correctly and lets a local day be looked up as an index range.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendar.store.dialect import Db, Row
from bot.core.calendar import CalendarUnavailable, SlotNotFound, TransitionConflict
from bot.core.limits import BODY_MAX_DEPTH, ID_MAX, json_depth
from bot.core.models import ACTIVE_STATUSES, PENDING_STATUSES, Slot, SlotStatus
from bot.core.validation import require_offset

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SLOT_COLUMNS = (
    "id, agent_id, scheduled_at_us, estimated_duration_min, priority, status, slot_type, "
    "title, prompt, event_data, version, updated_at_us, series_id, created_at_us, "
    "started_at_us, ended_at_us, note"
)
#: How many columns `SLOT_COLUMNS` names (an INSERT's placeholders).
SLOT_COLUMN_COUNT = SLOT_COLUMNS.count(",") + 1
ACTIVE_SQL = ", ".join(f"'{s.value}'" for s in sorted(ACTIVE_STATUSES))
PENDING_SQL = ", ".join(f"'{s.value}'" for s in sorted(PENDING_STATUSES))


@dataclass(frozen=True, slots=True)
class SlotEvent:
    """One accepted change of a slot, with the note that came with it (the slot's history)."""

    slot_id: str
    at: datetime
    action: str
    from_status: SlotStatus | None
    to_status: SlotStatus
    note: str | None


def to_us(value: datetime) -> int:
    """An aware instant as integer microseconds since the epoch (exact, unlike float seconds)."""
    return (require_offset(value) - _EPOCH) // timedelta(microseconds=1)


def from_us(value: int, tz: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=value)).astimezone(tz)


def _maybe_us(value: int | None, tz: ZoneInfo) -> datetime | None:
    return None if value is None else from_us(value, tz)


def _event_data(row: Row) -> dict[str, Any]:
    """The row's event_data, or `{}` (logged) when an older version stored what cannot be
    served back: not JSON, not an object, or nested deeper than any body may be."""
    try:
        value = json.loads(row["event_data"])
        if isinstance(value, dict) and json_depth(value) <= BODY_MAX_DEPTH:
            return value
        reason = f"not a JSON object nested at most {BODY_MAX_DEPTH} deep"
    except (TypeError, ValueError, RecursionError) as exc:
        reason = f"not JSON ({type(exc).__name__})"
    _warn_once(row["id"], f"its event_data is {reason}; it is read as {{}}")
    return {}


def slot_from_row(row: Row, tz: ZoneInfo) -> Slot:
    """A row selected with `SLOT_COLUMNS` as the wire model, its instants in `tz`.

    Raises whatever the row's values make fail; `readable_slot(s)` are what readers use.
    """
    return Slot(
        id=row["id"],
        agent_id=row["agent_id"],
        scheduled_at=from_us(row["scheduled_at_us"], tz),
        estimated_duration_min=row["estimated_duration_min"],
        priority=row["priority"],
        status=SlotStatus(row["status"]),
        slot_type=row["slot_type"],
        title=row["title"],
        prompt=row["prompt"],
        event_data=_event_data(row),
        version=row["version"],
        updated_at=from_us(row["updated_at_us"], tz),
        series_id=row["series_id"],
        created_at=_maybe_us(row["created_at_us"], tz),
        started_at=_maybe_us(row["started_at_us"], tz),
        ended_at=_maybe_us(row["ended_at_us"], tz),
        note=row["note"],
    )


#: What a row an older version wrote may make fail when it is read.
_UNREADABLE = (ValueError, TypeError, OverflowError, KeyError, IndexError)
#: Slot ids already logged as unreadable: a poison row logs one WARNING, not one per read.
_warned: set[str] = set()


def _warn_once(slot_id: object, reason: str) -> None:
    key = str(slot_id)[:ID_MAX]
    if key not in _warned:
        _warned.add(key)
        log.warning("calendar slot %r as stored cannot be read back: %s", key, reason)


def readable_slot(row: Row, tz: ZoneInfo) -> Slot:
    """The row's slot; a row this version cannot represent is `SlotNotFound` (one WARNING),
    so a poison row written by an older version never turns a call into a 500."""
    try:
        return slot_from_row(row, tz)
    except _UNREADABLE as exc:
        _warn_once(row["id"], f"{type(exc).__name__}: {str(exc)[:200]}")
        raise SlotNotFound(
            f"slot {str(row['id'])[:ID_MAX]!r} is stored in a form this version cannot read "
            "(the calendar's log says why)",
            code="unreadable_slot",
        ) from None


def readable_slots(rows: Iterable[Row], tz: ZoneInfo) -> list[Slot]:
    """The rows' slots, leaving out (and logging once) each one that cannot be read back."""
    slots = []
    for row in rows:
        try:
            slots.append(readable_slot(row, tz))
        except SlotNotFound:
            continue
    return slots


def readable_events(rows: Iterable[Row], tz: ZoneInfo) -> list[SlotEvent]:
    """The rows' history lines, leaving out (and logging once) each one that cannot be read."""
    events = []
    for row in rows:
        try:
            events.append(event_from_row(row, tz))
        except _UNREADABLE as exc:
            _warn_once(row["slot_id"], f"a history line: {type(exc).__name__}")
    return events


def event_from_row(row: Row, tz: ZoneInfo) -> SlotEvent:
    return SlotEvent(
        slot_id=row["slot_id"],
        at=from_us(row["at_us"], tz),
        action=row["action"],
        from_status=SlotStatus(row["from_status"]) if row["from_status"] else None,
        to_status=SlotStatus(row["to_status"]),
        note=row["note"],
    )


async def fetch_one(db: Db, sql: str, params: Sequence[Any]) -> Row | None:
    rows = list(await db.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def fetch_slot(db: Db, slot_id: str) -> Row | None:
    return await fetch_one(db, f"SELECT {SLOT_COLUMNS} FROM slots WHERE id = ?", (slot_id,))


async def record_event(
    db: Db,
    slot_id: str,
    at_us: int,
    action: str,
    from_status: SlotStatus | None,
    to_status: SlotStatus,
    note: str | None,
    *,
    moved_from_us: int | None = None,
) -> None:
    """Add one line to the slot's history, inside the caller's transaction.

    `moved_from_us` is the slot's time before this change when the change moved
    it: the change feed names the day it left as well as the day it is on.
    """
    await db.execute(
        "INSERT INTO slot_events (slot_id, at_us, action, from_status, to_status, note, "
        "from_scheduled_at_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            slot_id,
            at_us,
            action,
            from_status.value if from_status else None,
            to_status.value,
            note,
            moved_from_us,
        ),
    )


async def insert_slot(db: Db, slot: Slot) -> None:
    """Write `slot` as a new row, inside the caller's transaction (a create, or an
    occurrence made a slot of its own by its first change)."""

    def us(value: datetime | None) -> int | None:
        return None if value is None else to_us(value)

    await db.execute(
        f"INSERT INTO slots ({SLOT_COLUMNS}) VALUES ({', '.join('?' * SLOT_COLUMN_COUNT)})",
        (
            slot.id,
            slot.agent_id,
            to_us(slot.scheduled_at),
            slot.estimated_duration_min,
            slot.priority,
            slot.status.value,
            slot.slot_type,
            slot.title,
            slot.prompt,
            json.dumps(slot.event_data, ensure_ascii=False, allow_nan=False),
            slot.version,
            to_us(slot.updated_at),
            slot.series_id,
            us(slot.created_at),
            us(slot.started_at),
            us(slot.ended_at),
            slot.note,
        ),
    )


def check_version(slot: Slot, expected: int | None) -> None:
    """The compare-and-set guard of a transition or an edit: 409 `version_mismatch`, carrying
    the slot as it is, when `expected` is given and the slot has moved on."""
    if expected is not None and expected != slot.version:
        raise TransitionConflict(
            f"slot {slot.id} is at version {slot.version}, not {expected} "
            f"(it changed since it was read; it is {slot.status.value} now)",
            code="version_mismatch",
            slot=slot,
        )


def not_found(slot_id: str, agent_id: str | None) -> str:
    suffix = f" for agent {agent_id}" if agent_id is not None else ""
    return f"no slot {slot_id!r}{suffix}"


async def fresh_id(db: Db, table: str, what: str) -> str:
    """A random id not yet in `table` (64 bits: a collision is a curiosity, five a fault)."""
    for _ in range(5):
        candidate = secrets.token_hex(8)
        if await fetch_one(db, f"SELECT 1 FROM {table} WHERE id = ?", (candidate,)) is None:
            return candidate
    raise CalendarUnavailable(f"could not pick a fresh {what} id")  # pragma: no cover
