"""The embedded calendar's file: its tables, their version, and opening (or upgrading) it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import aiosqlite

from bot.core.calendar import CalendarUnavailable

#: 2 added `slots.claim_key`; a version-1 file is upgraded in place when opened.
SCHEMA_VERSION = 2
MEMORY = ":memory:"

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


async def open_database(where: str) -> aiosqlite.Connection:
    """A connection to the calendar file at `where`, its schema current; never half open.

    Every way the file can be unusable (missing folder, not SQLite, from a newer
    version) is one `CalendarUnavailable` naming the file.
    """
    if where != MEMORY and not Path(where).parent.is_dir():
        raise CalendarUnavailable(
            f"cannot open the embedded calendar database {where!r}: "
            f"its folder {str(Path(where).parent)!r} does not exist"
        )
    connection = aiosqlite.connect(where, isolation_level=None, timeout=10.0)
    try:
        db = await connection
    except sqlite3.Error as exc:
        await _wait_for_worker(connection)
        raise CalendarUnavailable(
            f"cannot open the embedded calendar database {where!r}: {exc} "
            "(is its folder writable, and is it an SQLite file?)"
        ) from None
    try:
        db.row_factory = sqlite3.Row
        await db.execute("PRAGMA busy_timeout = 10000")
        if where != MEMORY:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
        rows = await db.execute_fetchall("PRAGMA user_version")
        found = int(next(iter(rows))[0])
        if found > SCHEMA_VERSION:
            raise CalendarUnavailable(
                f"the calendar database {where!r} was made by a newer version "
                f"(schema {found}, this one knows {SCHEMA_VERSION})"
            )
        await db.executescript(_SCHEMA)
        columns = {row[1] for row in await db.execute_fetchall("PRAGMA table_info(slots)")}
        if "claim_key" not in columns:  # a version-1 file: no slot holds a claim key yet
            await db.execute("ALTER TABLE slots ADD COLUMN claim_key TEXT")
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        await db.close()
        raise CalendarUnavailable(
            f"cannot prepare the embedded calendar database {where!r}: {exc}"
        ) from None
    except BaseException:
        await db.close()
        raise
    return db


async def _wait_for_worker(connection: aiosqlite.Connection) -> None:
    """Let a failed connection's worker thread finish while our loop still runs.

    aiosqlite stops that thread without awaiting it; if the loop closes first,
    the thread dies on "Event loop is closed" and the failure is reported twice.
    """
    thread = getattr(connection, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)
