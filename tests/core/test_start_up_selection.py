"""The start-up's first check chooses among every due slot (DESIGN §4), yesterday's too.

Slots owed from an earlier day reach the cache by the heartbeat's due list, not by
today's day view. A conformance review found the first check running between the
two (a change re-armed the timer before the moderator had started it), so today's
slot was woken before yesterday's of a higher priority. The timer is armed at start
now, once every agent's day and heartbeat are in.
"""

from __future__ import annotations

import pytest

from bot.calendar.store import EmbeddedCalendar
from testkit.wakers import RecordingWaker
from tests.core.conftest import START, Harness, add_slot, minutes


@pytest.mark.parametrize("older_priority", [90, 50], ids=["higher-priority", "same-priority"])
async def test_at_start_up_an_overdue_slot_from_yesterday_is_chosen_by_the_selection_rule(
    harness: Harness, calendar: EmbeddedCalendar, waker: RecordingWaker, older_priority: int
) -> None:
    # Yesterday 13:00 (the calendar is in UTC): owed since the moderator was last down.
    older = await add_slot(calendar, "ada", START - minutes(20 * 60), priority=older_priority)
    today = await add_slot(calendar, "ada", START - minutes(30), priority=50)
    await harness.moderator(waker)
    assert waker.calls[:1] == [older.id], (older.id, today.id)
