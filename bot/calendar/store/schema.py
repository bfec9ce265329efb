"""The embedded calendar's file: its tables, their version, and opening (or upgrading) it."""

from __future__ import annotations

import logging
import sqlite3

import aiosqlite

from bot.core.sqlite_file import DatabaseKind, open_database_file
from bot.core.sqlite_path import MEMORY as MEMORY

#: 2 added `slots.claim_key`; a version-1 file is upgraded in place when opened.
SCHEMA_VERSION = 2
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
    claim_key               TEXT
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
CREATE TABLE IF NOT EXISTS heartbeats (
    agent_id         TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    current_slot_id  TEXT,
    at_us            INTEGER NOT NULL
);
"""


async def _upgrade(db: aiosqlite.Connection, found: int) -> None:
    columns = {row[1] for row in await db.execute_fetchall("PRAGMA table_info(slots)")}
    if "claim_key" not in columns:  # a version-1 file: no slot holds a claim key yet
        await db.execute("ALTER TABLE slots ADD COLUMN claim_key TEXT")


CALENDAR_FILE = DatabaseKind(
    what="calendar file",
    setting="CALENDAR_URL",
    application_id=0x434D434C,  # "CMCL"
    tables=frozenset({"slots", "slot_events", "heartbeats"}),
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
