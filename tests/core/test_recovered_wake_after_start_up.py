"""A wake a restart finds unfinished is settled by its agent's first check, after the start-up.

A review found the start-up settling it inline: with a spawn receiver that accepts and
never answers, `Moderator.start()` waited out the webhook's every try (some 45 s) before
the other agents' first sync and before any timer was armed, so nothing else was checked
or synced meanwhile. Now the start-up only adopts the ledger's unfinished entries; the
agent's timer fires at once and its check settles the claim and wakes, as it settles an
unanswered claim at run time, under that agent's lock only.
"""

from __future__ import annotations

import asyncio

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.events import WakeRecovered
from bot.core.models import Action, Slot, SlotStatus
from bot.core.state import StateStore
from bot.core.waker import WakeResult
from testkit.clock import SETTLE_CEILING_S, SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, BOB, START, Harness, actions_of, add_slot, minutes


class HeldWaker(RecordingWaker):
    """Holds ada's wakes until `release` is set (a receiver that accepts and does not answer)."""

    def __init__(self, clock: SettlingClock) -> None:
        super().__init__(clock)
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        if agent.id == ADA.id:
            self.holding.set()
            await self.release.wait()
        return await super().wake(agent, slot, prompt)


async def _claimed_then_died(harness: Harness, calendar: EmbeddedCalendar, slot: Slot) -> None:
    """The previous run claimed `slot` and died before its wake had a result."""
    state = await StateStore.open(harness.state_path, clock=harness.clock)
    try:
        key = await state.record_intent(slot.id, slot.agent_id, expected_version=slot.version)
        claimed = await calendar.transition(
            slot.id, Action.START, expected_version=slot.version, idempotency_key=key
        )
        await state.record_claim(slot.id, claimed.version)
    finally:
        await state.close()


async def test_a_recovered_wake_that_hangs_holds_up_neither_the_start_up_nor_other_agents(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    adas = await add_slot(calendar, "ada", START - minutes(5))
    await _claimed_then_died(harness, calendar, adas)
    bobs = await add_slot(calendar, "bob", START + minutes(1))
    waker = HeldWaker(clock)
    moderator = await harness.moderator(waker, (ADA, BOB), start=False)

    starting = asyncio.create_task(moderator.start())
    done, _ = await asyncio.wait({starting}, timeout=SETTLE_CEILING_S)
    assert starting in done, "the start-up waited for ada's wake"
    starting.result()
    # The start-up's first sync: ada is seen busy with her held slot, bob's day is in.
    assert moderator.status("ada").current is not None
    assert moderator.status("ada").current.id == adas.id  # type: ignore[union-attr]
    assert moderator.status("bob").last_sync_at == START
    await asyncio.wait_for(waker.holding.wait(), SETTLE_CEILING_S)  # ada's timer woke it

    # While ada's wake hangs, bob's slot is woken on time by bob's own timer.
    clock.unwatch(moderator)
    clock.watch(moderator.scheduler("bob"))
    await clock.advance(60)
    assert waker.world.times() == {bobs.id: START + minutes(1)}

    waker.release.set()
    clock.unwatch(moderator.scheduler("bob"))
    clock.watch(moderator)
    await clock.advance(0)
    assert sorted(waker.world.delivered()) == sorted([adas.id, bobs.id])
    assert waker.wakes[adas.id] == 1
    assert WakeRecovered in harness.kinds("ada")
    assert await actions_of(calendar, adas.id, "start") == 1  # our claim, replayed, not another
    entry = await moderator.state.wake_entry(adas.id)
    assert entry is not None and entry.result is not None and entry.result.ok


async def test_a_slot_we_meant_to_claim_before_a_crash_is_not_taken_for_a_misfire(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    """The intent was written (the slot was due and seen on time), the claim never sent; the
    restart comes 10 minutes later with a 1-minute misfire grace. The start-up's first sync
    sees the slot NOT_STARTED and late, but it is not first seen: the check re-sends the
    claim and wakes it (as when the start-up settled the claim before the sync)."""
    slot = await add_slot(calendar, "ada", START)
    state = await StateStore.open(harness.state_path, clock=clock)
    try:
        await state.record_intent(slot.id, "ada", expected_version=slot.version)
    finally:
        await state.close()
    await clock.advance(600)
    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker, (ADA,), misfire_grace_s=60)
    assert waker.world.delivered() == [slot.id]
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING
    entry = await moderator.state.wake_entry(slot.id)
    assert entry is not None and entry.result is not None and entry.result.ok
