"""A tick in which more agents are due than it checks at once (`CHECK_CONCURRENCY`): every
agent is still checked in that tick, each woken once, for its best slot. The vitals health and
metrics read say what the full snapshots say, idle and busy."""

from __future__ import annotations

from collections import Counter

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.moderator import CHECK_CONCURRENCY, Moderator
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import START, Harness, add_slot, minutes


async def test_every_due_agent_is_woken_once_in_one_tick_past_the_fan_out_limit(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    count = CHECK_CONCURRENCY * 2 + 7  # three rounds of workers, the last one partial
    agents = tuple(AgentConfig(id=f"agent{n:03d}") for n in range(count))
    best: dict[str, str] = {}
    for agent in agents:
        await add_slot(calendar, agent.id, START + minutes(1), priority=10)
        best[agent.id] = (await add_slot(calendar, agent.id, START + minutes(2), priority=90)).id
    moderator = await harness.moderator(waker, agents, precise_timer=False)
    assert waker.world.delivered() == []  # nothing due yet
    assert vitals_match_snapshots(moderator) == {"idle"}

    await clock.advance(3 * 60)
    await moderator.check_all()
    await clock.advance(0)

    delivered = waker.world.delivered()
    assert Counter(delivered).most_common(1)[0][1] == 1  # none twice
    assert sorted(delivered) == sorted(best.values())  # each agent's best, none missed
    assert sum(1 for s in moderator.statuses() if s.busy) == count
    assert vitals_match_snapshots(moderator) == {"busy"}


def vitals_match_snapshots(moderator: Moderator) -> set[str]:
    """The states seen, once `vitals()` is proven to agree with `statuses()` agent by agent."""
    snapshots = [(s.agent_id, s.state, s.last_sync_age_s) for s in moderator.statuses()]
    vitals = [(v.agent_id, v.state, v.last_sync_age_s) for v in moderator.vitals()]
    assert vitals == snapshots
    assert all(age is not None for _, _, age in vitals)  # every agent synced at start
    return {str(state) for _, state, _ in vitals}
