"""The alert desk's rules with a fake clock: once each, the rate limit, the calendar outage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.alerts import HELD_KEPT, REMEMBERED_SLOTS, Alert, AlertDesk, AlertKind, AlertSummary
from bot.core.clock import FakeClock
from bot.core.events import (
    AgentWoken,
    SlotMisfired,
    StuckSlotAborted,
    Synced,
    SyncFailed,
    WakeFailed,
)

INTERVAL = 300.0


def desk(clock: FakeClock, **kw: object) -> AlertDesk:
    return AlertDesk(clock=clock, sync_interval_s=INTERVAL, agents_total=3, **kw)  # type: ignore[arg-type]


def failed(clock: FakeClock, slot: str = "s1", agent: str = "alice") -> WakeFailed:
    return WakeFailed(at=clock.now(), agent_id=agent, slot_id=slot, error="403 Missing Access")


def test_each_kind_alerts_once_per_slot() -> None:
    clock = FakeClock()
    d = desk(clock)
    now = clock.now()
    events = [
        SlotMisfired(at=now, agent_id="alice", slot_id="m1", note="missed by 2 h"),
        failed(clock),
        StuckSlotAborted(at=now, agent_id="bob", slot_id="k1", note="silent 3 h"),
    ]
    out = [n for e in events for n in d.observe(e)]
    assert [n.kind for n in out if isinstance(n, Alert)] == [
        AlertKind.MISFIRE,
        AlertKind.WAKE_FAILED,
        AlertKind.STUCK_ABORTED,
    ]
    # the retry of the same slot's wake, and the same events again: old news
    assert [n for e in [failed(clock), *events] for n in d.observe(e)] == []
    # another slot's failure is news
    assert len(d.observe(failed(clock, "s2"))) == 1


def test_events_that_are_not_trouble_say_nothing() -> None:
    clock = FakeClock()
    d = desk(clock)
    woken = AgentWoken(
        at=clock.now(), agent_id="a", slot_id="s", via="discord", reference=None, channel_id=1
    )
    assert d.observe(woken) == []
    assert d.observe(Synced(at=clock.now(), agent_id="a", slot_count=1)) == []


def test_memory_of_slots_is_bounded() -> None:
    clock = FakeClock()
    d = desk(clock, per_window=10**9)
    for i in range(REMEMBERED_SLOTS + 5):
        d.observe(failed(clock, f"s{i}"))
    assert len(d._seen) == REMEMBERED_SLOTS
    assert len(d.observe(failed(clock, "s0"))) == 1  # forgotten: said again, memory stays bounded


async def test_a_burst_gets_the_limit_then_one_summary_when_the_window_allows() -> None:
    clock = FakeClock()
    d = desk(clock)
    sent = [n for i in range(20) for n in d.observe(failed(clock, f"s{i}"))]
    assert len(sent) == 5
    assert d.held == 15
    assert d.flush() is None
    assert d.summary_due_at == clock.now() + timedelta(seconds=60)
    await clock.advance(59)
    assert d.flush() is None
    await clock.advance(1)
    summary = d.flush()
    assert isinstance(summary, AlertSummary)
    assert summary.count == 15
    assert summary.by_kind == ((AlertKind.WAKE_FAILED, 15),)
    assert [a.slot_id for a in summary.examples][:2] == ["s5", "s6"]
    assert d.held == 0 and d.flush() is None
    # the summary took a place in the window: 4 more now, the 5th held
    more = [n for i in range(20, 25) for n in d.observe(failed(clock, f"s{i}"))]
    assert len(more) == 4 and d.held == 1


async def test_spread_out_alerts_are_never_held() -> None:
    clock = FakeClock()
    d = desk(clock)
    for i in range(30):
        assert len(d.observe(failed(clock, f"s{i}"))) == 1
        await clock.advance(13)
    assert d.held == 0


def test_held_alerts_kept_whole_are_bounded_but_all_counted() -> None:
    clock = FakeClock()
    d = desk(clock, per_window=1)
    for i in range(HELD_KEPT + 50):
        d.observe(failed(clock, f"s{i}"))
    summary = d.flush(force=True)
    assert summary is not None
    assert summary.count == HELD_KEPT + 49
    assert len(summary.examples) == HELD_KEPT


@pytest.mark.parametrize(("per_window", "window_s"), [(0, 60.0), (5, 0.0), (-1, 60.0), (5, -3)])
def test_a_rate_without_room_is_refused(per_window: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="alert rate"):
        AlertDesk(clock=FakeClock(), sync_interval_s=1, per_window=per_window, window_s=window_s)


async def fail_all(d: AlertDesk, clock: FakeClock, agents: tuple[str, ...]) -> list[Alert]:
    out = []
    for agent in agents:
        for n in d.observe(SyncFailed(at=clock.now(), agent_id=agent, error="ConnectError")):
            assert isinstance(n, Alert)
            out.append(n)
    return out


async def test_calendar_outage_is_one_alert_past_three_intervals_and_one_recovery() -> None:
    clock = FakeClock()
    d = desk(clock)
    agents = ("alice", "bob", "carol")
    for agent in agents:
        d.observe(Synced(at=clock.now(), agent_id=agent, slot_count=0))
    said: list[Alert] = []
    for _ in range(3):  # at 1, 2 and 3 intervals: not *more* than three yet
        await clock.advance(INTERVAL)
        said += await fail_all(d, clock, agents)
    assert said == []
    await clock.advance(INTERVAL)
    said = await fail_all(d, clock, agents)
    assert len(said) == 1
    down = said[0]
    assert down.kind is AlertKind.CALENDAR_DOWN
    assert (down.agents_affected, down.agents_total) == (3, 3)
    assert down.at - (down.since or down.at) == timedelta(seconds=4 * INTERVAL)
    assert d.calendar_down
    await clock.advance(INTERVAL)
    assert await fail_all(d, clock, agents) == []  # still down: not said again
    await clock.advance(INTERVAL)
    back = [n for a in agents for n in d.observe(Synced(at=clock.now(), agent_id=a, slot_count=1))]
    assert [n.kind for n in back if isinstance(n, Alert)] == [AlertKind.CALENDAR_BACK]
    assert not d.calendar_down


async def test_outage_seen_from_the_start_counts_from_the_first_failure() -> None:
    clock = FakeClock()
    d = desk(clock)
    said: list[Alert] = []
    for _ in range(4):
        said += await fail_all(d, clock, ("alice",))
        await clock.advance(INTERVAL)
    assert said == []  # 0, 1, 2, 3 intervals after the first failure
    said = await fail_all(d, clock, ("alice",))
    assert [a.kind for a in said] == [AlertKind.CALENDAR_DOWN]
    assert said[0].agents_affected == 1


async def test_one_agent_back_while_others_still_fail_is_not_a_recovery() -> None:
    clock = FakeClock()
    d = desk(clock)
    for _ in range(5):
        await fail_all(d, clock, ("alice", "bob"))
        await clock.advance(INTERVAL)
    assert d.calendar_down
    assert d.observe(Synced(at=clock.now(), agent_id="alice", slot_count=0)) == []
    assert d.calendar_down
    assert len(d.observe(Synced(at=clock.now(), agent_id="bob", slot_count=0))) == 1
    assert not d.calendar_down


async def test_short_outages_say_nothing() -> None:
    clock = FakeClock()
    d = desk(clock)
    for _ in range(10):
        await fail_all(d, clock, ("alice",))
        await clock.advance(INTERVAL)
        assert d.observe(Synced(at=clock.now(), agent_id="alice", slot_count=0)) == []
        await clock.advance(INTERVAL)
    assert not d.calendar_down
