"""`ended_slots` (`/history`'s query): by `ended_at` although the calendar lists by
`scheduled_at`, newest first, across several range calls for a long window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.history import ended_slots
from bot.core.models import Action, Slot
from testkit.clock import SettlingClock
from tests.core.conftest import add_slot


async def run(
    calendar: EmbeddedCalendar, clock: SettlingClock, agent: str, at: datetime, end: Action
) -> Slot:
    """A slot due at `at` (the clock is there), woken 5 min late, ended 30 min later."""
    await clock.set(at - timedelta(minutes=1))
    slot = await add_slot(calendar, agent, at)
    await clock.set(at + timedelta(minutes=5))
    await calendar.transition(slot.id, Action.START, agent_id=agent)
    await clock.set(at + timedelta(minutes=35))
    return await calendar.transition(slot.id, end, agent_id=agent, note=f"{end.value}d")


async def test_ended_slots_by_end_time_newest_first(
    clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    start = clock.now()
    old = await run(calendar, clock, "ada", start + timedelta(hours=1), Action.COMPLETE)
    recent = await run(calendar, clock, "bob", start + timedelta(days=30), Action.ABORT)
    newest = await run(calendar, clock, "ada", start + timedelta(days=31), Action.COMPLETE)
    pending = await add_slot(calendar, "ada", start + timedelta(days=32))
    ahead = await add_slot(calendar, "bob", start + timedelta(days=50))
    await clock.advance(60)
    cancelled = await calendar.transition(ahead.id, Action.CANCEL, agent_id="bob")
    now = clock.now()
    assert newest.started_at is not None and newest.ended_at is not None
    assert newest.started_at - newest.scheduled_at == timedelta(minutes=5)

    week = await ended_slots(calendar, ["ada", "bob"], now, 7)
    assert [s.id for s in week] == [cancelled.id, newest.id, recent.id]
    assert pending.id not in [s.id for s in week]
    # 92 days back is more than one range call (at most 92 days each) and finds the oldest.
    quarter = await ended_slots(calendar, ["ada", "bob", "ada"], now, 92)
    assert [s.id for s in quarter] == [cancelled.id, newest.id, recent.id, old.id]
    assert [s.id for s in await ended_slots(calendar, ["ada"], now, 1)] == [newest.id]


@pytest.mark.parametrize("days", [0, -1, 93, 2**40])
async def test_days_out_of_range_are_refused(
    clock: SettlingClock, calendar: EmbeddedCalendar, days: int
) -> None:
    with pytest.raises(ValueError, match=r"days must be 1\.\.92"):
        await ended_slots(calendar, ["ada"], clock.now(), days)
