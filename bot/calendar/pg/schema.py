"""Bringing a PostgreSQL database to the calendar's schema (`bot.calendar.store.migrations`).

The tables are the SQLite file's, column for column, so the store's one copy of
SQL reads and writes both; the steps and their version are the one list both
stores share. PostgreSQL keeps the version in `calendar_schema`, a row per step.

`migrate` runs at every start, in one transaction under an advisory lock, so
several processes starting at once apply a step exactly once and the others wait
and find it done. A database a newer version has migrated is refused
(`SchemaTooNew`) before anything is touched.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bot.calendar.store.migrations import SCHEMA_VERSION, SchemaTooNew, pending

__all__ = ["MIGRATION_LOCK", "SCHEMA_VERSION", "TABLES", "SchemaTooNew", "found_version", "migrate"]

#: `pg_advisory_xact_lock` key serialising migrations ("CMCLmigr").
MIGRATION_LOCK = 0x434D434C6D696772
#: The tables a calendar database holds beside `calendar_schema`.
TABLES = ("slots", "slot_events", "series", "heartbeats", "replays")


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
        for step in pending(found):
            for statement in step.postgres:
                await conn.execute(statement.encode())
            await conn.execute("INSERT INTO calendar_schema (version) VALUES (%s)", (step.version,))
        return found if found is not None else 0
