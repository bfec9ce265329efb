"""DESIGN §4.1 at the store: after each committed write, listeners hear which slots changed.

The news comes from the store's own history, so a write by another connection
on the same file is heard too (through `PRAGMA data_version`), and a refused
write, which stores nothing, tells nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.calendar.store import EmbeddedCalendar, notify
from bot.core.calendar import BadRequest, CalendarUnavailable, SlotChanged, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, HeartbeatStatus, SeriesCreate, SeriesEdit, SlotEdit
from tests.calendar.conftest import START, TZ, minutes, slot_body


class Heard:
    """A listener that keeps every batch it was told."""

    def __init__(self) -> None:
        self.batches: list[list[SlotChanged]] = []

    def __call__(self, changes: Sequence[SlotChanged]) -> None:
        self.batches.append(list(changes))

    @property
    def changes(self) -> list[SlotChanged]:
        return [change for batch in self.batches for change in batch]


async def test_every_kind_of_slot_write_is_told_once_after_its_commit(
    store: EmbeddedCalendar,
) -> None:
    heard = Heard()
    await store.changes.follow(heard)
    slot = await store.create_slot(slot_body(START + minutes(30), agent_id="ada"))
    moved = await store.edit_slot(slot.id, SlotEdit(scheduled_at=START + minutes(60)))
    await store.transition(slot.id, Action.CANCEL, agent_id="ada")
    other = await store.create_slot(slot_body(START + minutes(30), agent_id="bob"))
    assert moved.version == 2
    expected = [SlotChanged("ada", slot.id)] * 3 + [SlotChanged("bob", other.id)]
    assert heard.batches == [[change] for change in expected]


async def test_heartbeats_and_refused_writes_tell_nothing(store: EmbeddedCalendar) -> None:
    slot = await store.create_slot(slot_body(START + minutes(30), agent_id="ada"))
    heard = Heard()
    await store.changes.follow(heard)
    await store.heartbeat("ada", HeartbeatStatus.IDLE)
    with pytest.raises(TransitionConflict):
        await store.edit_slot(slot.id, SlotEdit(prompt="stale", expected_version=7))
    with pytest.raises(BadRequest):
        await store.create_slot(slot_body(START + minutes(30)))  # no agent named
    with pytest.raises(TransitionConflict):
        await store.transition(slot.id, Action.COMPLETE, agent_id="ada")
    assert heard.batches == []


async def test_a_failing_listener_neither_undoes_the_write_nor_silences_the_others(
    store: EmbeddedCalendar,
) -> None:
    def broken(changes: Sequence[SlotChanged]) -> None:
        raise RuntimeError("listener bug")

    heard = Heard()
    await store.changes.follow(broken)
    await store.changes.follow(heard)
    slot = await store.create_slot(slot_body(START + minutes(30), agent_id="ada"))
    assert (await store.get_slot(slot.id)).title == "write the report"
    assert heard.changes == [SlotChanged("ada", slot.id)]


async def test_an_unfollowed_listener_hears_nothing_more(store: EmbeddedCalendar) -> None:
    heard = Heard()
    unfollow = await store.changes.follow(heard)
    await store.create_slot(slot_body(START + minutes(30), agent_id="ada"))
    unfollow()
    unfollow()  # twice is harmless
    await store.create_slot(slot_body(START + minutes(40), agent_id="ada"))
    assert len(heard.changes) == 1


async def test_a_closed_calendar_cannot_be_followed(store: EmbeddedCalendar) -> None:
    await store.close()
    with pytest.raises(CalendarUnavailable):
        await store.changes.follow(Heard())


@dataclass(frozen=True)
class TwoConnections:
    """Two connections to one calendar file, `ours` followed by `heard`: what `theirs`
    writes is another process' write, heard only through `ours.changes.poll()`."""

    ours: EmbeddedCalendar
    theirs: EmbeddedCalendar
    heard: Heard


@pytest.fixture
async def two(clock: FakeClock, tmp_path: Path) -> AsyncIterator[TwoConnections]:
    path = tmp_path / "calendar.db"
    ours = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    theirs = await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)
    try:
        heard = Heard()
        await ours.changes.follow(heard)
        yield TwoConnections(ours, theirs, heard)
    finally:
        await theirs.close()
        await ours.close()


async def test_another_connections_backlog_is_read_in_bounded_steps_and_told_once(
    two: TwoConnections, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "SCAN_BATCH", 3)
    await two.ours.changes.poll()
    assert two.heard.batches == []  # nothing committed elsewhere yet
    made = [
        await two.theirs.create_slot(slot_body(START + minutes(n), agent_id=f"agent-{n % 3}"))
        for n in range(10)
    ]
    await two.theirs.edit_slot(made[0].id, SlotEdit(prompt="again"))
    await two.ours.changes.poll()
    assert two.heard.batches == [[SlotChanged(s.agent_id, s.id) for s in made]]
    await two.ours.changes.poll()  # no new commit elsewhere: one cheap query, nothing told
    assert len(two.heard.batches) == 1


def daily(agent_id: str = "ada", start: str = "2026-01-05T09:30") -> SeriesCreate:
    return SeriesCreate(
        agent_id=agent_id, rrule="FREQ=DAILY", start=start, title="stand-up", prompt="go"
    )


async def test_creating_editing_and_ending_a_series_tell_its_agent(
    store: EmbeddedCalendar,
) -> None:
    heard = Heard()
    await store.changes.follow(heard)
    series = await store.create_series(daily())
    await store.edit_series(series.id, SeriesEdit(title="sync-up"))
    await store.end_series(series.id)
    await store.end_series(series.id)  # already ended: nothing written, nothing told
    told = SlotChanged("ada", None, series_id=series.id)
    assert heard.batches == [[told], [told], [told]]


async def test_ending_a_series_also_tells_of_each_waiting_occurrence_it_cancels(
    store: EmbeddedCalendar, clock: FakeClock
) -> None:
    series = await store.create_series(daily(start="2026-01-05T09:00"))
    heard = Heard()
    await store.changes.follow(heard)
    await store.end_series(series.id)  # the instance due at 09:00 now is kept, then cancelled
    occurrence = f"{series.id}_20260105T090000"
    assert (await store.get_slot(occurrence)).status.value == "CANCELLED"
    assert heard.changes == [
        SlotChanged("ada", occurrence),
        SlotChanged("ada", None, series_id=series.id),
    ]


async def test_refused_series_writes_tell_nothing(store: EmbeddedCalendar) -> None:
    series = await store.create_series(daily())
    heard = Heard()
    await store.changes.follow(heard)
    with pytest.raises(BadRequest):
        await store.create_series(
            SeriesCreate(agent_id="ada", rrule="FREQ=MINUTELY", start="2026-01-05T09:30")
        )
    with pytest.raises(TransitionConflict):
        await store.edit_series(series.id, SeriesEdit(title="late", expected_version=9))
    await store.end_series(series.id)
    heard.batches.clear()
    with pytest.raises(TransitionConflict):
        await store.edit_series(series.id, SeriesEdit(title="after the end"))
    assert heard.batches == []


async def test_another_connections_series_is_heard_by_the_poll(two: TwoConnections) -> None:
    series = await two.theirs.create_series(daily(agent_id="bob"))
    await two.ours.changes.poll()
    assert two.heard.batches == [[SlotChanged("bob", None, series_id=series.id)]]
