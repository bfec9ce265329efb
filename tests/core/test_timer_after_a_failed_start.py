"""From a review of the day's changes to the scheduling core: what they broke that worked before.

The precise timer is armed only by `Moderator.start` now (`AgentTimer._started`), so the
start-up's first check sees every agent's day. But a start-up may fail (the state file
unreadable for a moment): the bot and the headless runner log it and keep the sync and
check loops running "and retry" (`ModeratorBot._start_moderator`, `run_headless`). Before,
the loops' first operation armed every agent's timer (`rearm` spawned it); now nothing
ever does, and every slot waits for the next safety-net check, up to `CHECK_INTERVAL_S`
late, for as long as the process runs. (The test passes at af84032, before the change.)

The review's failing tests; each passes since its fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.moderator import Moderator
from bot.core.state import StateError, StateStore
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, START, add_slot, minutes

#: The safety-net check's period (the default `CHECK_INTERVAL_S`).
CHECK_EVERY_S = 30.0


class StateUnreadableAtStart(StateStore):
    """The real state file, whose deferrals cannot be read at the start-up (a disk error)."""

    async def all_deferrals(self) -> dict[str, set[str]]:
        raise StateError(f"state file {self.path}: cannot read the deferrals (test)")


async def test_after_a_failed_start_up_the_loops_still_wake_a_slot_on_time(
    tmp_path: Path, calendar: EmbeddedCalendar, clock: SettlingClock, waker: RecordingWaker
) -> None:
    state = await StateUnreadableAtStart.open(tmp_path / "state.db", clock=clock)
    moderator = Moderator(
        [ADA],
        calendar,
        state,
        waker,
        clock,
        check_interval_s=CHECK_EVERY_S,
        timezone=calendar.timezone,
        wake_template="{title}: {prompt}",
    )
    clock.watch(moderator)
    try:
        with pytest.raises(StateError):
            await moderator.start()
        # The runners' sync loop runs on (its turn is taken here, so that nothing else
        # looks at the slot: no safety-net check runs before the slot's time).
        due = START + minutes(10)
        slot = await add_slot(calendar, "ada", due)
        assert await moderator.sync_tick() == 0
        assert waker.calls == []
        await clock.advance((due - clock.now()).total_seconds() + 1)
        assert waker.attempts == [(slot.id, due)]
    finally:
        await moderator.stop(grace_s=5)
        clock.unwatch(moderator)
        await state.close()
