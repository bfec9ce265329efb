"""The embedded calendar's file: its tables, their version, and opening (or upgrading) it."""

from __future__ import annotations

import logging
import sqlite3

import aiosqlite

from bot.core.sqlite_file import DatabaseKind, open_database_file
from bot.core.sqlite_path import MEMORY as MEMORY

#: 2 added `slots.claim_key`; 3 the read-only times, `note`, `series_id`, the `series`
#: table and the one-held-slot index. An older file is upgraded in place when opened.
SCHEMA_VERSION = 3
#: How long opening waits for another process' lock before saying so (seconds).
BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    id                      TEXT PRIMARY KEY,
    agent_id                TEXT NOT NULL,
    scheduled_at_us         INTEGER NOT NULL,
    estimated_duration_min  INTEGER NOT NULL,
    priority                INTEGER NOT NULL,
    status                  TEXT NOT NULL,
    slot_type               TEXT NOT NULL,
    title                   TEXT NOT NULL,
    prompt                  TEXT NOT NULL,
    event_data              TEXT NOT NULL,
    version                 INTEGER NOT NULL,
    updated_at_us           INTEGER NOT NULL,
    claim_key               TEXT,
    created_at_us           INTEGER,
    started_at_us           INTEGER,
    ended_at_us             INTEGER,
    note                    TEXT,
    series_id               TEXT
);
CREATE INDEX IF NOT EXISTS slots_by_agent_time ON slots (agent_id, scheduled_at_us);
CREATE INDEX IF NOT EXISTS slots_by_time ON slots (scheduled_at_us);
CREATE INDEX IF NOT EXISTS slots_by_agent_status ON slots (agent_id, status, scheduled_at_us);
CREATE TABLE IF NOT EXISTS slot_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    slot_id      TEXT NOT NULL,
    at_us        INTEGER NOT NULL,
    action       TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    note         TEXT
);
CREATE INDEX IF NOT EXISTS slot_events_by_slot ON slot_events (slot_id, seq);
CREATE TABLE IF NOT EXISTS series (
    id                      TEXT PRIMARY KEY,
    agent_id                TEXT NOT NULL,
    rrule                   TEXT NOT NULL,
    start                   TEXT NOT NULL,
    timezone                TEXT NOT NULL,
    exdates                 TEXT NOT NULL,
    estimated_duration_min  INTEGER NOT NULL,
    priority                INTEGER NOT NULL,
    slot_type               TEXT NOT NULL,
    title                   TEXT NOT NULL,
    prompt                  TEXT NOT NULL,
    event_data              TEXT NOT NULL,
    version                 INTEGER NOT NULL,
    created_at_us           INTEGER NOT NULL,
    updated_at_us           INTEGER NOT NULL,
    ended_at_us             INTEGER
);
CREATE INDEX IF NOT EXISTS series_by_agent ON series (agent_id);
CREATE TABLE IF NOT EXISTS heartbeats (
    agent_id         TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    current_slot_id  TEXT,
    at_us            INTEGER NOT NULL
);
"""


#: Columns version 3 added to `slots`, with how an older row's value is recovered from its
#: history (`slot_events`), so an upgraded slot reads as if it had always had them.
_V3_COLUMNS = {
    "created_at_us": "SELECT MIN(at_us) FROM slot_events e WHERE e.slot_id = slots.id",
    "started_at_us": "SELECT MIN(at_us) FROM slot_events e WHERE e.slot_id = slots.id "
    "AND e.to_status = 'ONGOING'",
    "ended_at_us": "SELECT MAX(at_us) FROM slot_events e WHERE e.slot_id = slots.id "
    "AND e.to_status IN ('FINISHED', 'ABORTED', 'CANCELLED') "
    "AND slots.status IN ('FINISHED', 'ABORTED', 'CANCELLED')",
    "note": "SELECT note FROM slot_events e WHERE e.slot_id = slots.id AND e.note IS NOT NULL "
    "ORDER BY seq DESC LIMIT 1",
    "series_id": None,
}
_V3_TYPES = {"note": "TEXT", "series_id": "TEXT"}

#: Indexes on columns an older file lacks until `_upgrade` added them. The partial unique
#: index is the store's guarantee of "one ONGOING/PAUSED slot per agent" (DESIGN §3).
_INDEXES = """
CREATE INDEX IF NOT EXISTS slots_by_series ON slots (series_id) WHERE series_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS slots_one_held_per_agent ON slots (agent_id)
    WHERE status IN ('ONGOING', 'PAUSED');
"""


async def _upgrade(db: aiosqlite.Connection, found: int) -> None:
    columns = {row[1] for row in await db.execute_fetchall("PRAGMA table_info(slots)")}
    if "claim_key" not in columns:  # a version-1 file: no slot holds a claim key yet
        await db.execute("ALTER TABLE slots ADD COLUMN claim_key TEXT")
    for column, recovered in _V3_COLUMNS.items():
        if column in columns:
            continue
        await db.execute(
            f"ALTER TABLE slots ADD COLUMN {column} {_V3_TYPES.get(column, 'INTEGER')}"
        )
        if recovered is not None:
            await db.execute(f"UPDATE slots SET {column} = ({recovered})")
    await db.executescript(_INDEXES)


CALENDAR_FILE = DatabaseKind(
    what="calendar file",
    setting="CALENDAR_URL",
    application_id=0x434D434C,  # "CMCL"
    tables=frozenset({"slots", "slot_events", "heartbeats", "series"}),
    version=SCHEMA_VERSION,
    schema=_SCHEMA,
    upgrade=_upgrade,
    empty_is_new=False,
    recovery=(
        "The calendar is never moved or rebuilt: stop everything using it, save what SQLite "
        "can read with `sqlite3 FILE .recover | sqlite3 FILE.recovered` (or restore a backup), "
        "then point CALENDAR_URL at the recovered file."
    ),
    new_file_level=logging.INFO,
)


async def open_database(
    where: str, *, busy_timeout_s: float = BUSY_TIMEOUT_S
) -> aiosqlite.Connection:
    """A connection to the calendar file at `where`, its schema current; never half open.

    A path or file that is not ours raises `DatabaseFileRefused` (exit 2, nothing
    changed); a corrupt calendar is refused the same way and never moved (DESIGN §4).
    """
    db = await open_database_file(
        where, CALENDAR_FILE, busy_timeout_s=busy_timeout_s, isolation_level=None
    )
    db.row_factory = sqlite3.Row
    return db
