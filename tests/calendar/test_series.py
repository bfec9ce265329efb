"""Series (DESIGN §3.1) on every backend: the calls, occurrences as slots, claims, due rules.

The calendar's zone is Asia/Shanghai (conftest); the series here are in
Europe/Berlin, so a DST mistake in either zone shows in the instants.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.core.calendar import BadRequest, SlotNotFound, TransitionConflict
from bot.core.models import Action, HeartbeatStatus, SeriesCreate, SeriesEdit, SlotEdit, SlotStatus
from tests.calendar.conftest import START, Backend

BERLIN = "Europe/Berlin"


def series_body(**fields: Any) -> SeriesCreate:
    values: dict[str, Any] = {
        "rrule": "FREQ=DAILY",
        "start": "2026-01-06T09:00",
        "timezone": BERLIN,
        "title": "stand-up",
        "prompt": "Say what you did.",
    }
    values.update(fields)
    return SeriesCreate(**values)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def due_ids(backend: Backend, agent: str = "ada") -> list[str]:
    return [s.id for s in await backend.cal.heartbeat(agent, HeartbeatStatus.IDLE)]


async def test_create_list_get_edit_end(backend: Backend) -> None:
    assert "series" in await backend.cal.features()
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    assert (made.agent_id, made.version, made.ended_at, made.timezone) == ("ada", 1, None, BERLIN)
    assert made.start == "2026-01-06T09:00:00"
    assert await backend.cal.get_series(made.id) == made
    assert [s.id for s in await backend.cal.list_series("ada")] == [made.id]
    assert await backend.cal.list_series("bob") == []
    edited = await backend.cal.edit_series(
        made.id, SeriesEdit(title="daily", exdates=["2026-01-07T09:00"], expected_version=1)
    )
    assert (edited.title, edited.version, edited.exdates) == ("daily", 2, ["2026-01-07T09:00:00"])
    ended = await backend.cal.end_series(made.id)
    assert ended.ended_at == backend.clock.now() and ended.version == 3
    assert (await backend.cal.end_series(made.id)).version == 3  # ending twice changes nothing


async def test_occurrences_are_slots_in_the_day_view_and_by_id(backend: Backend) -> None:
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    day = (await backend.cal.get_day("ada", date(2026, 1, 6))).schedule
    assert day is not None
    [slot] = day.slots
    assert slot.id == f"{made.id}_20260106T090000"
    assert (slot.series_id, slot.version, slot.title) == (made.id, 1, "stand-up")
    assert slot.scheduled_at == utc(2026, 1, 6, 8)
    assert await backend.cal.get_slot(slot.id) == slot
    with pytest.raises(SlotNotFound):  # no such instance: 09:30 is not in the rule
        await backend.cal.get_slot(f"{made.id}_20260106T093000")
    later = START + timedelta(days=10)
    listed = await backend.cal.list_range("ada", START, later)
    assert len(listed) == 9 and len({s.id for s in listed}) == 9


@pytest.mark.parametrize(
    ("wall", "day", "instant"),
    [
        ("02:30", date(2026, 3, 29), utc(2026, 3, 29, 1, 30)),  # spring gap: 03:30 CEST
        ("02:30", date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),  # autumn fold: the first
        ("09:00", date(2026, 3, 29), utc(2026, 3, 29, 7)),
        ("09:00", date(2026, 10, 25), utc(2026, 10, 25, 8)),
    ],
)
async def test_berlin_dst_in_day_view_and_heartbeat(
    backend: Backend, wall: str, day: date, instant: datetime
) -> None:
    made = await backend.cal.create_series(series_body(start=f"2026-03-20T{wall}"), agent_id="ada")
    result = await backend.cal.get_day("ada", day)
    assert result.schedule is not None
    assert [s.scheduled_at for s in result.schedule.slots] == [instant]
    await backend.clock.set(instant + timedelta(minutes=1))
    [due] = await backend.cal.heartbeat("ada", HeartbeatStatus.IDLE)  # the latest only
    assert due.id == f"{made.id}_{day:%Y%m%d}T{wall.replace(':', '')}00"
    older = await backend.cal.get_slot(f"{made.id}_20260320T{wall.replace(':', '')}00")
    assert (older.status, older.note) == (SlotStatus.ABORTED, "superseded")
    changed = await backend.cal.get_day("ada", date(2026, 3, 20), etag=None)
    assert changed.schedule is not None


async def test_a_claimed_occurrence_is_not_due_again(backend: Backend) -> None:
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    await backend.clock.set(utc(2026, 1, 6, 8, 5))
    day = await backend.cal.get_day("ada", date(2026, 1, 6))
    [due] = await backend.cal.heartbeat("ada", HeartbeatStatus.IDLE)
    started = await backend.cal.transition(
        due.id, Action.START, agent_id="ada", expected_version=made.version
    )
    assert (started.status, started.version, started.series_id) == (
        SlotStatus.ONGOING,
        made.version + 1,
        made.id,
    )
    assert await due_ids(backend) == []
    after = await backend.cal.get_day("ada", date(2026, 1, 6), etag=day.etag)
    assert after.schedule is not None and after.etag != day.etag  # the ETag moved
    await backend.cal.edit_series(made.id, SeriesEdit(title="renamed"))
    assert (await backend.cal.get_slot(due.id)).status is SlotStatus.ONGOING
    await backend.cal.transition(due.id, Action.COMPLETE, agent_id="ada")
    assert await due_ids(backend) == []
    await backend.clock.set(utc(2026, 1, 7, 8, 5))
    [next_due] = await backend.cal.heartbeat("ada", HeartbeatStatus.IDLE)
    assert next_due.id == f"{made.id}_20260107T090000" and next_due.title == "renamed"


async def test_an_untouched_occurrence_is_edited_and_cancelled_as_a_slot(backend: Backend) -> None:
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    slot_id = f"{made.id}_20260108T090000"
    with pytest.raises(TransitionConflict) as stale:
        await backend.cal.transition(slot_id, Action.CANCEL, expected_version=7)
    assert stale.value.code == "version_mismatch"
    assert await backend.store.slot_events(slot_id) == []  # the refusal stored nothing
    assert slot_id not in {s.id for s in await backend.store.list_slots()}
    cancelled = await backend.cal.transition(slot_id, Action.CANCEL, expected_version=1)
    assert (cancelled.status, cancelled.version) == (SlotStatus.CANCELLED, 2)


async def test_a_day_taken_out_of_a_series_takes_its_stored_occurrence_with_it(
    backend: Backend,
) -> None:
    """An occurrence edited on its own is a stored row; an EXDATE for its day later must
    cancel that row too (it was still woken), and leave the other days alone."""
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    moved = f"{made.id}_20260108T090000"
    await backend.cal.edit_slot(moved, SlotEdit(title="later that day"))
    kept = f"{made.id}_20260109T090000"
    await backend.cal.edit_slot(kept, SlotEdit(title="kept"))
    await backend.cal.edit_series(made.id, SeriesEdit(exdates=["2026-01-08T09:00"]))
    gone = await backend.cal.get_slot(moved)
    assert (gone.status, gone.note) == (SlotStatus.CANCELLED, "its day was taken out of the series")
    assert (await backend.cal.get_slot(kept)).status is SlotStatus.NOT_STARTED


async def test_ending_cancels_what_has_not_started_and_keeps_the_rest(backend: Backend) -> None:
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    await backend.clock.set(utc(2026, 1, 7, 8, 5))
    [due] = await backend.cal.heartbeat("ada", HeartbeatStatus.IDLE)
    assert due.id == f"{made.id}_20260107T090000"
    claimed_id = f"{made.id}_20260106T090000"
    with pytest.raises(TransitionConflict):  # superseded: older than the latest due one
        await backend.cal.transition(claimed_id, Action.START, agent_id="ada")
    await backend.cal.transition(due.id, Action.START, agent_id="ada")
    future = f"{made.id}_20260110T090000"
    await backend.cal.edit_slot(future, SlotEdit(title="mine"))
    await backend.cal.end_series(made.id)
    assert (await backend.cal.get_slot(due.id)).status is SlotStatus.ONGOING
    assert (await backend.cal.get_slot(future)).status is SlotStatus.CANCELLED
    with pytest.raises(SlotNotFound):  # no instance after the end
        await backend.cal.get_slot(f"{made.id}_20260111T090000")
    listed = await backend.cal.list_range("ada", START, START + timedelta(days=30))
    assert sorted(s.id for s in listed) == sorted([claimed_id, due.id, future])


@pytest.mark.parametrize("claim_first", [True, False])
async def test_end_racing_a_claim_leaves_no_orphan(backend: Backend, claim_first: bool) -> None:
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    await backend.clock.set(utc(2026, 1, 6, 8, 1))
    slot_id = f"{made.id}_20260106T090000"

    async def claim() -> None:
        with contextlib.suppress(TransitionConflict, SlotNotFound):
            await backend.cal.transition(slot_id, Action.START, agent_id="ada")

    calls = [claim(), backend.cal.end_series(made.id)]
    await asyncio.gather(*(calls if claim_first else calls[::-1]))
    slot = await backend.cal.get_slot(slot_id)
    assert slot.status in {SlotStatus.ONGOING, SlotStatus.CANCELLED}
    assert await due_ids(backend) == []
    assert [s.id for s in await backend.cal.list_range("ada", START, START + timedelta(3))] == [
        slot_id
    ]


BAD_BODIES = [
    ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
    ({"rrule": "FREQ=MINUTELY"}, "rrule"),
    ({"rrule": "FREQ=DAILY;BYSECOND=5"}, "rrule"),
    ({"rrule": "FREQ=HOURLY;BYMINUTE=0,30"}, "rrule"),
    ({"rrule": "   "}, "rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=1", "exdates": ["2026-01-06T09:00"]}, "rrule"),
    ({"start": "2026-01-06T09:00+01:00"}, "start"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"exdates": ["tomorrow"]}, "exdates"),
    ({"exdates": ["2026-02-30T09:00"]}, "exdates"),
]


@pytest.mark.parametrize(("fields", "named"), BAD_BODIES)
async def test_bad_series_is_refused_and_stores_nothing(
    backend: Backend, fields: dict[str, Any], named: str
) -> None:
    body = series_body().model_copy(update=fields)
    with pytest.raises(BadRequest) as refused:
        await backend.cal.create_series(body, agent_id="ada")
    assert refused.value.code == "validation_error" and named in refused.value.detail
    assert await backend.cal.list_series() == []


@pytest.mark.parametrize(
    "fields",
    [
        {"rrule": "FREQ=WEEKLY"},
        {"start": "2026-02-01T10:00"},
        {"timezone": "UTC"},
        {"agent_id": "b"},
    ],
)
def test_immutable_fields_cannot_be_patched(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="cannot change"):
        SeriesEdit.model_validate(fields)


async def test_bad_series_edits_are_refused_and_change_nothing(backend: Backend) -> None:
    made = await backend.cal.create_series(series_body(), agent_id="ada")
    with pytest.raises(TransitionConflict) as stale:
        await backend.cal.edit_series(made.id, SeriesEdit(title="x", expected_version=5))
    assert stale.value.code == "version_mismatch"
    with pytest.raises(BadRequest) as bad:
        await backend.cal.edit_series(made.id, SeriesEdit(exdates=["2026-01-06 09:00"]))
    assert "exdates" in bad.value.detail
    with pytest.raises(SlotNotFound):
        await backend.cal.edit_series("nosuchseries", SeriesEdit(title="x"))
    with pytest.raises(SlotNotFound):
        await backend.cal.get_series("nosuchseries")
    with pytest.raises(SlotNotFound):
        await backend.cal.end_series("nosuchseries")
    assert await backend.cal.get_series(made.id) == made
