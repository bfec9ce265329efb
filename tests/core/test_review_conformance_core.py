"""A conformance review against DESIGN.md v2: the scheduling core's mismatches.

Strict xfails on the real core (fake clock, embedded calendar, real state file); each
turns into a failure (XPASS) the day its fix lands, to be unmarked then.
"""

from __future__ import annotations

import pytest

from bot.calendar.store import EmbeddedCalendar
from testkit.wakers import RecordingWaker
from tests.core.conftest import START, Harness, add_slot, minutes


@pytest.mark.xfail(
    strict=True,
    reason="DESIGN §4 says the slot woken is the due one of highest priority, then the "
    "earliest; at start-up bot/core/syncing.py:Syncer.sync reacts to today's day (and checks, "
    "claiming its due slot) before it folds in the heartbeat's due slots of earlier days, so "
    "yesterday's overdue priority-90 slot waits behind today's priority-50 one",
)
@pytest.mark.parametrize("older_priority", [90, 50], ids=["higher-priority", "same-priority"])
async def test_at_start_up_an_overdue_slot_from_yesterday_is_chosen_by_the_selection_rule(
    harness: Harness, calendar: EmbeddedCalendar, waker: RecordingWaker, older_priority: int
) -> None:
    # Yesterday 13:00 (the calendar is in UTC): owed since the moderator was last down.
    older = await add_slot(calendar, "ada", START - minutes(20 * 60), priority=older_priority)
    today = await add_slot(calendar, "ada", START - minutes(30), priority=50)
    await harness.moderator(waker)
    assert waker.calls[:1] == [older.id], (older.id, today.id)
