"""Random days against the invariants of DESIGN §4 (hypothesis, the suite's registered profile).

Each example is a fresh embedded calendar and moderator for two agents, driven
by a random sequence of: new slots (some already late), clock steps, syncs,
loop ticks, agent replies, and another party claiming a slot behind the
moderator's back (a busy flip it has to discover). After every step:

* no agent ever holds two ONGOING/PAUSED slots;
* no slot is woken twice (the waker is asked at most once per slot);
* an idle agent never sits next to a due slot the moderator knows: it was
  claimed at once, and (checked at the moment of each wake) the claimed slot
  was the best of the agent's due slots by priority, time and id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.cache import selection_key
from bot.core.calendar import TransitionConflict
from bot.core.models import Action, Slot, SlotStatus
from bot.core.moderator import Moderator
from bot.core.state import StateStore
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, BOB, START, add_slot

AGENTS = ("ada", "bob")
agent_ids = st.sampled_from(AGENTS)
operations = st.one_of(
    st.tuples(st.just("add"), agent_ids, st.integers(-30, 90), st.integers(0, 100)),
    st.tuples(st.just("advance"), st.integers(1, 900)),
    st.tuples(st.just("sync"), agent_ids),
    st.tuples(st.just("check")),
    st.tuples(
        st.just("reply"),
        agent_ids,
        st.sampled_from(["DONE", "ABORT", "PAUSE", "RESUME", "PROGRESS"]),
    ),
    st.tuples(st.just("external"), agent_ids),
)
REPLIES = {
    "DONE": Action.COMPLETE,
    "ABORT": Action.ABORT,
    "PAUSE": Action.PAUSE,
    "RESUME": Action.RESUME,
}


@given(st.lists(operations, min_size=1, max_size=18))
def test_random_days_keep_the_scheduling_invariants(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(_scenario(ops))


async def _scenario(ops: list[tuple[Any, ...]]) -> None:
    clock = SettlingClock(START)
    cal = await EmbeddedCalendar.open(":memory:", timezone=ZoneInfo("UTC"), clock=clock)
    state = await StateStore.open(":memory:", clock=clock)
    problems: list[str] = []
    holder: dict[str, Moderator] = {}

    async def at_wake(agent: AgentConfig, woken: Slot) -> None:
        cache = holder["m"].scheduler(agent.id).cache
        known = [await cal.get_slot(s.id) for s in cache.get_all()]
        due = [s for s in known if s.status.is_pending and s.scheduled_at <= clock.now()] + [woken]
        best = min(due, key=selection_key)
        if best.id != woken.id:
            problems.append(f"woke {woken.id} (p{woken.priority}) but {best.id} was better")

    waker = RecordingWaker(clock, on_wake=at_wake)
    moderator = Moderator(
        [ADA, BOB],
        cal,
        state,
        waker,
        clock,
        timezone=ZoneInfo("UTC"),
        check_interval_s=60,
        wake_template="{title}",
    )
    holder["m"] = moderator
    clock.watch(moderator)
    try:
        await moderator.start()
        await clock.advance(0)
        for op in ops:
            await _apply(op, moderator, cal, clock)
            await clock.advance(0)
            await _check_invariants(moderator, cal, clock, waker, problems)
        await clock.advance(6 * 3600)  # a long quiet stretch: everything owed gets done
        await _check_invariants(moderator, cal, clock, waker, problems)
    finally:
        await moderator.stop()
        await state.close()
        await cal.close()


async def _apply(
    op: tuple[Any, ...], moderator: Moderator, cal: EmbeddedCalendar, clock: SettlingClock
) -> None:
    kind = op[0]
    if kind == "add":
        _, agent, offset_min, priority = op
        await add_slot(cal, agent, clock.now() + timedelta(minutes=offset_min), priority=priority)
    elif kind == "advance":
        await clock.advance(op[1])
    elif kind == "sync":
        await moderator.sync(op[1])
    elif kind == "check":
        await moderator.check_all()
    elif kind == "reply":
        _, agent, word = op
        held = await _held(cal, agent)
        if not held:
            return
        if word == "PROGRESS":
            await moderator.record_progress(held[0].id, "still on it")
            return
        # e.g. RESUME while ONGOING is refused (the caller explains it)
        with contextlib.suppress(TransitionConflict):
            await moderator.apply_action(held[0].id, REPLIES[word], source="reply")
    elif kind == "external":
        # another moderator or a person starts the agent's earliest pending slot
        pending = [s for s in await cal.list_slots(agent_id=op[1]) if s.status.is_pending]
        if pending:
            with contextlib.suppress(TransitionConflict):  # the agent may hold one already
                await cal.transition(
                    pending[0].id, Action.START, expected_version=pending[0].version
                )


async def _held(cal: EmbeddedCalendar, agent: str) -> list[Slot]:
    return [s for s in await cal.list_slots(agent_id=agent) if s.status.is_active]


async def _check_invariants(
    moderator: Moderator,
    cal: EmbeddedCalendar,
    clock: SettlingClock,
    waker: RecordingWaker,
    problems: list[str],
) -> None:
    assert not problems, problems
    woken_twice = [sid for sid, n in Counter(waker.calls).items() if n > 1]
    assert not woken_twice, f"woken twice: {woken_twice}"
    for agent in AGENTS:
        held = await _held(cal, agent)
        assert len(held) <= 1, f"{agent} holds {[s.id for s in held]}"
        if held:
            continue
        cache = moderator.scheduler(agent).cache
        for cached in cache.get_all():
            fresh = await cal.get_slot(cached.id)
            assert not (
                fresh.status in (SlotStatus.NOT_STARTED, SlotStatus.DEFERRED)
                and fresh.scheduled_at <= clock.now()
            ), f"{agent} is idle next to due slot {fresh.id} ({fresh.status})"
