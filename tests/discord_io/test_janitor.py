"""ChannelJanitor on a FakeClock: rounds happen on time, a failing round does not stop it;
what a non-zero shard's round does (forget, never delete) and which slots' leftovers may go."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import CalendarUnavailable
from bot.core.clock import FakeClock
from bot.core.models import Action, SlotCreate
from bot.core.state import StateStore
from bot.discord_io.janitor import (
    ChannelJanitor,
    EndedLinkPruner,
    default_interval_s,
    retention_passed,
)


class RecordingCleaner:
    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.calls: list[tuple[datetime, frozenset[str]]] = []
        self.fail_on = fail_on or set()

    async def cleanup(self, now: datetime, *, final_slot_ids: Collection[str] = ()) -> int:
        self.calls.append((now, frozenset(final_slot_ids)))
        if len(self.calls) in self.fail_on:
            raise RuntimeError("discord down")
        return 1


async def test_runs_at_start_then_every_interval_with_finals_each_round(clock: FakeClock) -> None:
    cleaner = RecordingCleaner(fail_on={2})

    async def finals() -> Collection[str]:
        return {"s-old"}

    janitor = ChannelJanitor(cleaner, clock, interval_s=600, final_slot_ids=finals)
    start = clock.now()
    janitor.start()
    try:
        await clock.settle()
        assert cleaner.calls == [(start, frozenset({"s-old"}))]
        await clock.advance(600)
        assert janitor.last_error == "RuntimeError: discord down"
        await clock.advance(600)
        assert janitor.running
        assert janitor.last_error is None and janitor.last_deleted == 1
        assert [c[0] for c in cleaner.calls] == [
            start,
            start + (clock.now() - start) / 2,
            clock.now(),
        ]
        # Each round asks again: shard 0 clears other shards' channels as their retention ends.
        assert all(c[1] == frozenset({"s-old"}) for c in cleaner.calls)
    finally:
        await janitor.stop()
    assert not janitor.running


def test_default_interval_is_bounded() -> None:
    assert default_interval_s(86400) == 3600
    assert default_interval_s(0) == 60
    assert default_interval_s(1200) == 300


async def test_a_calendar_failure_leaves_the_round_to_the_known_channels(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    cleaner = RecordingCleaner()

    async def finals() -> Collection[str]:
        raise CalendarUnavailable("calendar down")

    janitor = ChannelJanitor(cleaner, clock, interval_s=600, final_slot_ids=finals)
    assert await janitor.run_once() == 1
    assert cleaner.calls == [(clock.now(), frozenset())]
    assert janitor.last_error is None
    assert any("calendar down" in r.getMessage() for r in caplog.records)


async def test_another_shard_forgets_its_ended_links_after_retention_and_deletes_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    state = await StateStore.open(tmp_path / "state.db", clock=clock)
    try:
        await state.save_channel("s-ended", "bob", 111)
        await state.save_channel("s-running", "bob", 222)
        await state.mark_ended("s-ended", clock.now())
        pruner = EndedLinkPruner(state, retention_s=3600)
        assert await pruner.cleanup(clock.now() + timedelta(seconds=3599)) == 0
        assert await pruner.cleanup(clock.now() + timedelta(seconds=3601)) == 1
        assert await state.channel_link("s-ended") is None
        assert await state.channel_link("s-running") is not None
    finally:
        await state.close()


async def test_retention_passed_names_every_agents_slots_ended_long_enough_ago(
    clock: FakeClock,
) -> None:
    calendar = await EmbeddedCalendar.open(":memory:", timezone=ZoneInfo("UTC"), clock=clock)
    try:
        ended: dict[str, str] = {}
        for agent in ("alice", "bob", "carol"):
            slot = await calendar.create_slot(
                SlotCreate(agent_id=agent, scheduled_at=clock.now(), title=agent)
            )
            await calendar.transition(slot.id, Action.START, agent_id=agent)
            await calendar.transition(slot.id, Action.COMPLETE, agent_id=agent)
            ended[agent] = slot.id
            await clock.advance(600)
        running = await calendar.create_slot(SlotCreate(agent_id="alice", scheduled_at=clock.now()))
        await calendar.transition(running.id, Action.START, agent_id="alice")
        now = clock.now()  # alice's ended 30 min ago, bob's 20, carol's 10

        assert await retention_passed(calendar, ["alice", "bob", "carol"], now, 900) == {
            ended["alice"],
            ended["bob"],
        }
        assert await retention_passed(calendar, ["bob", "carol"], now, 0) == {
            ended["bob"],
            ended["carol"],
        }
        assert await retention_passed(calendar, ["alice"], now, 86400) == set()
        # A retention longer than the look-back the history allows is capped, not refused.
        assert await retention_passed(calendar, ["alice"], now, 10**9) == set()
    finally:
        await calendar.close()
