"""The PostgreSQL calendar's tables, their version, and bringing a database up to it.

The tables are the SQLite file's (`bot.calendar.store.schema`), column for column,
so the store's one copy of SQL reads and writes both: instants as BIGINT epoch
microseconds, JSON as TEXT, every text compared byte by byte (`COLLATE "C"`, as
SQLite does), `slot_events.seq` from a sequence. The schema version is the SQLite
file's `SCHEMA_VERSION`, kept in `calendar_schema`: both stores move together.

`migrate` runs at every start, in one transaction under an advisory lock, so
several processes starting at once apply a step exactly once and the others wait
and find it done. Steps only go forward; a database a newer version has
migrated is refused (`SchemaTooNew`) before anything is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from bot.calendar.store.rows import ACTIVE_SQL
from bot.calendar.store.schema import SCHEMA_VERSION

#: `pg_advisory_xact_lock` key serialising migrations ("CMCLmigr").
MIGRATION_LOCK = 0x434D434C6D696772
#: The tables a calendar database holds beside `calendar_schema`.
TABLES = ("slots", "slot_events", "series", "heartbeats")

_TEXT = 'TEXT COLLATE "C"'

#: Version -> the statements that bring the previous version to it. PostgreSQL
#: calendars start at the SQLite file's version 3 (what versions 1 and 2 added is in it).
STEPS: dict[int, Sequence[str]] = {
    3: (
        f"""CREATE TABLE slots (
            id                      {_TEXT} PRIMARY KEY,
            agent_id                {_TEXT} NOT NULL,
            scheduled_at_us         BIGINT NOT NULL,
            estimated_duration_min  INTEGER NOT NULL,
            priority                INTEGER NOT NULL,
            status                  {_TEXT} NOT NULL,
            slot_type               {_TEXT} NOT NULL,
            title                   {_TEXT} NOT NULL,
            prompt                  {_TEXT} NOT NULL,
            event_data              {_TEXT} NOT NULL,
            version                 BIGINT NOT NULL,
            updated_at_us           BIGINT NOT NULL,
            claim_key               {_TEXT},
            created_at_us           BIGINT,
            started_at_us           BIGINT,
            ended_at_us             BIGINT,
            note                    {_TEXT},
            series_id               {_TEXT}
        )""",
        "CREATE INDEX slots_by_agent_time ON slots (agent_id, scheduled_at_us)",
        "CREATE INDEX slots_by_time ON slots (scheduled_at_us)",
        "CREATE INDEX slots_by_agent_status ON slots (agent_id, status, scheduled_at_us)",
        "CREATE INDEX slots_by_series ON slots (series_id) WHERE series_id IS NOT NULL",
        # DESIGN §3: "one ONGOING/PAUSED slot per agent" is this index, not a check in code.
        "CREATE UNIQUE INDEX slots_one_held_per_agent ON slots (agent_id) "
        f"WHERE status IN ({ACTIVE_SQL})",
        f"""CREATE TABLE slot_events (
            seq          BIGSERIAL PRIMARY KEY,
            slot_id      {_TEXT} NOT NULL,
            at_us        BIGINT NOT NULL,
            action       {_TEXT} NOT NULL,
            from_status  {_TEXT},
            to_status    {_TEXT} NOT NULL,
            note         {_TEXT}
        )""",
        "CREATE INDEX slot_events_by_slot ON slot_events (slot_id, seq)",
        f"""CREATE TABLE series (
            id                      {_TEXT} PRIMARY KEY,
            agent_id                {_TEXT} NOT NULL,
            rrule                   {_TEXT} NOT NULL,
            start                   {_TEXT} NOT NULL,
            timezone                {_TEXT} NOT NULL,
            exdates                 {_TEXT} NOT NULL,
            estimated_duration_min  INTEGER NOT NULL,
            priority                INTEGER NOT NULL,
            slot_type               {_TEXT} NOT NULL,
            title                   {_TEXT} NOT NULL,
            prompt                  {_TEXT} NOT NULL,
            event_data              {_TEXT} NOT NULL,
            version                 BIGINT NOT NULL,
            created_at_us           BIGINT NOT NULL,
            updated_at_us           BIGINT NOT NULL,
            ended_at_us             BIGINT
        )""",
        "CREATE INDEX series_by_agent ON series (agent_id)",
        f"""CREATE TABLE heartbeats (
            agent_id         {_TEXT} PRIMARY KEY,
            status           {_TEXT} NOT NULL,
            current_slot_id  {_TEXT},
            at_us            BIGINT NOT NULL
        )""",
    ),
}
assert max(STEPS) == SCHEMA_VERSION, "a new SQLite schema version needs its PostgreSQL step"


class SchemaTooNew(Exception):
    """The database was migrated by a newer version of the calendar than this one."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the calendar database was made by a newer version (schema {found}, this one "
            f"knows {SCHEMA_VERSION}); run the newer version, or point CALENDAR_URL at "
            "another database"
        )
        self.found = found


async def found_version(conn: psycopg.AsyncConnection[Any]) -> int | None:
    """The database's schema version, or None when it has no calendar schema yet."""
    cur = await conn.execute("SELECT to_regclass('calendar_schema') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return None
    cur = await conn.execute("SELECT MAX(version) FROM calendar_schema")
    row = await cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])


async def migrate(conn: psycopg.AsyncConnection[Any]) -> int:
    """Bring the database to `SCHEMA_VERSION` (one transaction, serialised); the version found.

    Raises `SchemaTooNew`, or psycopg's error (no rights, connection lost): the
    transaction then rolls back whole, so a failed start leaves no half schema.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        # Looked for after the lock, by name: a process that held it before us may have just
        # made the table (a regclass lookup could still answer from an older catalog view).
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS calendar_schema (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT MAX(version) FROM calendar_schema")
        row = await cur.fetchone()
        found = None if row is None or row[0] is None else int(row[0])
        if found is not None and found > SCHEMA_VERSION:
            raise SchemaTooNew(found)
        start = found if found is not None else min(STEPS) - 1
        for version in range(start + 1, SCHEMA_VERSION + 1):
            for statement in STEPS[version]:
                await conn.execute(statement.encode())
            await conn.execute("INSERT INTO calendar_schema (version) VALUES (%s)", (version,))
        return found if found is not None else 0
