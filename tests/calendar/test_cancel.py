"""`cancel` (DESIGN §3): a plan withdrawn before it ran is CANCELLED and final, on every backend."""

from __future__ import annotations

import pytest

from bot.core.calendar import TransitionConflict
from bot.core.models import Action, SlotStatus
from tests.calendar.conftest import START, Backend, slot_body


@pytest.mark.parametrize("before", [None, Action.DEFER])
async def test_cancel_a_pending_slot(backend: Backend, before: Action | None) -> None:
    slot = await backend.cal.create_slot(slot_body(START), agent_id="ada")
    if before is not None:
        slot = await backend.cal.transition(slot.id, before, agent_id="ada")
    cancelled = await backend.cal.transition(
        slot.id, Action.CANCEL, agent_id="ada", expected_version=slot.version, note="not needed"
    )
    assert cancelled.status is SlotStatus.CANCELLED
    assert cancelled.version == slot.version + 1
    assert SlotStatus.CANCELLED.is_final
    with pytest.raises(TransitionConflict):
        await backend.cal.transition(slot.id, Action.START, agent_id="ada")
    day = await backend.cal.get_day("ada", START.date())
    assert day.schedule is not None
    assert [s.status for s in day.schedule.slots] == [SlotStatus.CANCELLED]  # history stays


async def test_a_running_slot_cannot_be_cancelled(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(START), agent_id="ada")
    running = await backend.cal.transition(slot.id, Action.START, agent_id="ada")
    with pytest.raises(TransitionConflict):
        await backend.cal.transition(slot.id, Action.CANCEL, agent_id="ada")
    again = await backend.cal.get_slot(slot.id)
    assert again.status is SlotStatus.ONGOING and again.version == running.version
