"""How a slot and its history sit in SQLite: columns, instants, and the row <-> model mapping.

Instants are stored as integer microseconds since the epoch (UTC), which sorts
correctly and lets a local day be looked up as an index range.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from bot.core.models import ACTIVE_STATUSES, PENDING_STATUSES, Slot, SlotStatus
from bot.core.validation import require_offset

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SLOT_COLUMNS = (
    "id, agent_id, scheduled_at_us, estimated_duration_min, priority, status, slot_type, "
    "title, prompt, event_data, version, updated_at_us"
)
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


def slot_from_row(row: sqlite3.Row, tz: ZoneInfo) -> Slot:
    """A row selected with `SLOT_COLUMNS` as the wire model, its instants in `tz`."""
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
        event_data=json.loads(row["event_data"]),
        version=row["version"],
        updated_at=from_us(row["updated_at_us"], tz),
    )


def event_from_row(row: sqlite3.Row, tz: ZoneInfo) -> SlotEvent:
    return SlotEvent(
        slot_id=row["slot_id"],
        at=from_us(row["at_us"], tz),
        action=row["action"],
        from_status=SlotStatus(row["from_status"]) if row["from_status"] else None,
        to_status=SlotStatus(row["to_status"]),
        note=row["note"],
    )


async def fetch_one(
    db: aiosqlite.Connection, sql: str, params: Sequence[Any]
) -> sqlite3.Row | None:
    rows = list(await db.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def fetch_slot(db: aiosqlite.Connection, slot_id: str) -> sqlite3.Row | None:
    return await fetch_one(db, f"SELECT {SLOT_COLUMNS} FROM slots WHERE id = ?", (slot_id,))


async def record_event(
    db: aiosqlite.Connection,
    slot_id: str,
    at_us: int,
    action: str,
    from_status: SlotStatus | None,
    to_status: SlotStatus,
    note: str | None,
) -> None:
    """Add one line to the slot's history, inside the caller's transaction."""
    await db.execute(
        "INSERT INTO slot_events (slot_id, at_us, action, from_status, to_status, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            slot_id,
            at_us,
            action,
            from_status.value if from_status else None,
            to_status.value,
            note,
        ),
    )


def not_found(slot_id: str, agent_id: str | None) -> str:
    suffix = f" for agent {agent_id}" if agent_id is not None else ""
    return f"no slot {slot_id!r}{suffix}"
