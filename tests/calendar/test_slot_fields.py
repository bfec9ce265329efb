"""The read-only slot fields of API 2 (DESIGN §3): created, started, ended, note, series_id.

They are kept on every backend, an older calendar file gets them from its history
when upgraded, a v1 answer without them still reads, and "one ONGOING/PAUSED slot
per agent" is a constraint of the file itself.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.calendar.store import SCHEMA_VERSION, EmbeddedCalendar
from bot.core.clock import FakeClock
from bot.core.models import Action, Slot, SlotStatus
from testkit.sqlite_files import user_version, write_file
from tests.calendar.conftest import START, TZ, Backend, minutes, slot_body


async def test_times_and_note_follow_the_slot(backend: Backend) -> None:
    created = await backend.cal.create_slot(slot_body(), agent_id="ada")
    assert created.created_at == START and created.series_id is None
    assert (created.started_at, created.ended_at, created.note) == (None, None, None)
    await backend.clock.advance(300)
    started = await backend.cal.transition(created.id, Action.START, note="on it")
    assert started.started_at == START + minutes(5) and started.note == "on it"
    await backend.clock.advance(300)
    paused = await backend.cal.transition(created.id, Action.PAUSE)
    assert paused.note == "on it"  # a transition without a note keeps the last one
    await backend.clock.advance(300)
    await backend.cal.transition(created.id, Action.RESUME)
    done = await backend.cal.transition(created.id, Action.COMPLETE, note="sent")
    assert done.started_at == START + minutes(5)  # the first ONGOING, not the resume
    assert done.ended_at == START + minutes(15) and done.note == "sent"
    assert done.created_at == START
    assert await backend.cal.get_slot(created.id) == done


@pytest.mark.parametrize("action", [Action.ABORT, Action.CANCEL])
async def test_every_final_status_has_an_end(backend: Backend, action: Action) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    ended = await backend.cal.transition(slot.id, action)
    assert ended.status.is_final and ended.ended_at == START and ended.started_at is None


def test_a_v1_answer_without_the_new_fields_still_reads() -> None:
    v1 = {
        "id": "s1",
        "agent_id": "ada",
        "scheduled_at": START.isoformat(),
        "status": "NOT_STARTED",
        "version": 1,
        "updated_at": START.isoformat(),
        "some_future_field": [1],
    }
    slot = Slot.model_validate(v1)
    assert (slot.created_at, slot.ended_at, slot.note, slot.series_id) == (None,) * 4


async def test_the_file_holds_one_held_slot_per_agent(store: EmbeddedCalendar) -> None:
    first = await store.create_slot(slot_body(), agent_id="ada")
    second = await store.create_slot(slot_body(), agent_id="ada")
    await store.transition(first.id, Action.START)
    db = store._db  # the constraint itself, as another process writing the file meets it
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute("UPDATE slots SET status = 'PAUSED' WHERE id = ?", (second.id,))
    assert (await store.get_slot(second.id)).status is SlotStatus.NOT_STARTED


async def test_a_version_2_file_gets_the_fields_from_its_history(
    tmp_path: Path, clock: FakeClock
) -> None:
    us = 1_767_574_800_000_000  # 2026-01-05T01:00Z
    path = write_file(
        tmp_path / "v2.db",
        f"""
        CREATE TABLE slots (
            id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, scheduled_at_us INTEGER NOT NULL,
            estimated_duration_min INTEGER NOT NULL, priority INTEGER NOT NULL,
            status TEXT NOT NULL, slot_type TEXT NOT NULL, title TEXT NOT NULL,
            prompt TEXT NOT NULL, event_data TEXT NOT NULL, version INTEGER NOT NULL,
            updated_at_us INTEGER NOT NULL, claim_key TEXT
        );
        CREATE TABLE slot_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, slot_id TEXT NOT NULL, at_us INTEGER NOT NULL,
            action TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL, note TEXT
        );
        CREATE TABLE heartbeats (agent_id TEXT PRIMARY KEY, status TEXT NOT NULL,
            current_slot_id TEXT, at_us INTEGER NOT NULL);
        INSERT INTO slots VALUES ('old1', 'alice', {us}, 30, 50, 'FINISHED', 'work', 't', 'p',
                                  '{{}}', 3, {us + 2}, NULL);
        INSERT INTO slot_events (slot_id, at_us, action, from_status, to_status, note) VALUES
            ('old1', {us}, 'create', NULL, 'NOT_STARTED', NULL),
            ('old1', {us + 1}, 'start', 'NOT_STARTED', 'ONGOING', 'go'),
            ('old1', {us + 2}, 'complete', 'ONGOING', 'FINISHED', NULL);
        PRAGMA user_version = 2;
        """,
    )
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    try:
        old = await cal.get_slot("old1")
        assert old.created_at is not None and old.started_at is not None
        assert old.ended_at is not None and old.note == "go" and old.series_id is None
        assert old.started_at - old.created_at == old.ended_at - old.started_at
    finally:
        await cal.close()
    assert user_version(path) == SCHEMA_VERSION == 5
