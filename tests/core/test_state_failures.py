"""The scheduling core's failure paths: the state file failing while running, the periodic
loops meeting an unexpected exception, and the day boundary.

From a review of the core: three failed before their fixes (a lost claim answer with a
failed read, /status calling an agent healthy while no intent could be written, an
unexpected error of the batched heartbeat stopping the start); the rest pin behaviour
nothing else covered. The state file's faults come from `FaultyState`,
the real `StateStore` raising `StateError` on the calls a test names (a disk that
refuses a write or a read), everything else passing through to the real file.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from bot.core.agents import AgentConfig
from bot.core.models import Action, SlotStatus
from bot.core.moderator import Moderator
from bot.core.state import StateError, StateStore
from testkit.calendars import CallFault, FaultyCalendar
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker

from .conftest import ADA, BOB, START, Harness, actions_of, add_slot, minutes

#: The StateStore calls a test may make fail.
FAULTABLE = (
    "record_intent",
    "record_claim",
    "record_result",
    "record_releasing",
    "drop_intent",
    "wake_entry",
    "record_sync",
    "add_deferrals",
    "mark_ended",
)


class FaultyState(StateStore):
    """The real state store; each call named in `failing` raises `StateError` first."""

    failing: set[str]
    hits: Counter[str]

    def _refuse(self, name: str) -> None:
        if name in getattr(self, "failing", set()):
            self.hits[name] += 1
            raise StateError(f"state file {self.path}: {name} failed: disk I/O error (test)")

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in FAULTABLE:
            refuse = super().__getattribute__("_refuse")

            async def faulty(*args: Any, **kwargs: Any) -> Any:
                refuse(name)
                return await attr(*args, **kwargs)

            return faulty
        return attr


async def faulty_moderator(
    harness: Harness,
    waker: RecordingWaker,
    failing: set[str],
    agents: tuple[AgentConfig, ...] = (ADA,),
    calendar: Any = None,
) -> tuple[Moderator, FaultyState]:
    """Like `Harness.moderator`, over a `FaultyState` (torn down by the harness)."""
    state = await FaultyState.open(harness.state_path, clock=harness.clock)
    state.failing = failing
    state.hits = Counter()
    moderator = Moderator(
        list(agents),
        calendar or harness.calendar,
        state,
        waker,
        harness.clock,
        check_interval_s=30.0,
        timezone=harness.calendar.timezone,
        wake_template="{title}: {prompt}",
    )
    harness.clock.watch(moderator)
    harness._open.append((moderator, state))
    await moderator.start()
    await harness.clock.advance(0)
    return moderator, state


# ==== (1) the state file failing while running ====================================


@pytest.mark.parametrize("call", ["record_claim", "record_result", "mark_ended"])
async def test_a_write_that_fails_after_the_claim_still_wakes_once(
    harness: Harness, waker: RecordingWaker, call: str
) -> None:
    """A refused write between claim and wake (or after it) is logged; the wake happens once."""
    slot = await add_slot(harness.calendar, "ada", START + minutes(5))
    moderator, state = await faulty_moderator(harness, waker, {call})
    await harness.clock.advance(10 * 60)
    assert waker.wakes[slot.id] == 1
    assert (await harness.calendar.get_slot(slot.id)).status is SlotStatus.ONGOING
    await moderator.apply_action(slot.id, Action.COMPLETE, source="test")
    await harness.clock.advance(60 * 60)
    assert state.hits[call] >= 1
    assert waker.wakes[slot.id] == 1


async def test_a_refused_intent_claims_nothing_says_so_and_wakes_once_the_file_heals(
    harness: Harness, waker: RecordingWaker
) -> None:
    """Nothing is claimed while the intent cannot be written, and /status says why (it called
    the agent healthy for as long as nothing was woken); once the file heals, the slot is
    woken once and the agent is healthy again."""
    slot = await add_slot(harness.calendar, "ada", START + minutes(5))
    moderator, state = await faulty_moderator(harness, waker, {"record_intent"})
    await harness.clock.advance(30 * 60)
    assert state.hits["record_intent"] >= 2 and waker.wakes[slot.id] == 0
    assert (await harness.calendar.get_slot(slot.id)).status is not SlotStatus.ONGOING
    refused = moderator.status("ada")
    assert not refused.healthy and "record_intent" in (refused.last_state_error or "")
    state.failing.clear()
    await harness.clock.advance(2 * 60)
    assert waker.wakes[slot.id] == 1
    entry = await state.wake_entry(slot.id)
    assert entry is not None and entry.result is not None and entry.result.ok
    assert moderator.status("ada").last_state_error is None


async def test_a_lost_claim_answer_and_a_failed_read_still_wake_the_slot(
    harness: Harness, waker: RecordingWaker
) -> None:
    slot = await add_slot(harness.calendar, "ada", START + minutes(5))
    faulty = FaultyCalendar(
        harness.calendar,
        harness.clock,
        CallFault("transition", Action.START, after=True, new_keys_only=True),
    )
    _, state = await faulty_moderator(harness, waker, set(), calendar=faulty)
    state.failing.add("wake_entry")
    await harness.clock.advance(6 * 60)  # the claim lands, its answer is lost, the read fails
    assert faulty.hits and state.hits["wake_entry"] >= 1
    state.failing.clear()
    faulty.heal()
    await harness.clock.advance(10 * 60)
    assert (await harness.calendar.get_slot(slot.id)).status is SlotStatus.ONGOING
    assert waker.wakes[slot.id] == 1  # held by our claim: it must be woken


async def test_a_refused_releasing_mark_gives_the_slot_back_and_retries_it(
    harness: Harness, clock: SettlingClock
) -> None:
    """The wake fails and `record_releasing` is refused: the slot is still given back and
    woken later, once."""
    slot = await add_slot(harness.calendar, "ada", START + minutes(5))
    waker = RecordingWaker(clock, failures=1)
    _, state = await faulty_moderator(harness, waker, {"record_releasing"})
    await harness.clock.advance(30 * 60)
    assert state.hits["record_releasing"] == 1
    assert await actions_of(harness.calendar, slot.id, "release") == 1
    assert waker.calls == [slot.id, slot.id]  # the failed wake, then the retry
    assert waker.world.delivered() == [slot.id]
    assert (await harness.calendar.get_slot(slot.id)).status is SlotStatus.ONGOING


# ==== (4) the periodic loops ========================================================


async def test_an_unexpected_error_of_the_batched_heartbeat_does_not_escape_sync_all(
    harness: Harness, waker: RecordingWaker
) -> None:
    faulty = FaultyCalendar(harness.calendar, harness.clock)
    moderator = await harness.moderator(waker, (ADA, BOB), calendar=faulty)
    faulty.fail(CallFault("heartbeat_many", error=ValueError, detail="malformed answer"))
    failed = await moderator.sync_all()
    assert failed == 0  # the days were read; only the heartbeat batch broke


async def test_one_agents_unexpected_sync_error_leaves_the_others_synced(
    harness: Harness, waker: RecordingWaker
) -> None:
    faulty = FaultyCalendar(harness.calendar, harness.clock)
    moderator = await harness.moderator(waker, (ADA, BOB), calendar=faulty)
    slot = await add_slot(harness.calendar, "bob", START + minutes(5))
    faulty.fail(CallFault("get_day", agents={"ada"}, error=ValueError, detail="boom"))
    assert await moderator.sync_all() == 1
    assert moderator.status("ada").consecutive_sync_failures == 1
    assert moderator.status("bob").consecutive_sync_failures == 0
    await harness.clock.advance(6 * 60)
    assert waker.wakes[slot.id] == 1


# ==== (2) the day boundary ========================================================


@pytest.mark.parametrize("at", ["23:59", "00:00"])
async def test_a_slot_at_the_day_boundary_is_woken_once(
    harness: Harness, waker: RecordingWaker, at: str
) -> None:
    hour, minute = (int(x) for x in at.split(":"))
    when = datetime(2026, 3, 2, hour, minute, tzinfo=START.tzinfo)
    if hour == 0:
        when = when.replace(day=3)
    slot = await add_slot(harness.calendar, "ada", when)
    await harness.moderator(waker)
    await harness.clock.set(when - minutes(1))
    await harness.clock.advance(3 * 60)
    assert waker.wakes[slot.id] == 1
    assert waker.world.times()[slot.id] == when
