"""Two moderators (two processes' worth: own state files, own wakers) against one calendar.

They share nothing but the calendar server, schedule the same agents and race
for the same slots. The calendar's `start` with `expected_version` (one 200,
one 409) and its `agent_busy` refusal are the only locks; with them every slot
is woken exactly once across both moderators and no agent ever holds two
slots (the rig checks that after every step).

With the precise timer, a fake clock releases the two moderators' timers one
after the other; without it, both moderators' check ticks run at the same
moment, so their claims are in flight together and the calendar decides.
"""

from __future__ import annotations

import random

import pytest

from tests.faults.conftest import ADA, BOB, CY, Rig


@pytest.mark.parametrize("precise_timer", [True, False], ids=["timer", "ticks-together"])
async def test_many_slots_due_at_once_and_over_time(rig: Rig, precise_timer: bool) -> None:
    for agent in (ADA, BOB, CY):
        # a burst: six slots in the same minute, three priorities
        for priority in (20, 50, 80):
            await rig.add_slots(agent, 1, 1, priority=priority)
        # then a steady trickle
        await rig.add_slots(agent, 3, 5, 9, 14, 20)
    await rig.server.start()
    agents = (ADA, BOB, CY)
    first = await rig.moderator(agents, name="m1", precise_timer=precise_timer)
    second = await rig.moderator(agents, name="m2", precise_timer=precise_timer, sync_phase_s=30)

    await rig.run_until_done()
    await rig.assert_nothing_lost()
    by_first, by_second = rig.wakers[0].wakes, rig.wakers[1].wakes
    assert sum(by_first.values()) + sum(by_second.values()) == len(rig.slots) == 33
    assert not set(by_first) & set(by_second)
    # both took part, and the calendar refused some claims: the lock was used, not luck
    assert by_first and by_second
    assert rig.server.switch.claims(409) > 0
    for moderator in (first, second):
        for agent in agents:
            snap = moderator.status(agent.id)
            assert not snap.busy and snap.pending_count == 0


@pytest.mark.parametrize("seed", [7, 2026])
async def test_random_days_with_a_late_second_moderator(rig: Rig, seed: int) -> None:
    """Random times and priorities; the second moderator joins while slots are already due."""
    rng = random.Random(seed)
    for agent in (ADA, BOB):
        for _ in range(8):
            offset = rng.choice([1, 1, 2, 4, 7, 7, 12])
            await rig.add_slots(agent, offset, priority=rng.randint(0, 100))
    await rig.server.start()
    await rig.moderator((ADA, BOB), name="m1", precise_timer=seed % 2 == 0)
    await rig.run(90)
    await rig.moderator((ADA, BOB), name="m2", sync_phase_s=20)

    await rig.run_until_done()
    await rig.assert_nothing_lost()
