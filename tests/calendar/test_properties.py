"""Property: any sequence of actions moves a slot only along TRANSITIONS, +1 version per change."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import BadRequest, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import TRANSITIONS, Action, SlotStatus, next_status
from tests.calendar.conftest import START, TZ, slot_body

#: How a step names the version it expects: not at all, the right one, or a stale one.
VERSION_MODES = st.sampled_from(["none", "current", "stale"])
STEPS = st.lists(st.tuples(st.sampled_from(list(Action)), VERSION_MODES), max_size=25)


async def _run(steps: list[tuple[Action, str]]) -> None:
    clock = FakeClock(start=START)
    cal = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    try:
        slot = await cal.create_slot(slot_body(), agent_id="alice")
        status, version = slot.status, slot.version
        for action, mode in steps:
            clock.jump(1)
            expected = {"none": None, "current": version, "stale": version - 1}[mode]
            until = START + timedelta(hours=1) if action is Action.DEFER else None
            target = next_status(action, status)
            try:
                after = await cal.transition(
                    slot.id, action, expected_version=expected, until=until
                )
            except BadRequest as exc:
                assert action is Action.RELEASE and expected is None, exc
                assert exc.code == "expected_version_required"
            except TransitionConflict as exc:
                if mode == "stale":
                    assert exc.code == "version_mismatch"
                else:
                    assert target is None and exc.code == "invalid_transition"
                assert exc.slot is not None
                assert (exc.slot.status, exc.slot.version) == (status, version)
            else:
                assert mode != "stale"
                assert target is not None
                assert status in TRANSITIONS[action].allowed_from
                assert after.status is target
                assert after.version == version + 1
                assert after.updated_at == clock.now()
                status, version = after.status, after.version
            current = await cal.get_slot(slot.id)
            assert (current.status, current.version) == (status, version)
            assert current.status in set(SlotStatus)
    finally:
        await cal.close()


@given(STEPS)
def test_random_action_sequences_respect_the_table(steps: list[tuple[Action, str]]) -> None:
    asyncio.run(_run(steps))
