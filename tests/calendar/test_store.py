"""What only the embedded store has: the file, its history, the index, the extra listings."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.store import (
    SCHEMA_VERSION,
    EmbeddedCalendar,
    TransitionCall,
    day_bounds,
    day_etag,
    etag_matches,
)
from bot.core.calendar import CalendarUnavailable, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, HeartbeatStatus, SlotStatus
from bot.core.sqlite_file import DatabaseFileRefused
from testkit.sqlite_files import user_version, write_file
from tests.calendar.conftest import START, TZ, minutes, slot_body

DAY = START.date()


async def test_slots_survive_a_reopen_of_the_file(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "calendar.db"
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    started = await cal.transition(slot.id, Action.START, note="claimed")
    await cal.heartbeat("alice", HeartbeatStatus.BUSY, started.id)
    await cal.close()

    again = await EmbeddedCalendar.open(str(path), timezone=TZ, clock=clock)
    try:
        assert await again.get_slot(slot.id) == started
        assert (await again.agent_status("alice")).current_slot_id == slot.id
        assert [e.note for e in await again.slot_events(slot.id)] == [None, "claimed"]
    finally:
        await again.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_day_lookup_uses_an_index(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "calendar.db"
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    await cal.close()
    with sqlite3.connect(path) as raw:
        plan = raw.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM slots WHERE agent_id = ? "
            "AND scheduled_at_us >= ? AND scheduled_at_us < ? ORDER BY scheduled_at_us, id",
            ("alice", 0, 1),
        ).fetchall()
        all_agents = raw.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM slots WHERE scheduled_at_us >= ? "
            "AND scheduled_at_us < ?",
            (0, 1),
        ).fetchall()
    assert any("USING INDEX slots_by_agent_time" in str(row[-1]) for row in plan), plan
    assert any("USING INDEX slots_by_time" in str(row[-1]) for row in all_agents), all_agents


async def test_history_keeps_every_accepted_change_and_its_note(store: EmbeddedCalendar) -> None:
    slot = await store.create_slot(slot_body(), agent_id="alice")
    await store.transition(slot.id, Action.START, expected_version=1)
    with pytest.raises(Exception):  # noqa: B017 - a refusal leaves no trace
        await store.transition(slot.id, Action.START)
    await store.transition(slot.id, Action.ABORT, note="11 min late; past MISFIRE_GRACE_S")
    events = await store.slot_events(slot.id)
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("create", None, SlotStatus.NOT_STARTED),
        ("start", SlotStatus.NOT_STARTED, SlotStatus.ONGOING),
        ("abort", SlotStatus.ONGOING, SlotStatus.ABORTED),
    ]
    assert events[-1].note == "11 min late; past MISFIRE_GRACE_S"
    assert events[0].at == START


async def test_list_slots_filters_and_orders(store: EmbeddedCalendar) -> None:
    b_late = await store.create_slot(slot_body(START + minutes(60)), agent_id="bob")
    a_early = await store.create_slot(slot_body(START - minutes(60)), agent_id="alice")
    a_tomorrow = await store.create_slot(slot_body(START + timedelta(days=1)), agent_id="alice")
    same_time = [await store.create_slot(slot_body(START), agent_id="carol") for _ in range(3)]
    today = await store.list_slots(DAY)
    assert [s.id for s in today] == [a_early.id, *sorted(s.id for s in same_time), b_late.id]
    assert [s.id for s in await store.list_slots(agent_id="alice")] == [a_early.id, a_tomorrow.id]
    assert [s.id for s in await store.list_slots(DAY, agent_id="bob")] == [b_late.id]
    assert len(await store.list_slots()) == 6
    await store.heartbeat("dave", HeartbeatStatus.IDLE)
    assert await store.agent_ids() == ["alice", "bob", "carol", "dave"]


async def test_times_come_back_in_the_calendars_zone(store: EmbeddedCalendar) -> None:
    slot = await store.create_slot(slot_body(START.astimezone(TZ)), agent_id="alice")
    assert slot.scheduled_at.tzinfo == TZ
    assert slot.scheduled_at == START


async def test_many_concurrent_writers_never_lose_a_change(store: EmbeddedCalendar) -> None:
    slots = [await store.create_slot(slot_body(), agent_id=f"agent{i}") for i in range(10)]

    async def life(slot_id: str) -> None:
        for action in (Action.START, Action.PAUSE, Action.RESUME, Action.COMPLETE):
            await store.transition(slot_id, action)

    await asyncio.gather(*(life(s.id) for s in slots))
    final = await store.list_slots()
    assert {(s.status, s.version) for s in final} == {(SlotStatus.FINISHED, 5)}


async def test_open_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseFileRefused) as err:
        await EmbeddedCalendar.open(tmp_path / "nope" / "calendar.db", timezone=TZ)
    assert "nope" in str(err.value) and "directory" in str(err.value)
    with pytest.raises(DatabaseFileRefused) as not_a_file:
        await EmbeddedCalendar.open(tmp_path, timezone=TZ)  # a directory, not a file
    assert str(tmp_path) in str(not_a_file.value)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(DatabaseFileRefused) as err:
        await EmbeddedCalendar.open(path, timezone=TZ)
    assert "newer version" in str(err.value)


async def test_closed_calendar_says_so(clock: FakeClock) -> None:
    cal = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    await cal.close()
    await cal.close()  # twice is harmless
    with pytest.raises(CalendarUnavailable):
        await cal.get_slot("x")


async def test_a_dst_day_is_23_hours_and_bounded_by_local_midnights(clock: FakeClock) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = date(2026, 3, 29)  # clocks go 02:00 -> 03:00
    start, end = day_bounds(spring, berlin)
    assert end - start == 23 * 3600 * 1_000_000
    cal = await EmbeddedCalendar.open(":memory:", timezone=berlin, clock=clock)
    try:
        last = await cal.create_slot(
            slot_body(datetime(2026, 3, 29, 23, 59, tzinfo=berlin)), agent_id="alice"
        )
        await cal.create_slot(
            slot_body(datetime(2026, 3, 30, 0, 0, tzinfo=berlin)), agent_id="alice"
        )
        first = await cal.create_slot(
            slot_body(datetime(2026, 3, 29, 0, 0, tzinfo=berlin)), agent_id="alice"
        )
        day = (await cal.get_day("alice", spring)).schedule
        assert day is not None
        assert [s.id for s in day.slots] == [first.id, last.id]
        assert day.slots[1].scheduled_at.utcoffset() == timedelta(hours=2)
    finally:
        await cal.close()


def test_etag_matching_follows_http() -> None:
    tag = day_etag(DAY, [])
    assert tag.startswith('"') and tag.endswith('"')
    assert etag_matches(tag, tag)
    assert etag_matches(f"W/{tag}", tag)
    assert etag_matches(f'"other", {tag}', tag)
    assert etag_matches("*", tag)
    assert not etag_matches('"other"', tag)
    assert not etag_matches(None, tag)
    assert not etag_matches("", tag)
    assert day_etag(DAY, []) != day_etag(DAY + timedelta(days=1), [])


async def test_a_claim_key_outlives_a_reopen_of_the_file(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "calendar.db"
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    claimed = await cal.transition(slot.id, Action.START, expected_version=1, idempotency_key="k")
    await cal.close()

    again = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    try:
        replay = await again.apply(
            TransitionCall.checked(slot.id, Action.START, expected_version=1, idempotency_key="k")
        )
        assert (replay.slot, replay.replayed) == (claimed, True)
        assert [e.action for e in await again.slot_events(slot.id)] == ["create", "start"]
    finally:
        await again.close()


async def test_a_version_1_calendar_file_is_upgraded_in_place(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = write_file(
        tmp_path / "old.db",
        """
        CREATE TABLE slots (
            id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, scheduled_at_us INTEGER NOT NULL,
            estimated_duration_min INTEGER NOT NULL, priority INTEGER NOT NULL,
            status TEXT NOT NULL, slot_type TEXT NOT NULL, title TEXT NOT NULL,
            prompt TEXT NOT NULL, event_data TEXT NOT NULL, version INTEGER NOT NULL,
            updated_at_us INTEGER NOT NULL
        );
        INSERT INTO slots VALUES ('old1', 'alice', 0, 30, 50, 'ONGOING', 'work', 't', 'p',
                                  '{}', 2, 0);
        PRAGMA user_version = 1;
        """,
    )
    cal = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    try:
        held = await cal.get_slot("old1")
        assert (held.status, held.version) == (SlotStatus.ONGOING, 2)
        # started before claim keys existed: no key makes it anyone's
        with pytest.raises(TransitionConflict):
            await cal.transition("old1", Action.START, expected_version=1, idempotency_key="k")
        slot = await cal.create_slot(slot_body(), agent_id="bob")
        await cal.transition(slot.id, Action.START, idempotency_key="k")
        assert (await cal.transition(slot.id, Action.START, idempotency_key="k")).version == 2
    finally:
        await cal.close()
    assert user_version(path) == SCHEMA_VERSION
