"""The one migration list (`bot.calendar.store.migrations`) on both stores: a version-3
store gains step 4's column and its old history still reads, starts at once migrate once,
and a newer schema is refused naming both versions."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date
from pathlib import Path

import psycopg
import pytest

from bot.calendar.pg.schema import migrate
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.store.migrations import (
    SCHEMA_VERSION,
    STEPS,
    SchemaTooNew,
    pending,
)
from bot.calendar.store.schema import open_database
from bot.core.clock import FakeClock
from bot.core.sqlite_file import DatabaseFileRefused
from testkit.sqlite_files import user_version, write_file
from tests.calendar.conftest import TZ, open_pg

US = 1_767_574_800_000_000  # 2026-01-05T01:00Z: 09:00 on Monday in the calendar's zone
_V3_ROWS = f"""
INSERT INTO slots (id, agent_id, scheduled_at_us, estimated_duration_min, priority, status,
    slot_type, title, prompt, event_data, version, updated_at_us, created_at_us)
    VALUES ('old1', 'alice', {US}, 30, 50, 'NOT_STARTED', 'work', 't', 'p', '{{}}', 2,
            {US}, {US});
INSERT INTO slot_events (slot_id, at_us, action, from_status, to_status, note) VALUES
    ('old1', {US}, 'create', NULL, 'NOT_STARTED', NULL),
    ('old1', {US}, 'move', 'NOT_STARTED', 'NOT_STARTED', NULL);
"""


def test_the_steps_go_forward_one_version_at_a_time() -> None:
    versions = [step.version for step in STEPS]
    assert versions == list(range(versions[0], versions[0] + len(versions)))
    assert SCHEMA_VERSION == versions[-1] == 5
    assert all(step.does and step.postgres for step in STEPS)
    assert pending(None) == STEPS and pending(SCHEMA_VERSION) == ()
    assert [step.version for step in pending(1)] == [3, 4, 5]  # a v1 file is adopted by step 3


def test_a_newer_version_is_refused_naming_both() -> None:
    with pytest.raises(SchemaTooNew) as err:
        pending(SCHEMA_VERSION + 1)
    assert f"schema {SCHEMA_VERSION + 1}" in str(err.value)
    assert f"knows {SCHEMA_VERSION}" in str(err.value)


def _v3_file(path: Path) -> Path:
    """A calendar file as the release before step 4 wrote it (its own step-3 tables)."""
    script = ";\n".join(STEPS[0].postgres)  # PostgreSQL's words, turned into SQLite's
    script = (
        script.replace('TEXT COLLATE "C"', "TEXT")
        .replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
        .replace("BIGINT", "INTEGER")
    )
    return write_file(path, f"{script};\n{_V3_ROWS}\nPRAGMA user_version = 3;")


async def test_a_version_3_file_gains_the_column_and_its_history_reads(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = _v3_file(tmp_path / "v3.db")
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    try:
        page = await cal.feed_page(0)
        assert [(c.slot_id, c.days) for c in page.changes] == [("old1", (date(2026, 1, 5),))]
        assert (await cal.get_slot("old1")).version == 2
    finally:
        await cal.close()
    assert user_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(slot_events)")}
        nulls = raw.execute("SELECT COUNT(*) FROM slot_events WHERE from_scheduled_at_us IS NULL")
        assert "from_scheduled_at_us" in columns and nulls.fetchone() == (2,)


async def test_a_newer_file_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = write_file(tmp_path / "future.db", f"PRAGMA user_version = {SCHEMA_VERSION + 3};")
    with pytest.raises(DatabaseFileRefused) as err:
        await open_database(str(path))
    message = str(err.value)
    assert f"schema {SCHEMA_VERSION + 3}" in message and f"knows {SCHEMA_VERSION}" in message
    assert user_version(path) == SCHEMA_VERSION + 3


async def test_files_opened_at_once_are_migrated_once(tmp_path: Path) -> None:
    path = _v3_file(tmp_path / "shared.db")
    connections = await asyncio.gather(*(open_database(str(path)) for _ in range(4)))
    for db in connections:
        await db.close()
    assert user_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM slot_events").fetchone() == (2,)


async def test_a_version_3_database_gains_the_column_and_its_history_reads(
    pg_url: str, clock: FakeClock
) -> None:
    conn = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    async with conn, conn.transaction():
        await conn.execute(
            "CREATE TABLE calendar_schema (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for statement in STEPS[0].postgres:
            await conn.execute(statement.encode())
        for statement in _V3_ROWS.strip().split(";\n"):
            if statement.strip():
                await conn.execute(statement.encode())
        await conn.execute("INSERT INTO calendar_schema (version) VALUES (3)")
    cal = await open_pg(pg_url, clock)
    try:
        page = await cal.feed_page(0)
        assert [(c.slot_id, c.days) for c in page.changes] == [("old1", (date(2026, 1, 5),))]
    finally:
        await cal.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        assert await migrate(conn) == SCHEMA_VERSION  # already there: nothing more to do
        cur = await conn.execute(
            "SELECT COUNT(*) FROM slot_events WHERE from_scheduled_at_us IS NULL"
        )
        assert await cur.fetchone() == (2,)
