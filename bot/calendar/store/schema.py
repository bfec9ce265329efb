"""The embedded calendar's file: what makes it ours, and opening it at the current schema.

The tables and their versions are `bot.calendar.store.migrations`' (one list for
SQLite and PostgreSQL); this module only says how a calendar file is recognised,
refused and recovered.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import aiosqlite

from bot.calendar.store.migrations import SCHEMA_VERSION as SCHEMA_VERSION
from bot.calendar.store.migrations import migrate_sqlite
from bot.core.sqlite_file import DatabaseKind, open_rebuildable
from bot.core.sqlite_path import MEMORY as MEMORY

#: How long opening waits for another process' lock before saying so (seconds).
BUSY_TIMEOUT_S = 10.0

CALENDAR_FILE = DatabaseKind(
    what="calendar file",
    setting="CALENDAR_URL",
    application_id=0x434D434C,  # "CMCL"
    tables=frozenset({"slots", "slot_events", "heartbeats", "series", "replays"}),
    version=SCHEMA_VERSION,
    schema="",  # every table is made by a migration step, in its transaction
    upgrade=migrate_sqlite,
    empty_is_new=False,
    recovery=(
        "The calendar is never moved or rebuilt: stop everything using it, save what SQLite "
        "can read with `sqlite3 FILE .recover | sqlite3 FILE.recovered` (or restore a backup), "
        "then point CALENDAR_URL at the recovered file."
    ),
    new_file_level=logging.INFO,
)
#: The CalDAV backend's local copy (DESIGN §10), beside STATE_PATH: a calendar file by its
#: tables, but only a copy of the server's events, so a corrupt one is set aside and rebuilt.
CALDAV_COPY = replace(
    CALENDAR_FILE,
    what="CalDAV copy",
    setting="STATE_PATH",
    empty_is_new=True,
    recovery="It is a copy of the CalDAV calendars: delete it and it is rebuilt from the events.",
    rebuilt_from="the CalDAV calendars' events",
)


async def open_database(
    where: str,
    *,
    kind: DatabaseKind = CALENDAR_FILE,
    now: datetime | None = None,
    busy_timeout_s: float = BUSY_TIMEOUT_S,
) -> aiosqlite.Connection:
    """A connection to the calendar file at `where`, its schema current; never half open.

    A path or file that is not ours raises `DatabaseFileRefused` (exit 2, nothing
    changed); a corrupt calendar is refused the same way and never moved (DESIGN §4),
    a corrupt CalDAV copy (`now` names it) set aside and made anew.
    """
    stamp = now if now is not None else datetime.now(UTC)
    db, _ = await open_rebuildable(
        where, kind, stamp, busy_timeout_s=busy_timeout_s, isolation_level=None
    )
    db.row_factory = sqlite3.Row
    return db
