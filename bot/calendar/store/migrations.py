"""The calendar's one versioned migration list, for the SQLite file and PostgreSQL alike.

Each `Step` brings the schema from the version before it to `version`, with
the SQL each engine needs (they differ in types: PostgreSQL keeps instants as
BIGINT, compares text byte by byte with `COLLATE "C"` as SQLite does, and
numbers `slot_events.seq` from a sequence). Steps only go forward and run at
every start, all the missing ones in one transaction: `pending` decides which,
and refuses a store a newer version has migrated before anything is touched.

The SQLite file keeps its version in `PRAGMA user_version` and serialises
starts with `BEGIN IMMEDIATE` (`migrate_sqlite`, here); PostgreSQL keeps it in
`calendar_schema` under an advisory lock (`bot.calendar.pg.schema.migrate`).
PostgreSQL calendars begin at version 3; SQLite files of versions 1 and 2 (made
before this list) are adopted by step 3, which adds what they lack.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiosqlite

from bot.calendar.store.rows import ACTIVE_SQL

#: A step's SQLite half: statements, or a function for what SQL alone cannot decide.
SqliteStep = Sequence[str] | Callable[[aiosqlite.Connection], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    """One forward step: the version it reaches, why it exists, and its SQL per engine."""

    version: int
    does: str
    sqlite: SqliteStep
    postgres: Sequence[str]


class SchemaTooNew(Exception):
    """The store was migrated by a newer version of the calendar than this one."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the calendar database was made by a newer version (schema {found}, this one "
            f"knows {SCHEMA_VERSION}); run the newer version, or point CALENDAR_URL at "
            "another database"
        )
        self.found = found


def _tables(text: str, integer: str, serial: str) -> tuple[str, ...]:
    """The version-3 tables, written once for both engines (`text`/`integer` their types)."""
    return (
        f"""CREATE TABLE IF NOT EXISTS slots (
            id {text} PRIMARY KEY, agent_id {text} NOT NULL,
            scheduled_at_us {integer} NOT NULL, estimated_duration_min INTEGER NOT NULL,
            priority INTEGER NOT NULL, status {text} NOT NULL, slot_type {text} NOT NULL,
            title {text} NOT NULL, prompt {text} NOT NULL, event_data {text} NOT NULL,
            version {integer} NOT NULL, updated_at_us {integer} NOT NULL, claim_key {text},
            created_at_us {integer}, started_at_us {integer}, ended_at_us {integer},
            note {text}, series_id {text}
        )""",
        f"""CREATE TABLE IF NOT EXISTS slot_events (
            seq {serial} PRIMARY KEY{"" if serial != "INTEGER" else " AUTOINCREMENT"},
            slot_id {text} NOT NULL, at_us {integer} NOT NULL, action {text} NOT NULL,
            from_status {text}, to_status {text} NOT NULL, note {text}
        )""",
        f"""CREATE TABLE IF NOT EXISTS series (
            id {text} PRIMARY KEY, agent_id {text} NOT NULL, rrule {text} NOT NULL,
            start {text} NOT NULL, timezone {text} NOT NULL, exdates {text} NOT NULL,
            estimated_duration_min INTEGER NOT NULL, priority INTEGER NOT NULL,
            slot_type {text} NOT NULL, title {text} NOT NULL, prompt {text} NOT NULL,
            event_data {text} NOT NULL, version {integer} NOT NULL,
            created_at_us {integer} NOT NULL, updated_at_us {integer} NOT NULL,
            ended_at_us {integer}
        )""",
        f"""CREATE TABLE IF NOT EXISTS heartbeats (
            agent_id {text} PRIMARY KEY, status {text} NOT NULL,
            current_slot_id {text}, at_us {integer} NOT NULL
        )""",
    )


#: Made after `_V3_COLUMNS` exist (an adopted file gains them first).
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS slots_by_agent_time ON slots (agent_id, scheduled_at_us)",
    "CREATE INDEX IF NOT EXISTS slots_by_time ON slots (scheduled_at_us)",
    "CREATE INDEX IF NOT EXISTS slots_by_agent_status ON slots (agent_id, status, scheduled_at_us)",
    "CREATE INDEX IF NOT EXISTS slots_by_series ON slots (series_id) WHERE series_id IS NOT NULL",
    # DESIGN §3: "one ONGOING/PAUSED slot per agent" is this index, not a check in code.
    "CREATE UNIQUE INDEX IF NOT EXISTS slots_one_held_per_agent ON slots (agent_id) "
    f"WHERE status IN ({ACTIVE_SQL})",
    "CREATE INDEX IF NOT EXISTS slot_events_by_slot ON slot_events (slot_id, seq)",
    "CREATE INDEX IF NOT EXISTS series_by_agent ON series (agent_id)",
)

#: Columns a v1/v2 SQLite file's `slots` lacks, with how an old row's value is recovered
#: from its history (`slot_events`), so an adopted slot reads as if it had always had them.
_V3_COLUMNS = {
    "claim_key": ("TEXT", None),  # v2's column: no slot of a v1 file holds a claim yet
    "created_at_us": ("INTEGER", "SELECT MIN(at_us) FROM slot_events e WHERE e.slot_id = slots.id"),
    "started_at_us": (
        "INTEGER",
        "SELECT MIN(at_us) FROM slot_events e WHERE e.slot_id = slots.id "
        "AND e.to_status = 'ONGOING'",
    ),
    "ended_at_us": (
        "INTEGER",
        "SELECT MAX(at_us) FROM slot_events e WHERE e.slot_id = slots.id "
        "AND e.to_status IN ('FINISHED', 'ABORTED', 'CANCELLED') "
        "AND slots.status IN ('FINISHED', 'ABORTED', 'CANCELLED')",
    ),
    "note": (
        "TEXT",
        "SELECT note FROM slot_events e WHERE e.slot_id = slots.id AND e.note IS NOT NULL "
        "ORDER BY seq DESC LIMIT 1",
    ),
    "series_id": ("TEXT", None),
}


def _replays(text: str, integer: str, blob: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE replays (
            caller {text} NOT NULL, idempotency_key {text} NOT NULL,
            fingerprint {text} NOT NULL, status INTEGER NOT NULL, body {blob} NOT NULL,
            created_at_us {integer} NOT NULL, PRIMARY KEY (caller, idempotency_key))""",
        "CREATE INDEX replays_by_age ON replays (created_at_us)",
    )


async def _sqlite_v3(db: aiosqlite.Connection) -> None:
    """Make the tables, or adopt a v1/v2 file by adding (and recovering) what it lacks."""
    for statement in _tables("TEXT", "INTEGER", "INTEGER"):
        await db.execute(statement)
    columns = {row[1] for row in await db.execute_fetchall("PRAGMA table_info(slots)")}
    for column, (kind, recovered) in _V3_COLUMNS.items():
        if column in columns:
            continue
        await db.execute(f"ALTER TABLE slots ADD COLUMN {column} {kind}")
        if recovered is not None:
            await db.execute(f"UPDATE slots SET {column} = ({recovered})")
    for statement in _INDEXES:
        await db.execute(statement)


#: The steps, oldest first; the last one's version is the schema this code speaks.
STEPS: tuple[Step, ...] = (
    Step(
        3,
        "the calendar's tables: slots (with claim keys, read-only times, note, series), "
        "their history, series, heartbeats, and the one-held-slot index",
        sqlite=_sqlite_v3,
        postgres=(*_tables('TEXT COLLATE "C"', "BIGINT", "BIGSERIAL"), *_INDEXES),
    ),
    Step(
        4,
        "slot_events.from_scheduled_at_us: a slot's time before a move, so the change feed "
        "names the day it left as well as the day it went to (DESIGN §4.1)",
        sqlite=("ALTER TABLE slot_events ADD COLUMN from_scheduled_at_us INTEGER",),
        postgres=("ALTER TABLE slot_events ADD COLUMN from_scheduled_at_us BIGINT",),
    ),
    Step(
        5,
        "replays: a write's first answer by (caller, Idempotency-Key), so a retry after a "
        "restart, or on another server of the store, gets it again (DESIGN §3)",
        sqlite=_replays("TEXT", "INTEGER", "BLOB"),
        postgres=_replays('TEXT COLLATE "C"', "BIGINT", "BYTEA"),
    ),
)
SCHEMA_VERSION = STEPS[-1].version


def pending(found: int | None) -> tuple[Step, ...]:
    """The steps a store at version `found` (None: empty) still needs; refuses a newer one."""
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaTooNew(found)
    return tuple(step for step in STEPS if found is None or step.version > found)


async def migrate_sqlite(db: aiosqlite.Connection, _examined: int) -> None:
    """Bring an open SQLite file to `SCHEMA_VERSION` in one transaction, one process at a time.

    The version is read again under `BEGIN IMMEDIATE` (the write lock): another
    process starting at the same moment may have migrated since the file was
    examined. The connection is in autocommit mode, so the transaction is ours.
    """
    await db.execute("BEGIN IMMEDIATE")
    try:
        row = next(iter(await db.execute_fetchall("PRAGMA user_version")))
        for step in pending(int(row[0]) or None):
            if callable(step.sqlite):
                await step.sqlite(db)
            else:
                for statement in step.sqlite:
                    await db.execute(statement)
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
