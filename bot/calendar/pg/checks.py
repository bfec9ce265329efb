"""Whether a PostgreSQL database can hold the calendar, looked at without changing it.

`check-config` asks before anything is created; `PgCalendar.open_url` asks again
after the migration, so a role that may read but not write the tables stops the
start (exit 2) instead of failing every write later with a 503.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bot.calendar.pg.errors import describe
from bot.calendar.pg.schema import TABLES, SchemaTooNew, found_version
from bot.calendar.store.schema import SCHEMA_VERSION

#: What the store does to each table.
_RIGHTS = "SELECT, INSERT, UPDATE"


async def missing_rights(
    conn: psycopg.AsyncConnection[Any], *, present_only: bool = False
) -> list[str]:
    """The calendar's tables the connected role may not read and write; with `present_only`
    (a schema a pending migration step will complete), only those already there."""
    missing = []
    for table in TABLES:
        # One right per call: given several, has_table_privilege answers "any of them".
        cur = await conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL "
            "AND has_table_privilege(%s, 'SELECT') AND has_table_privilege(%s, 'INSERT') "
            "AND has_table_privilege(%s, 'UPDATE')",
            (table, table, table, table, table),
        )
        row = await cur.fetchone()
        there, usable = (bool(row[0]), bool(row[1])) if row is not None else (False, False)
        if not usable and (there or not present_only):
            missing.append(table)
    return missing


async def schema_problem(conn: psycopg.AsyncConnection[Any]) -> str | None:
    """What stops the calendar from using this database as it is now, or None."""
    found = await found_version(conn)
    if found is None:
        cur = await conn.execute(
            "SELECT has_database_privilege(current_database(), 'CREATE') "
            "AND has_schema_privilege(current_schema(), 'CREATE')"
        )
        row = await cur.fetchone()
        if row is None or not row[0]:
            return (
                "has no calendar schema yet and the role may not create it: grant it CREATE "
                "on the database and its schema, or create the schema once as its owner"
            )
        return None
    if found > SCHEMA_VERSION:
        return str(SchemaTooNew(found))
    lacking = await missing_rights(conn, present_only=found < SCHEMA_VERSION)
    if lacking:
        return (
            f"denies the role {_RIGHTS} on {', '.join(lacking)}: grant them, or use the role "
            "that owns the calendar's tables"
        )
    return None


async def database_problem(url: str, *, connect_timeout: int = 10) -> str | None:
    """Connect and look (`check-config`): None when the calendar can start on `url`."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=connect_timeout
        )
        async with conn:
            return await schema_problem(conn)
    except (psycopg.Error, OSError) as exc:
        return describe(exc, url)
